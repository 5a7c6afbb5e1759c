/**
 * Projects: named working directories directly under the project root, registered in the
 * event log (one `project:<id>` stream each). A turn runs in its project's directory, and a
 * turn in a project nobody registered yet registers it.
 *
 * A project belongs to the principal that registered it (`ProjectCreated.owner`): to every
 * other caller it does not exist. Projects registered before projects had owners are shared by
 * every key, except `default` (with auth on, each key has its own `default-<key id>`). Ids are
 * one namespace: a directory whose files another caller kept (unregistered, not purged) stays
 * theirs, and no caller registers another's default project.
 */
import { Context, Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "./AppConfig.js"
import {
  InvalidTurnRequest,
  ProjectExists,
  ProjectNotFound,
  ProjectNotOwned,
  type StoreError
} from "./Domain/Errors.js"
import { defaultProjectOf, isDefaultProjectId, projectStreamId, projectStreamPrefix } from "./Domain/Session.js"
import { ProjectCreated, ProjectDeleted, type StoredEvent } from "./Domain/SessionEvent.js"
import { claimDirectory, projectIdProblem, ProjectPaths } from "./Projects/paths.js"
import { SessionStore } from "./SessionStore.js"

export interface Project {
  readonly id: string
  /** The principal it belongs to: null when auth is off, or for a project shared by every key. */
  readonly owner: string | null
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
     * Registers a project for `caller` and creates its directory. The id is `id`, else the
     * directory `path` names (a name, or an absolute path directly under the root), else
     * derived from `name`. Anything that would leave the root, or nest below a project, is
     * refused with `InvalidTurnRequest` naming the field, and so is another caller's default
     * project; an id that is taken (by anyone, or by files another caller kept) is `ProjectExists`.
     */
    readonly create: (caller: string | null, input: {
      readonly id?: string | undefined
      readonly name?: string | undefined
      readonly description?: string | undefined
      readonly path?: string | undefined
    }) => Effect.Effect<Project, InvalidTurnRequest | ProjectExists | StoreError>
    /**
     * The project a turn of `caller` runs in, registered for it if it is not yet, with its
     * directory created when missing and checked to lie inside the root (symlinks resolved)
     * every time. Another caller's project (or default project, or kept files) is `ProjectNotFound`.
     */
    readonly ensure: (
      caller: string | null,
      projectId: string
    ) => Effect.Effect<Project, InvalidTurnRequest | ProjectNotFound | StoreError>
    /** The projects `caller` may use, oldest first. */
    readonly list: (caller: string | null) => Effect.Effect<ReadonlyArray<Project>, StoreError>
    readonly get: (
      caller: string | null,
      projectId: string
    ) => Effect.Effect<Project, ProjectNotFound | InvalidTurnRequest | StoreError>
    /**
     * Unregisters a project of `caller`; its files are removed only with `removeFiles`. A
     * shared project (no owner) is `ProjectNotOwned` to a key.
     */
    readonly remove: (
      caller: string | null,
      projectId: string,
      options: { readonly removeFiles: boolean }
    ) => Effect.Effect<void, ProjectNotFound | ProjectNotOwned | InvalidTurnRequest | StoreError>
  }
}

/**
 * Whether `caller` may see and use a project: its own, or one without owner except `default`
 * (which with auth on is no key's).
 */
export const isUsableBy = (project: { readonly id: string; readonly owner: string | null }, caller: string | null) =>
  project.owner === caller || (project.owner === null && project.id !== defaultProjectOf(null))

/** A project stream's state: the registered project, and whose files its directory holds. */
interface ProjectState {
  readonly events: ReadonlyArray<StoredEvent>
  readonly project: Project | null
  /**
   * The owner of the files in its directory: the registered project's, or the last one's when
   * it was unregistered with its files kept; null when it never was registered, or was purged.
   */
  readonly filesOf: { readonly owner: string | null } | null
  /** The sequence of the registered project's `ProjectCreated`. */
  readonly registeredAt: number | null
  /** The sequence of the last `ProjectDeleted` that removed the files (0: none). */
  readonly lastPurge: number
}

/**
 * A project's state from its stream. Its directory is the one under this gateway's `root`: the
 * path a `ProjectCreated` names is the registering gateway's, and in a cluster another node keeps
 * the project's files under its own root.
 */
const stateOf = (events: ReadonlyArray<StoredEvent>, root: string): ProjectState => {
  let project: Project | null = null
  let filesOf: ProjectState["filesOf"] = null
  let registeredAt: number | null = null
  let lastPurge = 0
  for (const { event, sequence, timestamp } of events) {
    if (event._tag === "ProjectCreated") {
      registeredAt = sequence
      project = {
        id: event.projectId,
        owner: event.owner,
        name: event.name,
        description: event.description,
        path: NodePath.join(root, event.projectId),
        createdAt: timestamp,
        updatedAt: timestamp
      }
      filesOf = { owner: event.owner }
    } else if (event._tag === "ProjectDeleted") {
      project = null
      registeredAt = null
      if (event.filesRemoved) {
        filesOf = null
        lastPurge = sequence
      }
    }
  }
  return { events, project, filesOf, registeredAt, lastPurge }
}

/** Why `caller` may not register a project nobody has registered now, or null when it may. */
const registrationProblem = (projectId: string, state: ProjectState, caller: string | null) =>
  isDefaultProjectId(projectId) && projectId !== defaultProjectOf(caller)
    ? "reserved" as const
    : state.filesOf !== null && !isUsableBy({ id: projectId, owner: state.filesOf.owner }, caller)
    ? "taken" as const
    : null

const slugOf = (name: string) =>
  name.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[-._]+|[-._]+$/g, "").slice(0, 64)

export const makeProjects = Effect.gen(function*() {
  const config = yield* AppConfig
  const store = yield* SessionStore
  const paths = new ProjectPaths(config.projectRoot)
  /**
   * Whether other gateways share the log (a cluster): they register and purge projects too, so
   * nothing known here is trusted without reading the project's stream, and each directory
   * records the registration it belongs to (`claimDirectory`).
   */
  const shared = config.cluster !== null
  /**
   * Registered projects as last read or written here, so a chat turn in a known project
   * costs no read of its stream. On its own, this service is the only writer of project streams.
   */
  const registered = new Map<string, Project>()

  const load = (projectId: string) =>
    Effect.map(store.read(projectStreamId(projectId)), (events) => {
      const state = stateOf(events, paths.root)
      if (state.project !== null) registered.set(projectId, state.project)
      else registered.delete(projectId)
      return state
    })

  /** The project and its events, when it is registered and `caller` may use it. */
  const usable = (caller: string | null, projectId: string) =>
    Effect.flatMap(load(projectId), ({ events, project }) =>
      project !== null && isUsableBy(project, caller)
        ? Effect.succeed({ project, events })
        : Effect.fail(new ProjectNotFound({ projectId })))

  const register = (owner: string | null, projectId: string, name: string, description: string | null) =>
    Effect.gen(function*() {
      const path = yield* paths.ensure(projectId)
      const { events, lastPurge } = yield* load(projectId)
      const stored = yield* store.append(projectStreamId(projectId), events[events.length - 1]?.sequence ?? 0, [
        new ProjectCreated({ projectId, name, description, path, owner })
      ]).pipe(Effect.catchTag("SequenceConflict", () => Effect.fail(new ProjectExists({ projectId }))))
      if (shared) yield* claimDirectory(paths, projectId, { sequence: stored[0]!.sequence, lastPurge })
      const timestamp = stored[0]!.timestamp
      const project: Project = {
        id: projectId,
        owner,
        name,
        description,
        path,
        createdAt: timestamp,
        updatedAt: timestamp
      }
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

  /**
   * Whether another project's id differs from this one only in case: on a file system that
   * ignores case (macOS's and Windows' defaults) both would be one directory.
   */
  const hasCaseTwin = (projectId: string) =>
    Effect.map(store.streamIds(projectStreamPrefix), (ids) =>
      ids.some((id) => {
        const other = id.slice(projectStreamPrefix.length)
        return other !== projectId && other.toLowerCase() === projectId.toLowerCase()
      }))

  const create = Effect.fn("Projects.create")(
    function*(caller: string | null, input: Parameters<Projects.Service["create"]>[1]) {
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
        return yield* new InvalidTurnRequest(
          input.name === undefined
            ? { message: "A project needs an id or a name", param: "id", code: "missing_required_parameter" }
            : { message: "The name gives no usable project id: give an id", param: "name", code: "invalid_value" }
        )
      }
      yield* paths.pathOf(projectId)
      const state = yield* load(projectId)
      if (state.project !== null) return yield* new ProjectExists({ projectId })
      const problem = registrationProblem(projectId, state, caller)
      if (problem === "reserved") {
        return yield* new InvalidTurnRequest({
          message: `The project id ${projectId} is reserved for a default project`,
          param: input.id !== undefined ? "id" : input.path !== undefined ? "path" : "name",
          code: "invalid_project_id"
        })
      }
      if (problem === "taken" || (yield* hasCaseTwin(projectId))) return yield* new ProjectExists({ projectId })
      return yield* register(caller, projectId, input.name ?? projectId, input.description ?? null)
    }
  )

  const ensure = Effect.fn("Projects.ensure")(function*(caller: string | null, projectId: string) {
    yield* paths.pathOf(projectId)
    const known = shared ? undefined : registered.get(projectId)
    if (known !== undefined && isUsableBy(known, caller)) {
      yield* paths.ensure(projectId)
      return known
    }
    const state = yield* load(projectId)
    if (
      state.project === null && registrationProblem(projectId, state, caller) === null &&
      !(yield* hasCaseTwin(projectId))
    ) {
      return yield* register(caller, projectId, projectId, null).pipe(
        // Registered meanwhile, by this caller or another.
        Effect.catchTag("ProjectExists", () => Effect.map(usable(caller, projectId), ({ project }) => project))
      )
    }
    if (state.project === null || !isUsableBy(state.project, caller)) return yield* new ProjectNotFound({ projectId })
    yield* shared && state.registeredAt !== null
      ? claimDirectory(paths, projectId, { sequence: state.registeredAt, lastPurge: state.lastPurge })
      : paths.ensure(projectId)
    return state.project
  })

  const get = Effect.fn("Projects.get")(function*(caller: string | null, projectId: string) {
    yield* paths.pathOf(projectId)
    return (yield* usable(caller, projectId)).project
  })

  const list = (caller: string | null) =>
    Effect.gen(function*() {
      const ids = yield* store.streamIds(projectStreamPrefix)
      const projects: Array<Project> = []
      for (const id of ids) {
        const { project } = yield* load(id.slice(projectStreamPrefix.length))
        if (project !== null && isUsableBy(project, caller)) projects.push(project)
      }
      return projects.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
    })

  const remove = Effect.fn("Projects.remove")(
    function*(caller: string | null, projectId: string, options: { readonly removeFiles: boolean }) {
      yield* paths.pathOf(projectId)
      const { events, project } = yield* usable(caller, projectId)
      if (project.owner !== caller) return yield* new ProjectNotOwned({ projectId })
      if (options.removeFiles) {
        // Resolved through ProjectPaths again: never anything outside the root.
        const path = yield* paths.pathOf(projectId)
        yield* Effect.sync(() => NodeFs.rmSync(path, { recursive: true, force: true }))
      }
      yield* store.append(projectStreamId(projectId), events[events.length - 1]!.sequence, [
        new ProjectDeleted({ projectId, filesRemoved: options.removeFiles })
      ]).pipe(Effect.catchTag("SequenceConflict", () => Effect.fail(new ProjectNotFound({ projectId }))))
      registered.delete(projectId)
    }
  )

  return { create, ensure, list, get, remove } satisfies Projects.Service
})

export class Projects extends Context.Tag("claude-code-api/Projects")<Projects, Projects.Service>() {
  static readonly layer = Layer.effect(Projects, makeProjects)
}
