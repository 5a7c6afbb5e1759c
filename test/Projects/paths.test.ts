/**
 * Project ids and directories: every project is a folder directly under the root.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { InvalidTurnRequest } from "../../src/Domain/Errors.js"
import { projectIdProblem, ProjectPaths } from "../../src/Projects/paths.js"

const scratchDirs: Array<string> = []
const scratch = (prefix: string): string => {
  const dir = NodeFs.realpathSync(NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), prefix)))
  scratchDirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const validIds = ["p", "my-project", "proj_1", "Project.v2", "0", "a-b_c.d", "x".repeat(128)]
const invalidIds = [
  "..",
  ".",
  "a/b",
  "/etc",
  "a\\b",
  "a\u0000b",
  ".hidden",
  "",
  "x".repeat(129),
  "x".repeat(200),
  "a..b",
  "-leading-dash",
  "_leading",
  "with space",
  "new\nline",
  "naïve"
]

describe("projectIdProblem", () => {
  it("accepts plain ids", () => {
    for (const id of validIds) expect(projectIdProblem(id), id).toBeNull()
  })

  it("rejects ids that could leave the root or are malformed", () => {
    for (const id of invalidIds) expect(projectIdProblem(id), JSON.stringify(id)).toBeTypeOf("string")
  })
})

describe("ProjectPaths.pathOf", () => {
  const root = "/srv/projects"
  const paths = new ProjectPaths(root)

  it.effect("puts a valid id directly under the root", () =>
    Effect.gen(function*() {
      for (const id of validIds) {
        const path = yield* paths.pathOf(id)
        expect(NodePath.dirname(path)).toBe(root)
        expect(NodePath.basename(path)).toBe(id)
      }
    }))

  it.effect("fails with InvalidTurnRequest on project_id for every invalid id", () =>
    Effect.gen(function*() {
      for (const id of invalidIds) {
        const error = yield* Effect.flip(paths.pathOf(id))
        expect(error, JSON.stringify(id)).toBeInstanceOf(InvalidTurnRequest)
        expect(error.param).toBe("project_id")
        expect(error.code).toBe("invalid_project_id")
      }
    }))
})

describe("ProjectPaths.ensure", () => {
  it.effect("creates the directory of a new project inside the root", () =>
    Effect.gen(function*() {
      const root = scratch("projects-")
      const path = yield* new ProjectPaths(root).ensure("fresh")
      expect(path).toBe(NodePath.join(root, "fresh"))
      expect(NodeFs.statSync(path).isDirectory()).toBe(true)
      // Idempotent.
      expect(yield* new ProjectPaths(root).ensure("fresh")).toBe(path)
    }))

  it.effect("fails for a symlink inside the root pointing outside it", () =>
    Effect.gen(function*() {
      const root = scratch("projects-")
      const outside = scratch("outside-")
      NodeFs.symlinkSync(outside, NodePath.join(root, "escape"), "dir")
      const exit = yield* Effect.exit(new ProjectPaths(root).ensure("escape"))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(new ProjectPaths(root).ensure("escape"))
      expect(error).toBeInstanceOf(InvalidTurnRequest)
      expect(error.param).toBe("project_id")
      expect(NodeFs.readdirSync(outside)).toEqual([])
    }))

  it.effect("fails for a dangling symlink pointing outside the root, without creating the target", () =>
    Effect.gen(function*() {
      const root = scratch("projects-")
      const outside = scratch("outside-")
      const target = NodePath.join(outside, "not-yet")
      NodeFs.symlinkSync(target, NodePath.join(root, "dangling"), "dir")
      const error = yield* Effect.flip(new ProjectPaths(root).ensure("dangling"))
      expect(error).toBeInstanceOf(InvalidTurnRequest)
      expect(NodeFs.existsSync(target)).toBe(false)
    }))

  it.effect("fails when the id names a regular file", () =>
    Effect.gen(function*() {
      const root = scratch("projects-")
      NodeFs.writeFileSync(NodePath.join(root, "file"), "x")
      const error = yield* Effect.flip(new ProjectPaths(root).ensure("file"))
      expect(error).toBeInstanceOf(InvalidTurnRequest)
    }))

  it.effect("fails without touching the filesystem for an invalid id", () =>
    Effect.gen(function*() {
      const root = scratch("projects-")
      for (const id of ["..", "a/b", "/etc", ".hidden"]) {
        const error = yield* Effect.flip(new ProjectPaths(root).ensure(id))
        expect(error).toBeInstanceOf(InvalidTurnRequest)
      }
      expect(NodeFs.readdirSync(root)).toEqual([])
    }))
})
