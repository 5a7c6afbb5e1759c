/**
 * Project directories: every project is a folder directly under the project root, and
 * no id may lead anywhere else (`..`, separators, absolute paths, NUL bytes, symlinks). Where
 * several gateways share one log, each directory also records the registration it belongs to
 * (`<root>/.registrations/<id>`; no project id starts with a dot).
 */
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { InvalidTurnRequest } from "../Domain/Errors.js"

const projectIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** Why a project id is unacceptable, or null when it is fine. */
export const projectIdProblem = (projectId: string): string | null => {
  if (!projectIdPattern.test(projectId) || projectId.includes("..")) {
    return "project_id must be 1-128 characters of letters, digits, '.', '_' or '-', start with a letter or digit, and contain no '..'"
  }
  return null
}

export class ProjectPaths {
  constructor(readonly root: string) {}

  /** The directory of a project, which must stay inside the root even after resolving symlinks. */
  readonly pathOf = (projectId: string): Effect.Effect<string, InvalidTurnRequest> =>
    Effect.suspend(() => {
      const problem = projectIdProblem(projectId)
      if (problem !== null) return Effect.fail(invalid(problem))
      const path = NodePath.join(this.root, projectId)
      if (NodePath.dirname(path) !== this.root) return Effect.fail(invalid("project_id leaves the project root"))
      return Effect.succeed(path)
    })

  /** Creates the project directory when missing and checks that it really lies under the root. */
  readonly ensure = (projectId: string): Effect.Effect<string, InvalidTurnRequest> =>
    Effect.flatMap(this.pathOf(projectId), (path) =>
      Effect.try({
        try: () => {
          NodeFs.mkdirSync(path, { recursive: true })
          const realRoot = NodeFs.realpathSync(this.root)
          const real = NodeFs.realpathSync(path)
          if (NodePath.dirname(real) !== realRoot) throw new Error("escapes the project root")
          return path
        },
        catch: () => invalid("project_id does not name a directory inside the project root")
      }))
}

/** Where a directory's registration is recorded. */
const registrationsFolder = ".registrations"

/**
 * Makes `path` the directory of the registration `registration` (the sequence of its
 * `ProjectCreated`): files there from a registration before `lastPurge` (the sequence of the last
 * `ProjectDeleted` that removed the files) are removed first. Another gateway sharing the log
 * purged that project and could only remove its own copy. A directory with no record is kept.
 */
export const claimDirectory = (
  paths: ProjectPaths,
  projectId: string,
  registration: { readonly sequence: number; readonly lastPurge: number }
): Effect.Effect<string, InvalidTurnRequest> =>
  Effect.flatMap(paths.pathOf(projectId), (path) => {
    const record = NodePath.join(paths.root, registrationsFolder, projectId)
    return Effect.flatMap(
      Effect.sync(() => {
        const recorded = NodeFs.existsSync(record) ? Number(NodeFs.readFileSync(record, "utf8")) : null
        if (recorded !== null && recorded < registration.lastPurge) {
          NodeFs.rmSync(path, { recursive: true, force: true })
        }
        return recorded
      }),
      (recorded) =>
        Effect.tap(paths.ensure(projectId), () =>
          recorded === registration.sequence ? Effect.void : Effect.sync(() => {
            NodeFs.mkdirSync(NodePath.dirname(record), { recursive: true })
            NodeFs.writeFileSync(record, String(registration.sequence))
          }))
    )
  })

const invalid = (message: string) =>
  new InvalidTurnRequest({ message, param: "project_id", code: "invalid_project_id" })
