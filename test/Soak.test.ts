/**
 * A bounded soak of the real server process (`node --import tsx src/main.ts`) over the stand-in
 * CLI: a few hundred short turns, ten at a time, of every kind a client makes (new sessions
 * streamed and not, continued sessions on their warm processes, streams the client drops
 * mid-answer, CLIs that crash). Afterwards no CLI process is left beyond the warm limit, the
 * server holds no more file descriptors than after the first batch (a small fixed slack), and
 * after SIGTERM no CLI process is left at all. No timing is asserted: waits are bounded only so
 * that a leak fails the test instead of hanging it.
 */
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { freePort } from "./support/ports.js"
import { processesUnderRoot } from "./support/processes.js"

const root = NodePath.resolve(import.meta.dirname, "..")
const fakeCli = NodePath.join(root, "test", "fixtures", "fake-claude.mjs")
const maxWarm = 4
const concurrency = 10
const batches = 25

const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-soak-"))
const projectRoot = NodePath.join(directory, "projects")
let server: NodeChildProcess.ChildProcess | undefined

afterAll(() => {
  if (server?.exitCode === null) server.kill("SIGKILL")
  for (const pid of processesUnderRoot(projectRoot)) process.kill(pid, "SIGKILL")
  NodeFs.rmSync(directory, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `done` holds, for at most `limitMs` (a leak then fails the assertion after it). */
const settle = async (done: () => boolean, limitMs = 10_000) => {
  const deadline = Date.now() + limitMs
  while (!done() && Date.now() < deadline) await sleep(50)
}

const openDescriptors = (pid: number) => NodeFs.readdirSync(`/proc/${pid}/fd`).length

interface Answer {
  readonly status: number
  readonly sessionId: string
  readonly body: string
}

/** One chat request; `dropAfter` closes the connection once that text has arrived. */
const chat = (port: number, payload: object, dropAfter?: string): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: "claude-sonnet-4-5-20250929", ...payload })
    const request = NodeHttp.request({
      host: "127.0.0.1",
      port,
      path: "/v1/chat/completions",
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      let text = ""
      const answer = () => ({
        status: response.statusCode ?? 0,
        sessionId: String(response.headers["x-session-id"]),
        body: text
      })
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        text += chunk
        if (dropAfter !== undefined && text.includes(dropAfter)) {
          request.destroy()
          resolve(answer())
        }
      })
      response.on("end", () => resolve(answer()))
      response.on("error", () => resolve(answer()))
    })
    request.on("error", (error) => (dropAfter === undefined ? reject(error) : undefined))
    request.end(body)
  })

const user = (content: string) => [{ role: "user", content }]

/** One batch: every kind of turn, `concurrency` at once. */
const batch = (port: number, index: number) =>
  Promise.all(Array.from({ length: concurrency }, async (_, slot) => {
    const text = `soak ${index}.${slot}`
    switch (slot % 5) {
      case 0:
        return chat(port, { stream: true, messages: user(text) })
      case 1: {
        // A session continued on its warm process.
        const first = await chat(port, { messages: user(text) })
        return chat(port, { session_id: first.sessionId, stream: true, messages: user(`${text} again`) })
      }
      case 2:
        // The client drops the stream mid-answer: the turn is cancelled and its CLI stopped.
        return chat(port, { stream: true, messages: user(`FAKE_SLOW ${text}`) }, "\"content\":\"w2")
      case 3:
        // The CLI dies mid-answer.
        return chat(port, { stream: true, messages: user(`FAKE_CRASH ${text}`) })
      default:
        return chat(port, { messages: user(text) })
    }
  }))

describe("soak: the real server over the stand-in CLI", () => {
  it("leaves no CLI process beyond the warm limit and no descriptor behind, and none after SIGTERM", async () => {
    const port = await freePort()
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !key.startsWith("FAKE_") && key !== "IS_SANDBOX") env[key] = value
    }
    server = NodeChildProcess.spawn(process.execPath, ["--import", "tsx", NodePath.join(root, "src", "main.ts")], {
      cwd: root,
      env: {
        ...env,
        HOST: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: NodePath.join(directory, "db.sqlite"),
        PROJECT_ROOT: projectRoot,
        CLAUDE_BINARY_PATH: fakeCli,
        FAKE_CLAUDE_DELAY_MS: "20",
        REQUIRE_AUTH: "false",
        MAX_CONCURRENT_TURNS: "40",
        QUEUE_TIMEOUT_SECONDS: "60",
        RATE_LIMIT_PER_MINUTE: "0",
        MAX_WARM_PROCESSES: String(maxWarm),
        SPARE_PROCESS: "true",
        LOG_LEVEL: "error"
      },
      stdio: ["ignore", "ignore", "pipe"]
    })
    // Its logged errors (the crashes are deliberate) are kept for a failure's message only.
    let stderr = ""
    server.stderr!.on("data", (data: Buffer) => (stderr = (stderr + data.toString()).slice(-4000)))
    const pid = server.pid!
    const exited = new Promise((resolve) => server!.once("exit", resolve))
    for (let tries = 0; tries < 300; tries++) {
      const healthy = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)
      if (healthy) break
      expect(server.exitCode, stderr).toBeNull()
      await sleep(100)
    }
    // The warm pool holds its processes (and the spare one) between turns.
    const allowed = maxWarm + 1
    const cliProcesses = () => processesUnderRoot(projectRoot).length

    await batch(port, 0)
    await settle(() => cliProcesses() <= allowed)
    await sleep(500)
    const descriptorsAfterFirst = openDescriptors(pid)
    const processesAfterFirst = cliProcesses()

    const statuses: Array<number> = []
    for (let index = 1; index < batches; index++) {
      for (const answer of await batch(port, index)) statuses.push(answer.status)
    }
    // Every request got an answer; crashes and drops are answers too.
    expect(statuses).toHaveLength((batches - 1) * concurrency)
    expect(statuses.filter((status) => status !== 200 && status !== 502)).toEqual([])

    await settle(() => cliProcesses() <= allowed)
    await sleep(500)
    expect(cliProcesses()).toBeLessThanOrEqual(allowed)
    // Each CLI process the pool keeps holds three pipes: compare as if it held as many as before.
    const descriptors = openDescriptors(pid) - 3 * (cliProcesses() - processesAfterFirst)
    expect(descriptors).toBeLessThanOrEqual(descriptorsAfterFirst + 8)

    server.kill("SIGTERM")
    await exited
    await settle(() => cliProcesses() === 0)
    expect(processesUnderRoot(projectRoot)).toEqual([])
  }, 120_000)
})
