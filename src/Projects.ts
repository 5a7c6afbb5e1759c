/**
 * Projects: named working directories directly under the project root, registered in the
 * event log (one `project:<id>` stream each). A turn runs in its project's directory, and a
 * turn in a project nobody registered yet registers it.
 */
import { Context, Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "./AppConfig.js"
import { InvalidTurnRequest, ProjectExists, ProjectNotFound, type StoreError } from "./Domain/Errors.js"
import { projectStreamId, projectStreamPrefix } from "./Domain/Session.js"
import { ProjectCreated, ProjectDeleted, type StoredEvent } from "./Domain/SessionEvent.js"
import { projectIdProblem, ProjectPaths } from "./Projects/paths.js"
import { SessionStore } from "./SessionStore.js"

export interface Project {
  readonly id: string
  readonly name: string
  readonly description: string | null
  readonly path: string
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  readonly updatedAt: number
}

export declare namespace Projects {
  export interface Service {
    /**
     * Registers a project and creates its directory. The id is `id`, else the directory
     * `path` names (a name, or an absolute path directly under the root), else derived from
     * `name`. Anything that would leave the root, or nest below a project, is refused with
     * `InvalidTurnRequest` naming the field.
     */
    readonly create: (input: {
      readonly id?: string | undefined
      readonly name?: string | undefined
      readonly description?: string | undefined
      readonly path?: string | undefined
    }) => Effect.Effect<Project, InvalidTurnRequest | ProjectExists | StoreError>
    /**
     * The project a turn runs in, registered if it is not yet, with its directory created
     * when missing and checked to lie inside the root (symlinks resolved) every time.
     */
    readonly ensure: (projectId: string) => Effect.Effect<Project, InvalidTurnRequest | StoreError>
    /** Registered projects, oldest first. */
    readonly list: Effect.Effect<ReadonlyArray<Project>, StoreError>
    readonly get: (projectId: string) => Effect.Effect<Project, ProjectNotFound | InvalidTurnRequest | StoreError>
    /** Unregisters a project; its files are removed only with `removeFiles`. */
    readonly remove: (
      projectId: string,
      options: { readonly removeFiles: boolean }
    ) => Effect.Effect<void, ProjectNotFound | InvalidTurnRequest | StoreError>
  }
}

/** The project a stream's events describe, if it is registered. */
const projectOf = (events: ReadonlyArray<StoredEvent>): Project | null => {
  let project: Project | null = null
  for (const { event, timestamp } of events) {
    if (event._tag === "ProjectCreated") {
      project = {
        id: event.projectId,
        name: event.name,
        description: event.description,
        path: event.path,
        createdAt: timestamp,
        updatedAt: timestamp
      }
    } else if (event._tag === "ProjectDeleted") {
      project = null
    }
  }
  return project
}

const slugOf = (name: string) =>
  name.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[-._]+|[-._]+$/g, "").slice(0, 64)

export const makeProjects = Effect.gen(function*() {
  const config = yield* AppConfig
  const store = yield* SessionStore
  const paths = new ProjectPaths(config.projectRoot)
  /**
   * Registered projects as last read or written here, so a chat turn in a known project
   * costs no read of its stream. This service is the only writer of project streams.
   */
  const registered = new Map<string, Project>()

  const load = (projectId: string) =>
    Effect.map(store.read(projectStreamId(projectId)), (events) => {
      const project = projectOf(events)
      if (project !== null) registered.set(projectId, project)
      else registered.delete(projectId)
      return { events, project }
    })

  const register = (projectId: string, name: string, description: string | null) =>
    Effect.gen(function*() {
      const path = yield* paths.ensure(projectId)
      const { events } = yield* load(projectId)
      const stored = yield* store.append(projectStreamId(projectId), events[events.length - 1]?.sequence ?? 0, [
        new ProjectCreated({ projectId, name, description, path })
      ]).pipe(Effect.catchTag("SequenceConflict", () => Effect.fail(new ProjectExists({ projectId }))))
      const timestamp = stored[0]!.timestamp
      const project: Project = { id: projectId, name, description, path, createdAt: timestamp, updatedAt: timestamp }
      registered.set(projectId, project)
      return project
    })

  /** The project id a `path` names: a directory directly under the root, by name or absolute path. */
  const idOfPath = (path: string) => {
    const named = NodePath.isAbsolute(path) && NodePath.dirname(NodePath.resolve(path)) === paths.root
      ? NodePath.basename(path)
      : path
    const problem = projectIdProblem(named)
    return problem === null ? Effect.succeed(named) : Effect.fail(
      new InvalidTurnRequest({
        message: `path must name a directory directly under the project root (${
          problem.replace(/^project_id/, "its name")
        })`,
        param: "path",
        code: "invalid_project_id"
      })
    )
  }

  const create = Effect.fn("Projects.create")(function*(input: Parameters<Projects.Service["create"]>[0]) {
    const fromPath = input.path === undefined ? undefined : yield* idOfPath(input.path)
    if (fromPath !== undefined && input.id !== undefined && fromPath !== input.id) {
      return yield* new InvalidTurnRequest({
        message: "path must name the project's own directory (its id)",
        param: "path",
        code: "invalid_value"
      })
    }
    const projectId = input.id ?? fromPath ?? (input.name !== undefined ? slugOf(input.name) : "")
    if (projectId === "") {
      return yield* new InvalidTurnRequest({ message: "A project needs an id or a name", param: "id", code: null })
    }
    yield* paths.pathOf(projectId)
    if ((yield* load(projectId)).project !== null) return yield* new ProjectExists({ projectId })
    return yield* register(projectId, input.name ?? projectId, input.description ?? null)
  })

  const ensure = Effect.fn("Projects.ensure")(function*(projectId: string) {
    yield* paths.ensure(projectId)
    const known = registered.get(projectId)
    if (known !== undefined) return known
    const { project } = yield* load(projectId)
    if (project !== null) return project
    return yield* register(projectId, projectId, null).pipe(
      Effect.catchTag("ProjectExists", () => Effect.flatMap(load(projectId), ({ project }) => Effect.succeed(project!)))
    )
  })

  const get = Effect.fn("Projects.get")(function*(projectId: string) {
    yield* paths.pathOf(projectId)
    const { project } = yield* load(projectId)
    if (project === null) return yield* new ProjectNotFound({ projectId })
    return project
  })

  const list = Effect.gen(function*() {
    const ids = yield* store.streamIds(projectStreamPrefix)
    const projects: Array<Project> = []
    for (const id of ids) {
      const { project } = yield* load(id.slice(projectStreamPrefix.length))
      if (project !== null) projects.push(project)
    }
    return projects.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
  })

  const remove = Effect.fn("Projects.remove")(function*(projectId: string, options: { readonly removeFiles: boolean }) {
    yield* paths.pathOf(projectId)
    const { events, project } = yield* load(projectId)
    if (project === null) return yield* new ProjectNotFound({ projectId })
    if (options.removeFiles) {
      // Resolved through ProjectPaths again: never anything outside the root.
      const path = yield* paths.pathOf(projectId)
      yield* Effect.sync(() => NodeFs.rmSync(path, { recursive: true, force: true }))
    }
    yield* store.append(projectStreamId(projectId), events[events.length - 1]!.sequence, [
      new ProjectDeleted({ projectId, filesRemoved: options.removeFiles })
    ]).pipe(Effect.catchTag("SequenceConflict", () => Effect.fail(new ProjectNotFound({ projectId }))))
    registered.delete(projectId)
  })

  return { create, ensure, list, get, remove } satisfies Projects.Service
})

export class Projects extends Context.Tag("claude-code-api/Projects")<Projects, Projects.Service>() {
  static readonly layer = Layer.effect(Projects, makeProjects)
}
