/**
 * `CLAUDE_SANDBOX` at startup: read with its extra paths, and refused, naming the variable at
 * fault, when the sandbox cannot run here (no bubblewrap on the `PATH`), when the permission
 * mode lets the file tools leave the project, or when a readable path holds what it must hide.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll } from "vitest"
import { AppConfig } from "../src/AppConfig.js"
import { withProcessEnv } from "./support/env.js"

const scratchDirs: Array<string> = []
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

/** A `PATH` with stand-ins for the sandbox's tools (`names`) and nothing else. */
const pathWith = (...names: ReadonlyArray<string>): string => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "sandbox-path-"))
  scratchDirs.push(dir)
  for (const name of names) NodeFs.writeFileSync(NodePath.join(dir, name), "#!/bin/sh\n", { mode: 0o755 })
  return dir
}

/** Loads the configuration from `env`, the gateway's `PATH` being `path`. */
const load = (env: Record<string, string>, path = pathWith("bwrap", "socat")) =>
  Effect.gen(function*() {
    yield* withProcessEnv({ PATH: path, IS_SANDBOX: "1" })
    return yield* Effect.provide(
      AppConfig,
      AppConfig.layer.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))
    )
  })

const loadError = (env: Record<string, string>, path?: string) =>
  Effect.map(Effect.flip(load(env, path)), (error) => error.message)

describe("CLAUDE_SANDBOX", () => {
  it.scoped("is off by default, with no extra readable paths", () =>
    Effect.gen(function*() {
      const config = yield* load({})
      expect(config.sandbox).toBe(false)
      expect(config.sandboxReadPaths).toEqual([])
    }))

  it.scoped("CLAUDE_SANDBOX=true with bubblewrap and socat on the PATH, and CLAUDE_SANDBOX_READ_PATHS", () =>
    Effect.gen(function*() {
      const config = yield* load({ CLAUDE_SANDBOX: "true", CLAUDE_SANDBOX_READ_PATHS: "/opt/a, /opt/b" })
      expect(config.sandbox).toBe(true)
      expect(config.sandboxReadPaths).toEqual(["/opt/a", "/opt/b"])
    }))

  it.scoped("without bubblewrap fails naming CLAUDE_SANDBOX and the package to install", () =>
    Effect.gen(function*() {
      const message = yield* loadError({ CLAUDE_SANDBOX: "true" }, pathWith("socat"))
      expect(message).toContain("CLAUDE_SANDBOX")
      expect(message).toContain("bubblewrap (bwrap) is not installed")
      expect(message).toContain("apt-get install bubblewrap socat")
      // Off, nothing is checked.
      expect((yield* load({}, pathWith())).sandbox).toBe(false)
    }))

  it.scoped("with bypassPermissions or auto fails naming CLAUDE_PERMISSION_MODE", () =>
    Effect.gen(function*() {
      for (const mode of ["bypassPermissions", "auto"]) {
        const message = yield* loadError({ CLAUDE_SANDBOX: "true", CLAUDE_PERMISSION_MODE: mode })
        expect(message).toContain("CLAUDE_PERMISSION_MODE")
        expect(message).toContain("confines Bash only")
      }
      for (const mode of ["acceptEdits", "default", "dontAsk", "plan"]) {
        expect((yield* load({ CLAUDE_SANDBOX: "true", CLAUDE_PERMISSION_MODE: mode })).sandbox).toBe(true)
      }
    }))

  it.scoped("a relative CLAUDE_SANDBOX_READ_PATHS entry fails naming it", () =>
    Effect.gen(function*() {
      const message = yield* loadError({ CLAUDE_SANDBOX: "true", CLAUDE_SANDBOX_READ_PATHS: "tools" })
      expect(message).toContain("CLAUDE_SANDBOX_READ_PATHS")
      expect(message).toContain("absolute")
    }))

  it.scoped("a readable path that holds the projects, the database or the CLI's transcripts is refused", () =>
    Effect.gen(function*() {
      const projects = yield* loadError({
        CLAUDE_SANDBOX: "true",
        PROJECT_ROOT: "/srv/gateway/projects",
        DATABASE_URL: "/var/lib/gateway/db.sqlite",
        CLAUDE_SANDBOX_READ_PATHS: "/opt/tools,/srv/gateway"
      })
      expect(projects).toContain("CLAUDE_SANDBOX_READ_PATHS")
      expect(projects).toContain("every project (/srv/gateway/projects)")

      const database = yield* loadError({
        CLAUDE_SANDBOX: "true",
        PROJECT_ROOT: "/srv/gateway/projects",
        DATABASE_URL: "/usr/local/gateway/db.sqlite"
      })
      expect(database).toContain("DATABASE_URL")
      expect(database).toContain("/usr")

      yield* withProcessEnv({ CLAUDE_CONFIG_DIR: "/opt/claude-config" })
      const transcripts = yield* loadError({
        CLAUDE_SANDBOX: "true",
        PROJECT_ROOT: "/srv/gateway/projects",
        DATABASE_URL: "/var/lib/gateway/db.sqlite",
        CLAUDE_SANDBOX_READ_PATHS: "/opt"
      })
      expect(transcripts).toContain("CLAUDE_SANDBOX_READ_PATHS")
      expect(transcripts).toContain("the CLI's config directory")
    }))
})
