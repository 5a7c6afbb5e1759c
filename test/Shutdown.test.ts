/**
 * The real server process (`tsx src/main.ts`, configured from the environment): SIGTERM
 * during a streaming turn cancels it with reason "shutdown", kills its CLI and exits 0
 * promptly; bad configuration fails startup quickly with a message naming the culprit.
 */
import * as NodeChildProcess from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { describe, expect, it } from "vitest"
import { waitForHealthy } from "./support/health.js"
import { freePort } from "./support/ports.js"

interface SqliteDatabase {
  prepare(sql: string): { all(...params: Array<unknown>): Array<unknown> }
  close(): void
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new(
  path: string,
  options: { readonly readonly: boolean; readonly fileMustExist: boolean }
) => SqliteDatabase

const root = NodePath.resolve(import.meta.dirname, "..")
const tsx = NodePath.join(root, "node_modules", ".bin", "tsx")
const fakeCli = NodePath.join(root, "test", "fixtures", "fake-claude.mjs")

/** Variables the gateway reads: none may leak in from the developer's environment. */
const configVariables = [
  "HOST",
  "PORT",
  "CLAUDE_BINARY_PATH",
  "PROJECT_ROOT",
  "DATABASE_URL",
  "REQUIRE_AUTH",
  "API_KEYS",
  "CLAUDE_CODE_API_MODELS_PATH",
  "CLAUDE_PERMISSION_MODE",
  "SYSTEM_PROMPT_MODE",
  "CLAUDE_MAX_RETRIES",
  "CLI_IDLE_TIMEOUT_SECONDS",
  "TURN_TIMEOUT_SECONDS",
  "MAX_CONCURRENT_TURNS",
  "QUEUE_TIMEOUT_SECONDS",
  "RATE_LIMIT_PER_MINUTE",
  "RATE_LIMIT_BURST",
  "CORS_ORIGINS",
  "SSE_KEEPALIVE_SECONDS",
  "ALLOW_INSECURE_BIND",
  "SESSION_IDLE_SECONDS",
  "MAX_WARM_PROCESSES",
  "CANCEL_ON_DISCONNECT",
  "LOG_LEVEL",
  "LOG_FORMAT",
  // A user's machine is no sandbox.
  "IS_SANDBOX"
]

interface ServerProcess {
  readonly child: NodeChildProcess.ChildProcess
  readonly directory: string
  readonly stderr: () => string
  readonly stdout: () => string
  /** Resolves with the exit code (or the signal's name) once the process is gone and its output read. */
  readonly exited: Promise<number | string>
}

/** Kills what is left of a server (its whole process group) and removes its directory. */
const cleanUp = async (server: ServerProcess) => {
  if (server.child.exitCode === null && server.child.signalCode === null && server.child.pid !== undefined) {
    try {
      process.kill(-server.child.pid, "SIGKILL")
    } catch {
      // already gone
    }
    await server.exited
  }
  // CLI children run in their own process groups: reach them through their working directory.
  for (const pid of fakeCliProcessesUnder(server.directory)) {
    try {
      process.kill(Number(pid), "SIGKILL")
    } catch {
      // already gone
    }
  }
  NodeFs.rmSync(server.directory, { recursive: true, force: true })
}

/** Starts `tsx src/main.ts`; `onFinished` registers its clean-up with the test that started it. */
const spawnServer = (
  env: Record<string, string>,
  onFinished: (cleanUp: () => Promise<void>) => void,
  options?: {
    /** Configure through a `.env` file in the server's working directory instead of the environment. */
    readonly dotEnv?: (directory: string) => string
  }
): ServerProcess => {
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-shutdown-"))
  const childEnv: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !configVariables.includes(key)) childEnv[key] = value
  }
  if (options?.dotEnv !== undefined) {
    NodeFs.writeFileSync(NodePath.join(directory, ".env"), options.dotEnv(directory))
  } else {
    Object.assign(childEnv, {
      HOST: "127.0.0.1",
      DATABASE_URL: NodePath.join(directory, "db.sqlite"),
      PROJECT_ROOT: NodePath.join(directory, "projects"),
      CLAUDE_BINARY_PATH: fakeCli
    })
  }
  Object.assign(childEnv, { FAKE_CLAUDE_DELAY_MS: "200", ...env })
  const child = NodeChildProcess.spawn(tsx, [NodePath.join(root, "src", "main.ts")], {
    cwd: options?.dotEnv !== undefined ? directory : root,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so that cleanup can reach tsx's node child too.
    detached: true
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (data: Buffer) => (stdout += data.toString()))
  child.stderr!.on("data", (data: Buffer) => (stderr += data.toString()))
  // "close", not "exit": by then stdout and stderr have been read to the end.
  const exited = new Promise<number | string>((resolve) =>
    child.once("close", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  const server: ServerProcess = { child, directory, stderr: () => stderr, stdout: () => stdout, exited }
  onFinished(() => cleanUp(server))
  return server
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const waitForHealth = (url: string, server: ServerProcess) =>
  waitForHealthy(url, { output: server.stderr, exited: () => server.child.exitCode !== null })

/** Pids of fake CLI processes whose working directory is inside `directory`. */
const fakeCliProcessesUnder = (directory: string): Array<string> => {
  const listed = NodeChildProcess.spawnSync("pgrep", ["-f", "fake-claude.mjs"], { encoding: "utf8" })
  return listed.stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((pid) => pid.length > 0)
    .filter((pid) => {
      try {
        return NodeFs.readlinkSync(`/proc/${pid}/cwd`).startsWith(directory + NodePath.sep)
      } catch {
        return false // exited meanwhile
      }
    })
}

const withTimeout = <A>(promise: Promise<A>, ms: number): Promise<A | "timeout"> =>
  Promise.race([promise, sleep(ms).then(() => "timeout" as const)])

describe("graceful shutdown", () => {
  it("SIGTERM during a streaming turn records TurnCancelled(shutdown), kills the CLI and exits 0 within 5 s", async ({ onTestFinished }) => {
    const port = await freePort()
    const server = spawnServer({ PORT: String(port) }, onTestFinished)
    const url = `http://127.0.0.1:${port}`
    await waitForHealth(url, server)

    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stream: true, messages: [{ role: "user", content: "FAKE_SLOW" }] })
    })
    expect(response.status).toBe(200)
    const sessionId = response.headers.get("x-session-id")
    expect(sessionId).toBeTruthy()
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let received = ""
    while (!received.includes("\"content\":\"w1 \"")) {
      const { done, value } = await reader.read()
      if (done) throw new Error(`stream ended before the first delta: ${received}`)
      received += decoder.decode(value, { stream: true })
    }
    // Keep reading in the background so the socket drains; how it ends is not the point here.
    const rest = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return
          received += decoder.decode(value, { stream: true })
        }
      } catch {
        // the connection may be cut
      }
    })()

    // The turn's CLI runs in the project directory under our temp root.
    expect(fakeCliProcessesUnder(server.directory).length).toBe(1)

    const signalledAt = Date.now()
    server.child.kill("SIGTERM")
    const exit = await withTimeout(server.exited, 5_000)
    const elapsed = Date.now() - signalledAt
    expect(exit, `exit within 5 s of SIGTERM (stderr: ${server.stderr()})`).not.toBe("timeout")
    expect(exit, "exit code after SIGTERM (143 means the signal killed it)").toBe(0)
    expect(elapsed).toBeLessThan(5_000)
    await withTimeout(rest, 1_000)

    // The CLI child is gone too.
    let leftovers = fakeCliProcessesUnder(server.directory)
    for (let i = 0; i < 10 && leftovers.length > 0; i++) {
      await sleep(100)
      leftovers = fakeCliProcessesUnder(server.directory)
    }
    expect(leftovers).toEqual([])

    // The log ends with the turn cancelled because of the shutdown.
    const db = new Database(NodePath.join(server.directory, "db.sqlite"), { readonly: true, fileMustExist: true })
    try {
      const rows = db
        .prepare("SELECT session_id, sequence, type, data FROM session_events WHERE session_id = ? ORDER BY sequence")
        .all(sessionId) as Array<{ session_id: string; sequence: number; type: string; data: string }>
      expect(rows.length).toBeGreaterThan(2)
      expect(rows[0]!.type).toBe("SessionCreated")
      expect(rows[1]!.type).toBe("TurnStarted")
      const last = rows[rows.length - 1]!
      expect(last.type).toBe("TurnCancelled")
      expect(JSON.parse(last.data).reason).toBe("shutdown")
      expect(rows.filter((row) => row.type === "TurnCompleted")).toEqual([])
    } finally {
      db.close()
    }
  })
})

describe("configuration from .env", () => {
  it("reads the variables from a .env file in the working directory", async ({ onTestFinished }) => {
    const port = await freePort()
    const server = spawnServer({}, onTestFinished, {
      dotEnv: () =>
        [
          "# written by the test",
          `PORT=${port}`,
          "HOST=127.0.0.1",
          "DATABASE_URL=sqlite:///./from-dotenv.db",
          "PROJECT_ROOT=./dotenv-projects",
          `CLAUDE_BINARY_PATH=${fakeCli}`,
          "REQUIRE_AUTH=true",
          "API_KEYS=dotenv-key"
        ].join("\n") + "\n"
    })
    const url = `http://127.0.0.1:${port}`
    await waitForHealth(url, server)
    expect((await fetch(`${url}/v1/models`)).status).toBe(401)
    const answer = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer dotenv-key" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hello from dotenv" }] })
    })
    expect(answer.status).toBe(200)
    expect(((await answer.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content)
      .toContain("Echo: hello from dotenv")
    // Relative paths in .env are relative to the working directory.
    expect(NodeFs.existsSync(NodePath.join(server.directory, "from-dotenv.db"))).toBe(true)
    // With auth on, the key's own default project (`default-` and the key's fingerprint).
    const keyId = NodeCrypto.createHash("sha256").update("dotenv-key").digest("hex").slice(0, 12)
    expect(NodeFs.existsSync(NodePath.join(server.directory, "dotenv-projects", `default-${keyId}`))).toBe(true)
  })
})

describe("startup configuration errors", () => {
  const failsToStart = async (
    env: Record<string, string>,
    onFinished: (cleanUp: () => Promise<void>) => void
  ) => {
    const server = spawnServer(env, onFinished)
    const exit = await withTimeout(server.exited, 15_000)
    return { exit, stderr: server.stderr() }
  }

  it.concurrent("refuses HOST=0.0.0.0 without auth", async ({ onTestFinished }) => {
    const port = await freePort()
    const { exit, stderr } = await failsToStart({ HOST: "0.0.0.0", PORT: String(port) }, onTestFinished)
    expect(exit).not.toBe("timeout")
    expect(exit).not.toBe(0)
    expect(stderr).toContain("HOST")
    expect(stderr).not.toMatch(/\n\s+at /) // a message, not a stack trace
  })

  it.concurrent("refuses PORT=abc", async ({ onTestFinished }) => {
    const { exit, stderr } = await failsToStart({ PORT: "abc" }, onTestFinished)
    expect(exit).not.toBe("timeout")
    expect(exit).not.toBe(0)
    expect(stderr).toContain("PORT")
  })

  it.concurrent("refuses a missing CLAUDE_CODE_API_MODELS_PATH, naming the path", async ({ onTestFinished }) => {
    const port = await freePort()
    const { exit, stderr } = await failsToStart({
      PORT: String(port),
      CLAUDE_CODE_API_MODELS_PATH: "/nonexistent.json"
    }, onTestFinished)
    expect(exit).not.toBe("timeout")
    expect(exit).not.toBe(0)
    expect(stderr).toContain("/nonexistent.json")
  })
})
