/**
 * The isolation mode's invocation: the `--settings` JSON that turns on Claude Code's sandbox,
 * the project's own temporary directory, the checks that the sandbox can run here, and that a
 * sandboxed `ClaudeProcess` passes both to the CLI (the fake one, which echoes its argv and env).
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import { ClaudeProcess, type CliLaunch } from "../../src/ClaudeProcess.js"
import {
  type CliSandbox,
  exposedPath,
  sandboxArgs,
  sandboxEnv,
  sandboxTmpDir,
  sandboxUnavailable,
  systemReadPaths
} from "../../src/ClaudeProcess/sandbox.js"

const FAKE_CLAUDE = fileURLToPath(new URL("../fixtures/fake-claude.mjs", import.meta.url))

const scratchDirs: Array<string> = []
const scratch = (): string => {
  const dir = NodeFs.realpathSync(NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "sandbox-test-")))
  scratchDirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

/** A directory holding executables with these names (as a `PATH` entry). */
const binDir = (...names: ReadonlyArray<string>): string => {
  const dir = scratch()
  for (const name of names) NodeFs.writeFileSync(NodePath.join(dir, name), "#!/bin/sh\n", { mode: 0o755 })
  return dir
}

/** The settings JSON a sandboxed launch passes on its command line. */
const settingsOf = (argv: ReadonlyArray<string>) => {
  const index = argv.indexOf("--settings")
  expect(index).toBeGreaterThanOrEqual(0)
  return JSON.parse(argv[index + 1]!) as { sandbox: Record<string, any> }
}

describe("sandboxArgs", () => {
  const settings = settingsOf(sandboxArgs({ readPaths: ["/opt/toolchain"] })).sandbox

  it("turns the sandbox on, fails closed and ignores the model's request to leave it", () => {
    expect(settings).toMatchObject({
      enabled: true,
      failIfUnavailable: true,
      autoAllowBashIfSandboxed: true,
      allowUnsandboxedCommands: false
    })
  })

  it("denies reading / and re-allows the system's directories and the operator's paths, not their secrets", () => {
    expect(settings.filesystem.denyRead[0]).toBe("/")
    expect(settings.filesystem.denyRead).toEqual(
      expect.arrayContaining(["/etc/shadow", "/etc/ssh", "/etc/ssl/private"])
    )
    expect(settings.filesystem.allowRead).toEqual([...systemReadPaths, "/opt/toolchain"])
    // Writes stay the CLI's defaults: the project and its temporary directory.
    expect(settings.filesystem.allowWrite).toBeUndefined()
  })

  it("allows no network and unsets the upstream credentials", () => {
    expect(settings.network).toEqual({ allowedDomains: [] })
    expect(settings.credentials.envVars).toEqual(
      expect.arrayContaining([
        { name: "ANTHROPIC_API_KEY", mode: "deny" },
        { name: "ANTHROPIC_AUTH_TOKEN", mode: "deny" },
        { name: "CLAUDE_CODE_OAUTH_TOKEN", mode: "deny" }
      ])
    )
  })
})

describe("sandboxTmpDir", () => {
  it("is the project's own, under the given root, and stable", () => {
    const one = sandboxTmpDir("/srv/projects/a", "/tmp")
    expect(NodePath.dirname(one)).toBe("/tmp")
    expect(sandboxTmpDir("/srv/projects/a/", "/tmp")).toBe(one)
    expect(sandboxTmpDir("/srv/projects/b", "/tmp")).not.toBe(one)
    expect(sandboxEnv("/srv/projects/a", "/tmp")).toEqual({ CLAUDE_CODE_TMPDIR: one })
  })
})

describe("exposedPath", () => {
  it("finds a protected path at or under a readable one, and nothing else", () => {
    expect(exposedPath(["/usr", "/home/me"], ["/home/me/projects"])).toEqual({
      readable: "/home/me",
      protected: "/home/me/projects"
    })
    expect(exposedPath(["/srv/data"], ["/srv/data"])).toEqual({ readable: "/srv/data", protected: "/srv/data" })
    expect(exposedPath(["/srv/data"], ["/srv/database.db", "/srv"])).toBeNull()
  })
})

describe("sandboxUnavailable", () => {
  it("is null on Linux with bwrap and socat on the PATH", () => {
    expect(sandboxUnavailable("linux", [scratch(), binDir("bwrap", "socat")].join(NodePath.delimiter))).toBeNull()
  })

  it("names what is missing and how to install it", () => {
    const noBwrap = sandboxUnavailable("linux", binDir("socat"))
    expect(noBwrap).toContain("bubblewrap (bwrap) is not installed")
    expect(noBwrap).toContain("apt-get install bubblewrap socat")
    expect(sandboxUnavailable("linux", binDir("bwrap"))).toContain("socat is not installed")
    expect(sandboxUnavailable("linux", "")).toContain("bubblewrap (bwrap) and socat are not installed")
  })

  it("does not count a file that is not executable", () => {
    const dir = binDir("socat")
    NodeFs.writeFileSync(NodePath.join(dir, "bwrap"), "", { mode: 0o644 })
    expect(sandboxUnavailable("linux", dir)).toContain("bubblewrap (bwrap) is not installed")
  })

  it("needs nothing on macOS and refuses Windows", () => {
    expect(sandboxUnavailable("darwin", "")).toBeNull()
    expect(sandboxUnavailable("win32", "")).toContain("not supported on win32")
  })
})

describe("a sandboxed ClaudeProcess", () => {
  const launchIn = (cwd: string): CliLaunch => ({
    cwd,
    model: null,
    systemPrompt: null,
    systemPromptMode: "append",
    permissionMode: "acceptEdits",
    resume: null
  })

  /** argv and environment the (fake) CLI was started with. */
  const echoed = (sandbox: CliSandbox | null, cwd: string) =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const events = yield* Effect.scoped(
        Effect.flatMap(
          claude.startTurn(launchIn(cwd), [{ _tag: "text", text: "FAKE_ECHO_ARGS" }]),
          ([, turn]) => Stream.runCollect(turn)
        )
      )
      const text = Chunk.toReadonlyArray(events).flatMap((event) =>
        event.type === "stream_event" && event.event.type === "content_block_delta" &&
          "delta" in event.event && event.event.delta.type === "text_delta" && "text" in event.event.delta
          ? [event.event.delta.text]
          : []
      ).join("")
      return JSON.parse(text) as { argv: ReadonlyArray<string>; env: Record<string, string | null> }
    }).pipe(
      Effect.provide(
        ClaudeProcess.layerWith({ binary: FAKE_CLAUDE, maxRetries: 0, idleTimeout: "5 seconds", sandbox }).pipe(
          Layer.provide(NodeContext.layer)
        )
      )
    )

  it.live("passes the sandbox settings and the project's own temporary directory", () =>
    Effect.gen(function*() {
      const cwd = scratch()
      const sandboxed = yield* echoed({ readPaths: ["/opt/toolchain"] }, cwd)
      expect(settingsOf(sandboxed.argv).sandbox.filesystem.allowRead).toContain("/opt/toolchain")
      expect(sandboxed.env.CLAUDE_CODE_TMPDIR).toBe(sandboxTmpDir(cwd, NodeOs.tmpdir()))

      const plain = yield* echoed(null, cwd)
      expect(plain.argv).not.toContain("--settings")
      expect(plain.env.CLAUDE_CODE_TMPDIR).toBeNull()
    }))
})
