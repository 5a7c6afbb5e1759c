/**
 * The operator's log, from the real server process (`tsx src/main.ts`, configured from the
 * environment, the stand-in CLI): one JSON object per line on stderr with LOG_FORMAT=json, a
 * line per request (method, path without the query, status, duration, session, key id) and
 * per turn end (outcome, model, tokens, cost, duration), a CLI crash logged with its cause that
 * the client never sees, a read the event log failed logged with the database's error behind
 * the client's plain 503, API keys nowhere in the output, LOG_LEVEL=error hiding the info lines,
 * readable text by default, a bad logging setting failing startup by name, and a failed start
 * (its port taken) logged in the configured format with its reason.
 */
import * as NodeChildProcess from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { describe, expect, it } from "vitest"
import { waitForHealthy } from "../support/health.js"
import { freePort } from "../support/ports.js"

const root = NodePath.resolve(import.meta.dirname, "..", "..")
const tsx = NodePath.join(root, "node_modules", ".bin", "tsx")
const fakeCli = NodePath.join(root, "test", "fixtures", "fake-claude.mjs")

const keys = ["log-test-key-alpha-7f3c9e", "log-test-key-beta-2b8d41"]
const keyIdOf = (key: string) =>
  `key:${NodeCrypto.createHash("sha256").update(key, "utf8").digest().subarray(0, 6).toString("hex")}`

interface ServerProcess {
  readonly url: string
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | string>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts the server with `env` over a clean environment (none of the gateway's variables inherited). */
const spawnServer = (
  env: Record<string, string>,
  onFinished: (cleanUp: () => Promise<void>) => void
): ServerProcess & { readonly port: Promise<number> } => {
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-logs-"))
  const inherited = Object.fromEntries(
    ["PATH", "HOME", "TMPDIR", "NODE_OPTIONS"].flatMap((name) =>
      process.env[name] === undefined ? [] : [[name, process.env[name]!]]
    )
  )
  const port = freePort()
  const state = { stdout: "", stderr: "", url: "" }
  const started = port.then((port) => {
    state.url = `http://127.0.0.1:${port}`
    const child = NodeChildProcess.spawn(tsx, [NodePath.join(root, "src", "main.ts")], {
      cwd: directory,
      env: {
        ...inherited,
        HOST: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: NodePath.join(directory, "db.sqlite"),
        PROJECT_ROOT: NodePath.join(directory, "projects"),
        CLAUDE_BINARY_PATH: fakeCli,
        SPARE_PROCESS: "false",
        FAKE_CLAUDE_DELAY_MS: "10",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    child.stdout!.on("data", (data: Buffer) => (state.stdout += data.toString()))
    child.stderr!.on("data", (data: Buffer) => (state.stderr += data.toString()))
    const exited = new Promise<number | string>((resolve) =>
      child.once("close", (code, signal) => resolve(code ?? signal ?? "unknown"))
    )
    onFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid!, "SIGTERM")
        await Promise.race([exited, sleep(5_000)])
      }
      NodeFs.rmSync(directory, { recursive: true, force: true })
    })
    return exited
  })
  return {
    port,
    get url() {
      return state.url
    },
    stdout: () => state.stdout,
    stderr: () => state.stderr,
    exited: started.then((exited) => exited)
  }
}

/** Waits until `check` holds (the log is written just after the response), failing after a few seconds. */
const eventually = async (check: () => boolean, what: string, output: () => string) => {
  for (let i = 0; i < 100 && !check(); i++) await sleep(50)
  if (!check()) throw new Error(`${what} never appeared in the log:\n${output()}`)
}

const waitForHealth = async (server: ServerProcess & { readonly port: Promise<number> }) => {
  await server.port
  await waitForHealthy(server.url, { output: server.stderr })
}

const chat = (server: ServerProcess, key: string | null, body: Record<string, unknown>) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
    body: JSON.stringify(body)
  })

type Entry = Record<string, unknown>

/** The SQLite driver the gateway uses, to take its log's table away under it. */
const Database = createRequire(import.meta.url)("better-sqlite3") as new(path: string) => {
  readonly exec: (statement: string) => void
  readonly close: () => void
}

const entries = (stderr: string): Array<Entry> =>
  stderr.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line) as Entry)

describe("logs", () => {
  it("JSON: one line per request and per turn end, failures with their cause, keys never", async ({ onTestFinished }) => {
    const server = spawnServer(
      { LOG_FORMAT: "json", REQUIRE_AUTH: "true", API_KEYS: keys.join(",") },
      onTestFinished
    )
    await waitForHealth(server)
    const [alpha, beta] = keys as [string, string]

    const answered = await chat(server, alpha, { messages: [{ role: "user", content: "hello logs" }] })
    expect(answered.status).toBe(200)
    await answered.json()
    const answeredSession = answered.headers.get("x-session-id")!

    const streamed = await chat(server, beta, { stream: true, messages: [{ role: "user", content: "FAKE_SLOW" }] })
    expect(streamed.status).toBe(200)
    expect(await streamed.text()).toContain("[DONE]")
    const streamedSession = streamed.headers.get("x-session-id")!

    const crashed = await chat(server, alpha, { messages: [{ role: "user", content: "FAKE_CRASH" }] })
    expect(crashed.status).toBe(502)
    const crashBody = await crashed.text()
    expect(crashBody).not.toContain("simulated crash")

    const missing = await fetch(`${server.url}/v1/no-such-route?secret=query`, {
      headers: { authorization: `Bearer ${alpha}` }
    })
    expect(missing.status).toBe(404)
    const listed = await fetch(`${server.url}/v1/sessions?limit=1`, { headers: { "x-api-key": beta } })
    expect(listed.status).toBe(200)
    const refused = await fetch(`${server.url}/v1/models`, { headers: { authorization: "Bearer not-a-key" } })
    expect(refused.status).toBe(401)

    // The last request's line, written after its answer.
    await eventually(() => server.stderr().includes("\"status\":401"), "the 401's line", server.stderr)
    const log = entries(server.stderr())
    const requests = log.filter((entry) => entry.message === "request")
    for (const entry of log) {
      expect(typeof entry.timestamp).toBe("string")
      expect(["debug", "info", "warn", "error"]).toContain(entry.level)
    }
    const requestTo = (method: string, path: string, status: number) => {
      const found = requests.filter((entry) =>
        entry.method === method && entry.path === path && entry.status === status
      )
      expect(found, `${method} ${path} ${status}`).toHaveLength(1)
      const entry = found[0]!
      expect(typeof entry.duration_ms).toBe("number")
      return entry
    }

    const requestOf = (sessionId: string) => {
      const found = requests.filter((entry) => entry.session_id === sessionId)
      expect(found, `the request of session ${sessionId}`).toHaveLength(1)
      return found[0]!
    }
    const chatLine = { level: "info", method: "POST", path: "/v1/chat/completions", status: 200 }
    expect(requestOf(answeredSession)).toMatchObject({ ...chatLine, key_id: keyIdOf(alpha) })
    const streamedLine = requestOf(streamedSession)
    expect(streamedLine).toMatchObject({ ...chatLine, key_id: keyIdOf(beta), duration_ms: expect.any(Number) })
    expect(requestTo("POST", "/v1/chat/completions", 502)).toMatchObject({ level: "warn", key_id: keyIdOf(alpha) })
    expect(requestTo("GET", "/v1/no-such-route", 404)).toMatchObject({ level: "info", key_id: keyIdOf(alpha) })
    expect(requestTo("GET", "/v1/sessions", 200)).toMatchObject({ key_id: keyIdOf(beta) })
    const refusedLine = requestTo("GET", "/v1/models", 401)
    expect(refusedLine.level).toBe("info")
    expect(refusedLine).not.toHaveProperty("key_id")

    const turnEnds = log.filter((entry) => String(entry.message).startsWith("turn "))
    const completed = turnEnds.filter((entry) => entry.message === "turn completed")
    expect(completed.map((entry) => entry.session_id).sort()).toEqual([answeredSession, streamedSession].sort())
    for (const entry of completed) {
      expect(entry).toMatchObject({
        level: "info",
        model: expect.any(String),
        input_tokens: 100,
        output_tokens: expect.any(Number),
        cost_usd: 0.0123,
        duration_ms: expect.any(Number)
      })
      expect(String(entry.turn_id)).toMatch(/^turn_[0-9a-f]+$/)
    }
    // The streamed request's line is written when its stream ends, after its turn's end.
    const streamedTurn = completed.find((entry) => entry.session_id === streamedSession)!
    expect(log.indexOf(streamedLine)).toBeGreaterThan(log.indexOf(streamedTurn))
    expect(streamedLine.duration_ms as number).toBeGreaterThanOrEqual((streamedTurn.duration_ms as number) - 1)

    // The crash: the client read a plain 502, the log has what happened.
    const failed = turnEnds.filter((entry) => entry.message === "turn failed")
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ level: "error", error: "CliExitedEarly" })
    expect(String(failed[0]!.error_message)).toContain("simulated crash")
    expect(String(failed[0]!.error_message)).toContain("code 3")

    const output = server.stdout() + server.stderr()
    for (const key of keys) expect(output).not.toContain(key)
    expect(output).not.toContain("secret=query")
    expect(server.stdout()).toBe("")
  })

  it("a read the event log fails: the client gets a plain 503, the log has the database's error", async ({ onTestFinished }) => {
    const scratch = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-logs-db-"))
    onTestFinished(() => NodeFs.rmSync(scratch, { recursive: true, force: true }))
    const database = NodePath.join(scratch, "gateway.db")
    const server = spawnServer({ LOG_FORMAT: "json", DATABASE_URL: database }, onTestFinished)
    await waitForHealth(server)
    const answered = await chat(server, null, { messages: [{ role: "user", content: "before" }] })
    expect(answered.status).toBe(200)
    const sessionId = answered.headers.get("x-session-id")!
    await answered.json()
    // The log's table gone under the running gateway: every read of it fails.
    const sqlite = new Database(database)
    sqlite.exec("DROP TABLE session_events")
    sqlite.close()
    const read = await fetch(`${server.url}/v1/sessions/${sessionId}/events`)
    expect(read.status).toBe(503)
    const body = await read.text()
    expect(body).toContain("storage_unavailable")
    expect(body).not.toContain("session_events")
    await eventually(() => server.stderr().includes("\"status\":503"), "the 503's line", server.stderr)
    const line = entries(server.stderr()).find((entry) => entry.status === 503)!
    expect(line).toMatchObject({ level: "error", message: "request failed", path: `/v1/sessions/${sessionId}/events` })
    expect(JSON.stringify(line)).toContain("no such table: session_events")
  })

  it("LOG_LEVEL=error keeps the errors and drops the info lines", async ({ onTestFinished }) => {
    const server = spawnServer({ LOG_LEVEL: "error" }, onTestFinished)
    await waitForHealth(server)
    expect((await chat(server, null, { messages: [{ role: "user", content: "quiet" }] })).status).toBe(200)
    expect((await chat(server, null, { messages: [{ role: "user", content: "FAKE_CRASH" }] })).status).toBe(502)
    await eventually(() => server.stderr().includes("turn failed"), "the failed turn", server.stderr)
    const lines = server.stderr().split("\n").filter((line) => line.length > 0)
    expect(lines.filter((line) => / (INFO|WARN|DEBUG) /.test(line))).toEqual([])
    expect(lines.filter((line) => line.includes(" ERROR turn failed "))).toHaveLength(1)
  })

  it("text by default: a timestamp, the level, the message, then key=value fields", async ({ onTestFinished }) => {
    const server = spawnServer({}, onTestFinished)
    await waitForHealth(server)
    expect((await fetch(`${server.url}/v1/models?verbose=1`)).status).toBe(200)
    await eventually(() => server.stderr().includes("path=/v1/models"), "the request line", server.stderr)
    const line = server.stderr().split("\n").find((line) => line.includes("path=/v1/models"))!
    expect(line).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}request method=GET path=\/v1\/models status=200 duration_ms=\d+(\.\d+)?$/
    )
    expect(server.stdout()).toBe("")
  })

  it.concurrent("a bad LOG_LEVEL stops startup, naming the variable, in the default format", async ({ onTestFinished }) => {
    const server = spawnServer({ LOG_LEVEL: "loud", LOG_FORMAT: "json" }, onTestFinished)
    expect(await server.exited).toBe(1)
    expect(server.stderr()).toMatch(
      /^\S+Z ERROR claude-code-api failed to start: Invalid configuration: LOG_LEVEL: .*"loud"\n$/
    )
  })

  it.concurrent("a failed start is logged in the configured format, with its reason", async ({ onTestFinished }) => {
    const taken = NodeNet.createServer()
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
    onTestFinished(() => new Promise<void>((resolve) => taken.close(() => resolve())))
    const port = (taken.address() as NodeNet.AddressInfo).port
    const server = spawnServer({ LOG_FORMAT: "json", PORT: String(port) }, onTestFinished)
    expect(await server.exited).toBe(1)
    const log = entries(server.stderr())
    expect(log).toHaveLength(1)
    expect(log[0]).toMatchObject({ level: "error" })
    expect(String(log[0]!.message)).toMatch(/^claude-code-api failed to start: .*EADDRINUSE/)
  })
})
