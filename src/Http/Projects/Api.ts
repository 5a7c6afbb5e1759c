/**
 * The projects group's endpoints and resources: working directories under PROJECT_ROOT.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { ProjectDescription, ProjectName } from "../Limits.js"
import { pageFields, PageParams, PurgeParams } from "../Params.js"

const ProjectPath = Schema.Struct({ project_id: Schema.String })

export const Project = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("project"),
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  path: Schema.String,
  created_at: Schema.Number,
  updated_at: Schema.Number,
  is_active: Schema.Boolean.annotations({ description: "The project is registered (always true for a listed project)" })
}).annotations({ identifier: "Project" })
export type Project = typeof Project.Type

export const ProjectList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Project),
  ...pageFields
}).annotations({ identifier: "ProjectList" })

export const CreateProject = Schema.Struct({
  id: Schema.optional(Schema.String),
  name: Schema.optional(ProjectName),
  description: Schema.optional(Schema.NullOr(ProjectDescription)),
  path: Schema.optional(Schema.String).annotations({
    description:
      "The project's directory directly under PROJECT_ROOT, as a name or an absolute path (defaults to the id); nothing outside the root, and no nested directory, is accepted"
  })
}).annotations({ identifier: "CreateProject" })

export const ProjectDeleted = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("project"),
  deleted: Schema.Boolean,
  purged: Schema.Boolean,
  project_id: Schema.String,
  status: Schema.Literal("deleted")
}).annotations({ identifier: "ProjectDeleted" })

export class ProjectsApi extends HttpApiGroup.make("projects")
  .add(
    HttpApiEndpoint.post("createProject", "/v1/projects")
      .setPayload(CreateProject)
      .addSuccess(Project, { status: 201 })
      .annotate(OpenApi.Summary, "Create a project: a working directory under PROJECT_ROOT")
  )
  .add(
    HttpApiEndpoint.get("listProjects", "/v1/projects")
      .setUrlParams(PageParams)
      .addSuccess(ProjectList)
      .annotate(OpenApi.Summary, "List projects")
  )
  .add(
    HttpApiEndpoint.get("getProject", "/v1/projects/:project_id")
      .setPath(ProjectPath)
      .addSuccess(Project)
      .annotate(OpenApi.Summary, "One project")
  )
  .add(
    HttpApiEndpoint.del("deleteProject", "/v1/projects/:project_id")
      .setPath(ProjectPath)
      .setUrlParams(PurgeParams)
      .addSuccess(ProjectDeleted)
      .annotate(OpenApi.Summary, "Unregister a project; `purge=true` also deletes its directory")
  )
{}
