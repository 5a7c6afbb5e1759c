/**
 * The projects group's handlers over the `Projects` service.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { currentOwner } from "../../Auth.js"
import { type Project as ProjectRecord, Projects } from "../../Projects.js"
import { GatewayApi } from "../Api.js"
import { failFromDomain } from "../Edge/Errors.js"
import { pageOf, windowOf } from "../Params.js"
import type { Project } from "./Api.js"

const seconds = (millis: number) => Math.floor(millis / 1000)

const projectOf = (project: ProjectRecord): Project => ({
  id: project.id,
  object: "project",
  name: project.name,
  description: project.description,
  path: project.path,
  created_at: seconds(project.createdAt),
  updated_at: seconds(project.updatedAt),
  is_active: true
})

export const ProjectsHandlers = HttpApiBuilder.group(GatewayApi, "projects", (handlers) =>
  Effect.gen(function*() {
    const projects = yield* Projects
    return handlers
      .handle("createProject", ({ payload }) =>
        Effect.flatMap(currentOwner, (caller) =>
          projects.create(caller, {
            id: payload.id,
            name: payload.name,
            description: payload.description ?? undefined,
            path: payload.path
          })).pipe(Effect.map(projectOf), Effect.catchAll(failFromDomain)))
      .handle("listProjects", ({ urlParams }) =>
        Effect.flatMap(currentOwner, projects.list).pipe(
          Effect.map((all) => {
            const window = windowOf(urlParams)
            const data = all.slice(window.offset, window.offset + window.limit).map(projectOf)
            return { object: "list" as const, data, ...pageOf(window, data.length, all.length) }
          }),
          Effect.catchAll(failFromDomain)
        ))
      .handle("getProject", ({ path }) =>
        Effect.flatMap(currentOwner, (caller) =>
          projects.get(caller, path.project_id)).pipe(
            Effect.map(projectOf),
            Effect.catchAll(failFromDomain)
          ))
      .handle("deleteProject", ({ path, urlParams }) =>
        Effect.flatMap(currentOwner, (caller) =>
          projects.remove(caller, path.project_id, { removeFiles: urlParams.purge })).pipe(
            Effect.as({
              id: path.project_id,
              object: "project" as const,
              deleted: true,
              purged: urlParams.purge,
              project_id: path.project_id,
              status: "deleted" as const
            }),
            Effect.catchAll(failFromDomain)
          ))
  }))
