/**
 * End to end: sessions with the REAL Claude Code CLI (`claude.exe`) → the fake Anthropic
 * Messages API, driven by the official `openai` SDK (and `fetch` wherever raw SSE bytes or
 * statuses matter).
 *
 * What a session must survive: continuing by `session_id` on a warm process and through
 * `--resume` after passivation, stateless clients resending the whole history (found by the
 * conversation's digest), a gateway restart, lost CLI transcripts (context rebuilt from the
 * event log), a SIGKILLed gateway (restart recovery, orphaned CLI exits), concurrent turns
 * (409), cancellation (DELETE and client disconnect), exact replay of a turn's chunks from
 * the log, and project ids that try to leave the project root.
 *
 * Like the other e2e suite, the gateway runs without IS_SANDBOX (a user's machine has none).
 * One fake serves every test; gateways are in-process except for the SIGKILL case.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { AppConfigOverrides } from "../../src/AppConfig.js"
import { cliEnvFor, type FakeAnthropic, type RecordedRequest, startFakeAnthropic } from "../fixtures/FakeAnthropic.js"
import { type Gateway, realCliConfig, realCliPath, startGateway, tempDirectory } from "../support/Gateway.js"
import { freePort } from "../support/ports.js"
import { claudeProcessesUnder } from "../support/processes.js"
import { SseFrames } from "../support/sse.js"

const repoRoot = NodePath.resolve(import.meta.dirname, "..", "..")
const tsxBin = NodePath.join(repoRoot, "node_modules", ".bin", "tsx")
const MODEL = "claude-sonnet-4-5-20250929"

// ---------------------------------------------------------------------------------------------
// Shapes of the gateway's extensions and resources

interface GatewayExtras {
  readonly session_id: string
  readonly project_id: string
}
type GatewayCompletion = OpenAI.Chat.Completions.ChatCompletion & GatewayExtras

interface ErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

interface EventJson {
  readonly id: number
  readonly type: string
  readonly created_at: number
  readonly data: Record<string, unknown> & { readonly turnId?: string; readonly reason?: string }
}

interface EventPage {
  readonly object: "list"
  readonly session_id: string
  readonly data: ReadonlyArray<EventJson>
  readonly has_more: boolean
  readonly last_event_id: number
}

interface TurnStatus {
  readonly session_id: string
  readonly status: "running" | "idle" | "closed"
  readonly is_running: boolean
  readonly turn_id: string | null
  readonly warm: boolean
}

interface SessionResource {
  readonly id: string
  readonly object: "session"
  readonly project_id: string
  readonly status: string
  readonly turn_count: number
  readonly completed_turns: number
  readonly warm: boolean
}

// ---------------------------------------------------------------------------------------------
// Suite state

let fake: FakeAnthropic
/** The shared gateway (idle processes passivated after 1 s). */
let gateway: Gateway
let client: OpenAI
let homeDir: string
/** Everything this suite creates lives under here (real path). */
let suiteRoot: string
let savedIsSandbox: string | undefined
const openGateways: Array<Gateway> = []
const spawnedGateways: Array<GatewayProcess> = []

// ---------------------------------------------------------------------------------------------
// Helpers: time, processes

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `probe` every 50 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
const eventually = async <A>(what: string, timeoutMs: number, probe: () => Promise<A | undefined> | A | undefined) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

const realPath = (path: string): string => {
  try {
    return NodeFs.realpathSync(path)
  } catch {
    return NodePath.resolve(path)
  }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Waits until no CLI runs in `root`; fails (listing them) after `timeoutMs`. */
const expectNoCliUnder = async (root: string, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  let left = claudeProcessesUnder(root)
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50)
    left = claudeProcessesUnder(root)
  }
  expect(left, `claude.exe processes still running in ${root} after ${timeoutMs} ms`).toEqual([])
}

// ---------------------------------------------------------------------------------------------
// Helpers: the fake's records

const messagesCalls = (): ReadonlyArray<RecordedRequest> =>
  fake.requests.filter((r) => r.method === "POST" && r.path === "/v1/messages")

const messagesOf = (request: RecordedRequest): ReadonlyArray<{ role?: unknown; content?: unknown }> => {
  const messages = (request.body as { messages?: unknown }).messages
  return Array.isArray(messages) ? messages as ReadonlyArray<{ role?: unknown; content?: unknown }> : []
}

const textOfContent = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((block: { type?: unknown; text?: unknown }) =>
      block?.type === "text" && typeof block.text === "string" ? block.text : ""
    ).join("\n")
    : ""

/** The text of a recorded request's last user message. */
const lastUserText = (request: RecordedRequest): string => {
  const users = messagesOf(request).filter((m) => m.role === "user")
  return textOfContent(users[users.length - 1]?.content)
}

/** The (last) upstream request whose newest user message contains `marker`. */
const upstreamCallFor = (marker: string): RecordedRequest => {
  const calls = messagesCalls().filter((r) => lastUserText(r).includes(marker))
  const call = calls[calls.length - 1]
  if (call === undefined) throw new Error(`the fake received no request whose last user message contains ${marker}`)
  return call
}

// ---------------------------------------------------------------------------------------------
// Helpers: HTTP

const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 8)}`

const chat = async (
  openai: OpenAI,
  messages: ReadonlyArray<OpenAI.Chat.Completions.ChatCompletionMessageParam>,
  extras: { readonly session_id?: string; readonly project_id?: string } = {}
): Promise<GatewayCompletion> => {
  const params = {
    model: MODEL,
    messages: [...messages],
    ...extras
  } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming
  return (await openai.chat.completions.create(params)) as GatewayCompletion
}

const user = (content: string): OpenAI.Chat.Completions.ChatCompletionMessageParam => ({ role: "user", content })
const assistant = (content: string): OpenAI.Chat.Completions.ChatCompletionMessageParam => ({
  role: "assistant",
  content
})

const textOf = (completion: OpenAI.Chat.Completions.ChatCompletion) => completion.choices[0]?.message.content ?? ""

const getJson = async <A>(url: string): Promise<{ status: number; body: A }> => {
  const response = await fetch(url)
  return { status: response.status, body: (await response.json()) as A }
}

const postJson = async <A>(url: string, body: unknown): Promise<{ status: number; body: A }> => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: response.status, body: (await response.json()) as A }
}

const eventsOf = async (base: string, sessionId: string): Promise<ReadonlyArray<EventJson>> => {
  const { body, status } = await getJson<EventPage>(`${base}/v1/sessions/${sessionId}/events?limit=1000`)
  expect(status).toBe(200)
  expect(body.has_more).toBe(false)
  return body.data
}

const statusOf = async (base: string, sessionId: string): Promise<TurnStatus> => {
  const { body, status } = await getJson<TurnStatus>(`${base}/v1/chat/completions/${sessionId}/status`)
  expect(status).toBe(200)
  return body
}

const createSession = async (base: string, projectId: string): Promise<string> => {
  const { body, status } = await postJson<SessionResource>(`${base}/v1/sessions`, { project_id: projectId })
  expect(status).toBe(201)
  expect(body.project_id).toBe(projectId)
  return body.id
}

/** The `data:` lines of frames (keep-alive comments and `id:`/`event:` lines dropped). */
const dataLines = (frames: ReadonlyArray<string>): Array<string> =>
  frames.flatMap((frame) => frame.split("\n").filter((line) => line.startsWith("data:")))

/** Whether a frame carries chat content text. */
const hasContent = (frame: string) =>
  dataLines([frame]).some((line) => {
    if (line === "data: [DONE]") return false
    const parsed = JSON.parse(line.slice("data: ".length)) as { choices?: Array<{ delta?: { content?: string } }> }
    return (parsed.choices?.[0]?.delta?.content ?? "").length > 0
  })

/** Starts a streamed chat turn with fetch; resolves once the response headers are in. */
const streamChat = async (
  base: string,
  body: Record<string, unknown>,
  signal?: AbortSignal
): Promise<{ response: Response; reader: SseFrames }> => {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, stream: true, ...body }),
    ...(signal !== undefined ? { signal } : {})
  })
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
  return { response, reader: new SseFrames(response.body!) }
}

// ---------------------------------------------------------------------------------------------
// Helpers: gateways

/** A second in-process gateway with the real CLI; closed in afterAll if a test does not. */
const startRealGateway = async (home: string, overrides: AppConfigOverrides = {}): Promise<Gateway> => {
  const started = await startGateway({ ...realCliConfig(fake, home), ...overrides })
  openGateways.push(started)
  return started
}

const closeGateway = async (target: Gateway) => {
  const index = openGateways.indexOf(target)
  if (index === -1) return
  openGateways.splice(index, 1)
  await target.close()
}

/** A gateway started as `tsx src/main.ts` in its own process group. */
interface GatewayProcess {
  readonly url: string
  readonly child: ChildProcess
  /** The process group leader (the tsx launcher). */
  readonly leaderPid: number
  /** The node process that runs the gateway itself (tsx runs the program in a child process). */
  readonly serverPid: number
  readonly output: () => string
  readonly exited: Promise<void>
}

/** Children of `pid` (looks only). */
const childrenOf = (pid: number): Array<number> => {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((child) => Number.isInteger(child) && child > 0)
  } catch {
    return []
  }
}

const cmdlineOf = (pid: number): string => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
  } catch {
    return ""
  }
}

const spawnGateway = async (env: Record<string, string>, port: number): Promise<GatewayProcess> => {
  const child = spawn(tsxBin, ["src/main.ts"], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (data: Buffer) => (output += data.toString()))
  child.stderr!.on("data", (data: Buffer) => (output += data.toString()))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const leaderPid = child.pid!
  const url = `http://127.0.0.1:${port}`
  const handle: GatewayProcess = { url, child, leaderPid, serverPid: -1, output: () => output, exited }
  spawnedGateways.push(handle)
  try {
    await eventually(`the gateway process on ${url}`, 30_000, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error("the gateway process exited early")
      try {
        const response = await fetch(`${url}/`)
        return response.ok ? true : undefined
      } catch {
        return undefined
      }
    })
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; its output:\n${output}`)
  }
  const serverPid = childrenOf(leaderPid).find((pid) => cmdlineOf(pid).includes("src/main.ts"))
  if (serverPid === undefined) throw new Error(`no gateway node process under the tsx launcher ${leaderPid}`)
  const started = { ...handle, serverPid }
  spawnedGateways[spawnedGateways.indexOf(handle)] = started
  return started
}

/** SIGTERM (graceful), then waits for the launcher to exit; SIGKILLs by pid after `timeoutMs`. */
const stopGatewayProcess = async (gatewayProcess: GatewayProcess, timeoutMs = 10_000) => {
  const index = spawnedGateways.indexOf(gatewayProcess)
  if (index !== -1) spawnedGateways.splice(index, 1)
  if (gatewayProcess.child.exitCode === null && gatewayProcess.child.signalCode === null) {
    try {
      process.kill(gatewayProcess.leaderPid, "SIGTERM")
    } catch {
      // gone
    }
    const stopped = await Promise.race([gatewayProcess.exited.then(() => true), sleep(timeoutMs).then(() => false)])
    if (!stopped) {
      for (const pid of [gatewayProcess.serverPid, gatewayProcess.leaderPid]) {
        if (pid > 0 && isAlive(pid)) process.kill(pid, "SIGKILL")
      }
    }
  }
  if (
    gatewayProcess.serverPid > 0 && isAlive(gatewayProcess.serverPid) &&
    cmdlineOf(gatewayProcess.serverPid).includes("src/main.ts")
  ) {
    process.kill(gatewayProcess.serverPid, "SIGKILL")
  }
}

// ---------------------------------------------------------------------------------------------
// Suite

describe("sessions end to end with the real Claude Code CLI", () => {
  beforeAll(async () => {
    // A user's machine has no IS_SANDBOX; the CLI children inherit this process's environment.
    savedIsSandbox = process.env.IS_SANDBOX
    delete process.env.IS_SANDBOX

    suiteRoot = realPath(tempDirectory("cca-e2e-sessions-"))
    homeDir = NodePath.join(suiteRoot, "home")
    NodeFs.mkdirSync(homeDir)
    fake = await startFakeAnthropic()
    gateway = await startGateway({
      ...realCliConfig(fake, homeDir),
      databasePath: NodePath.join(suiteRoot, "main.db"),
      projectRoot: NodePath.join(suiteRoot, "main-projects"),
      sessionIdleSeconds: 1
    })
    client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "test", maxRetries: 0 })
  })

  afterAll(async () => {
    try {
      for (const spawned of [...spawnedGateways]) await stopGatewayProcess(spawned, 5_000)
      for (const open of [...openGateways]) await closeGateway(open)
      await gateway?.close()
      // Wait for processes wound down by the closes, then report (and only then kill) leftovers.
      const deadline = Date.now() + 5_000
      while (suiteRoot !== undefined && claudeProcessesUnder(suiteRoot).length > 0 && Date.now() < deadline) {
        await sleep(50)
      }
      const left = suiteRoot === undefined ? [] : claudeProcessesUnder(suiteRoot)
      for (const { pid } of left) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // gone
        }
      }
      await fake?.close()
      if (suiteRoot !== undefined) NodeFs.rmSync(suiteRoot, { recursive: true, force: true })
      expect(left, "claude.exe processes left behind by the suite").toEqual([])
    } finally {
      if (savedIsSandbox === undefined) delete process.env.IS_SANDBOX
      else process.env.IS_SANDBOX = savedIsSandbox
    }
  })

  // 1 -----------------------------------------------------------------------------------------
  it("continues a session by session_id over three turns, warm and then through --resume after passivation", async () => {
    const first = unique("turn-one")
    const one = await chat(client, [user(first)])
    expect(textOf(one)).toContain(`You said: ${first}.`)
    expect(textOf(one)).toContain("[user_msgs=1 ")
    const sessionId = one.session_id
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/)
    expect(one.project_id).toBe("default")
    expect((await statusOf(gateway.url, sessionId)).warm).toBe(true)

    const second = unique("turn-two")
    const { data: two, response } = await client.chat.completions
      .create(
        {
          model: MODEL,
          messages: [user(second)],
          session_id: sessionId
        } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming
      )
      .withResponse()
    const twoText = textOf(two)
    expect(twoText).toContain(`You said: ${second}.`)
    expect(twoText).toContain(`[first=${first}]`)
    expect(twoText).toContain("[user_msgs=2 ")
    expect((two as GatewayCompletion).session_id).toBe(sessionId)
    expect(response.headers.get("x-session-id")).toBe(sessionId)

    // The idle process is passivated after sessionIdleSeconds (1 s): the next turn resumes.
    await eventually(
      "the warm process to be passivated",
      4_000,
      async () => (await statusOf(gateway.url, sessionId)).warm ? undefined : true
    )
    await sleep(1_000)
    expect((await statusOf(gateway.url, sessionId)).warm).toBe(false)

    const third = unique("turn-three")
    const three = await chat(client, [user(third)], { session_id: sessionId })
    expect(textOf(three)).toContain(`You said: ${third}.`)
    expect(textOf(three)).toContain(`[first=${first}]`)
    expect(textOf(three)).toContain("[user_msgs=3 ")
    expect(three.session_id).toBe(sessionId)

    // The resumed CLI sent the whole conversation as separate messages.
    const upstream = upstreamCallFor(third)
    const users = messagesOf(upstream).filter((m) => m.role === "user").map((m) => textOfContent(m.content))
    expect(users.some((text) => text.includes(first))).toBe(true)
    expect(users.some((text) => text.includes(second))).toBe(true)

    const session = (await getJson<SessionResource>(`${gateway.url}/v1/sessions/${sessionId}`)).body
    expect(session.turn_count).toBe(3)
    expect(session.completed_turns).toBe(3)
  })

  // 2 -----------------------------------------------------------------------------------------
  it("finds the session of a stateless client that resends the whole history; an edited history starts a new one", async () => {
    const a = unique("stateless-a")
    const r1 = await chat(client, [user(a)])
    const sessionId = r1.session_id
    expect(textOf(r1)).toContain("[user_msgs=1 ")

    const b = unique("stateless-b")
    const r2 = await chat(client, [user(a), assistant(textOf(r1)), user(b)])
    expect(r2.session_id).toBe(sessionId)
    expect(textOf(r2)).toContain(`You said: ${b}.`)
    expect(textOf(r2)).toContain(`[first=${a}]`)
    expect(textOf(r2)).toContain("[user_msgs=2 ")

    const c = unique("stateless-c")
    const r3 = await chat(client, [user(a), assistant(textOf(r1)), user(b), assistant(textOf(r2)), user(c)])
    expect(r3.session_id).toBe(sessionId)
    expect(textOf(r3)).toContain(`You said: ${c}.`)
    expect(textOf(r3)).toContain(`[first=${a}]`)
    expect(textOf(r3)).toContain("[user_msgs=3 ")

    // Edited history: no session holds it, so a new one starts with the given history as context.
    const edited = unique("stateless-a-edited")
    const d = unique("stateless-d")
    const r4 = await chat(client, [user(edited), assistant(textOf(r1)), user(d)])
    expect(r4.session_id).not.toBe(sessionId)
    expect(textOf(r4)).toMatch(/^Hello from fake-anthropic\. /)
    const upstream = upstreamCallFor(d)
    expect(JSON.stringify(messagesOf(upstream))).toContain(edited)
    expect(JSON.stringify(messagesOf(upstream))).not.toContain(b)

    const messages = (await getJson<{ data: Array<{ role: string; content: string }> }>(
      `${gateway.url}/v1/sessions/${r4.session_id}/messages`
    )).body.data
    expect(messages.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"])
    expect(messages[0]!.content).toBe(edited)
    expect(messages[1]!.content).toBe(textOf(r1))
    expect(messages[2]!.content).toBe(d)
    expect(messages[3]!.content).toBe(textOf(r4))
  })

  // 3 -----------------------------------------------------------------------------------------
  it("continues a session by session_id after the gateway restarts on the same database, projects and HOME", async () => {
    const dir = NodePath.join(suiteRoot, "restart")
    const home = NodePath.join(dir, "home")
    NodeFs.mkdirSync(home, { recursive: true })
    const shared = { databasePath: NodePath.join(dir, "gateway.db"), projectRoot: NodePath.join(dir, "projects") }

    const first = unique("before-restart")
    const gateway1 = await startRealGateway(home, shared)
    const one = await chat(new OpenAI({ baseURL: gateway1.baseURL, apiKey: "test", maxRetries: 0 }), [user(first)])
    expect(textOf(one)).toContain("[user_msgs=1 ")
    await closeGateway(gateway1)
    await expectNoCliUnder(dir, 5_000)

    const gateway2 = await startRealGateway(home, shared)
    const client2 = new OpenAI({ baseURL: gateway2.baseURL, apiKey: "test", maxRetries: 0 })
    const second = unique("after-restart")
    const two = await chat(client2, [user(second)], { session_id: one.session_id })
    expect(two.session_id).toBe(one.session_id)
    expect(textOf(two)).toContain(`You said: ${second}.`)
    expect(textOf(two)).toContain(`[first=${first}]`)
    expect(textOf(two)).toContain("[user_msgs=2 ")
    const session = (await getJson<SessionResource>(`${gateway2.url}/v1/sessions/${one.session_id}`)).body
    expect(session.turn_count).toBe(2)
    await closeGateway(gateway2)
  })

  // 4 -----------------------------------------------------------------------------------------
  it("rebuilds the context from the event log when the CLI's transcript is gone", async () => {
    const dir = NodePath.join(suiteRoot, "lost-transcript")
    const home = NodePath.join(dir, "home")
    NodeFs.mkdirSync(home, { recursive: true })
    const lost = await startRealGateway(home, {
      databasePath: NodePath.join(dir, "gateway.db"),
      projectRoot: NodePath.join(dir, "projects"),
      sessionIdleSeconds: 1
    })
    const lostClient = new OpenAI({ baseURL: lost.baseURL, apiKey: "test", maxRetries: 0 })

    const first = unique("remember-this")
    const one = await chat(lostClient, [user(first)])
    expect(textOf(one)).toContain(`You said: ${first}.`)
    await eventually(
      "the warm process to be passivated",
      4_000,
      async () => (await statusOf(lost.url, one.session_id)).warm ? undefined : true
    )
    await expectNoCliUnder(dir, 5_000)

    const transcripts = NodePath.join(home, ".claude", "projects")
    expect(NodeFs.existsSync(transcripts)).toBe(true)
    NodeFs.rmSync(transcripts, { recursive: true, force: true })

    const second = unique("after-loss")
    const two = await chat(lostClient, [user(second)], { session_id: one.session_id })
    expect(two.session_id).toBe(one.session_id)
    expect(textOf(two)).toMatch(/^Hello from fake-anthropic\. /)
    const upstream = upstreamCallFor(second)
    expect(JSON.stringify(messagesOf(upstream))).toContain(first)

    // The rebuilt conversation is the session's from now on.
    const third = unique("after-rebuild")
    const three = await chat(lostClient, [user(third)], { session_id: one.session_id })
    expect(three.session_id).toBe(one.session_id)
    expect(textOf(three)).toContain(`You said: ${third}.`)
    const rebuilt = JSON.stringify(messagesOf(upstreamCallFor(third)))
    expect(rebuilt).toContain(first)
    expect(rebuilt).toContain(second)
    await closeGateway(lost)
  })

  // 5 -----------------------------------------------------------------------------------------
  it(
    "recovers from a SIGKILLed gateway: the interrupted turn is recorded, the session continues, the orphaned CLI exits",
    async () => {
      const dir = NodePath.join(suiteRoot, "sigkill")
      const home = NodePath.join(dir, "home")
      NodeFs.mkdirSync(home, { recursive: true })
      const port = await freePort()
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOST: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: NodePath.join(dir, "db.sqlite"),
        PROJECT_ROOT: NodePath.join(dir, "projects"),
        CLAUDE_BINARY_PATH: realCliPath,
        HOME: home,
        ...cliEnvFor(fake)
      }
      expect(env.IS_SANDBOX).toBeUndefined()

      const first = unique("before-crash")
      const process1 = await spawnGateway(env, port)
      const client1 = new OpenAI({ baseURL: `${process1.url}/v1`, apiKey: "test", maxRetries: 0 })
      const one = await chat(client1, [user(first)])
      const sessionId = one.session_id
      expect(textOf(one)).toContain(`You said: ${first}.`)

      const abort = new AbortController()
      const { reader } = await streamChat(process1.url, {
        session_id: sessionId,
        messages: [user(`${unique("crash-turn")} SCENARIO_SLOW`)]
      }, abort.signal)
      expect(await reader.until(hasContent)).not.toBeNull()
      const orphans = claudeProcessesUnder(dir).map(({ pid }) => pid)
      expect(orphans.length).toBeGreaterThan(0)

      // The crash: SIGKILL, no chance to clean up. tsx runs the program in a child process of
      // the group leader, so the gateway itself is that child: kill it, then the leader.
      process.kill(process1.serverPid, "SIGKILL")
      process.kill(process1.leaderPid, "SIGKILL")
      const killedAt = Date.now()
      await process1.exited
      if (spawnedGateways.includes(process1)) spawnedGateways.splice(spawnedGateways.indexOf(process1), 1)
      abort.abort()
      await reader.cancel()

      const process2 = await spawnGateway(env, port)
      const session = await getJson<SessionResource>(`${process2.url}/v1/sessions/${sessionId}`)
      expect(session.status).toBe(200)
      expect(session.body.id).toBe(sessionId)
      expect(session.body.turn_count).toBe(2)
      expect(session.body.status).toBe("idle")
      expect((await statusOf(process2.url, sessionId)).is_running).toBe(false)

      const events = await eventsOf(process2.url, sessionId)
      const started = events.filter((e) => e.type === "TurnStarted")
      expect(started).toHaveLength(2)
      const crashedTurn = started[1]!.data.turnId
      const last = events[events.length - 1]!
      expect(last.type).toBe("TurnCancelled")
      expect(last.data.turnId).toBe(crashedTurn)
      expect(last.data.reason).toBe("interrupted")
      expect(events.filter((e) => e.data.turnId === crashedTurn && /^Turn(Completed|Failed|Cancelled)$/.test(e.type)))
        .toHaveLength(1)

      const third = unique("after-crash")
      const client2 = new OpenAI({ baseURL: `${process2.url}/v1`, apiKey: "test", maxRetries: 0 })
      const three = await chat(client2, [user(third)], { session_id: sessionId })
      expect(three.session_id).toBe(sessionId)
      expect(textOf(three)).toContain(`You said: ${third}.`)
      expect(JSON.stringify(messagesOf(upstreamCallFor(third)))).toContain(first)

      // The orphaned CLI of the killed gateway exits once its pipes close.
      const orphanDeadline = killedAt + 25_000
      while (orphans.some(isAlive) && Date.now() < orphanDeadline) await sleep(100)
      const orphansLeft = orphans.filter(isAlive).map((pid) => ({ pid, cmdline: cmdlineOf(pid) }))
      expect(orphansLeft, "CLI processes of the SIGKILLed gateway still running 25 s after the kill").toEqual([])

      await stopGatewayProcess(process2)
      await expectNoCliUnder(dir, 5_000)
    },
    60_000
  )

  // 6 -----------------------------------------------------------------------------------------
  it("answers 409 session_busy to a second turn on a session that is running one", async () => {
    const projectId = unique("busy")
    const sessionId = await createSession(gateway.url, projectId)
    const { reader } = await streamChat(gateway.url, {
      session_id: sessionId,
      messages: [user(`${unique("long")} SCENARIO_SLOW`)]
    })
    expect(await reader.until(hasContent)).not.toBeNull()

    const busy = await postJson<ErrorBody>(`${gateway.baseURL}/chat/completions`, {
      model: MODEL,
      session_id: sessionId,
      messages: [user("me too")]
    })
    expect(busy.status).toBe(409)
    expect(busy.body.error.code).toBe("session_busy")
    expect(busy.body.error.type).toBe("invalid_request_error")

    const error = await chat(client, [user("me too, via the SDK")], { session_id: sessionId }).then(
      () => null,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(OpenAI.ConflictError)
    expect((error as InstanceType<typeof OpenAI.ConflictError>).code).toBe("session_busy")

    // The running turn is unaffected and completes normally.
    expect((await statusOf(gateway.url, sessionId)).is_running).toBe(true)
    await reader.rest(15_000)
    const lines = dataLines(reader.frames)
    expect(lines[lines.length - 1]).toBe("data: [DONE]")
    expect(lines.some((line) => line.startsWith("data: {\"error\""))).toBe(false)
    expect(lines.some((line) => line.includes("\"finish_reason\":\"stop\""))).toBe(true)
    const events = await eventsOf(gateway.url, sessionId)
    expect(events.filter((e) => e.type === "TurnStarted")).toHaveLength(1)
    expect(events[events.length - 1]!.type).toBe("TurnCompleted")
  })

  // 7 -----------------------------------------------------------------------------------------
  it("cancels a running turn by DELETE: error frame and [DONE], status idle, TurnCancelled(client), CLI gone", async () => {
    const projectId = unique("cancel")
    const projectDir = NodePath.join(gateway.projectRoot, projectId)
    const sessionId = await createSession(gateway.url, projectId)
    const { reader } = await streamChat(gateway.url, {
      session_id: sessionId,
      messages: [user(`${unique("cancel-me")} SCENARIO_SLOW`)]
    })
    expect(await reader.until(hasContent)).not.toBeNull()
    expect(claudeProcessesUnder(realPath(projectDir)).length).toBeGreaterThan(0)

    const response = await fetch(`${gateway.baseURL}/chat/completions/${sessionId}`, { method: "DELETE" })
    expect(response.status).toBe(200)
    const result = (await response.json()) as { cancelled: boolean; status: string; session_id: string }
    expect(result).toMatchObject({ cancelled: true, status: "cancelled", session_id: sessionId })
    const cancelledAt = Date.now()

    await reader.rest(5_000)
    const lines = dataLines(reader.frames)
    // The client is still connected, so it is told: an error frame, then [DONE], and no normal end.
    expect(lines.length).toBeGreaterThanOrEqual(3)
    expect(lines[lines.length - 1]).toBe("data: [DONE]")
    const envelope = JSON.parse(lines[lines.length - 2]!.slice("data: ".length)) as ErrorBody
    expect(envelope.error.code).toBe("turn_cancelled")
    expect(envelope.error.type).toBe("invalid_request_error")
    expect(lines.filter((line) => line.startsWith("data: {\"error\"")).length).toBe(1)
    expect(lines.some((line) => line.includes("\"finish_reason\":\"stop\""))).toBe(false)

    const status = await statusOf(gateway.url, sessionId)
    expect(status.is_running).toBe(false)
    expect(status.status).toBe("idle")
    const events = await eventsOf(gateway.url, sessionId)
    const last = events[events.length - 1]!
    expect(last.type).toBe("TurnCancelled")
    expect(last.data.reason).toBe("client")

    // The replay of the cancelled turn is what its stream sent, error frame included.
    const replay = await fetch(
      `${gateway.url}/v1/sessions/${sessionId}/events?stream=true&format=chunks&turn_id=${last.data.turnId}`
    )
    const replayReader = new SseFrames(replay.body!)
    await replayReader.rest(5_000)
    expect(dataLines(replayReader.frames)).toEqual(lines)

    await expectNoCliUnder(realPath(projectDir), Math.max(0, cancelledAt + 1_500 - Date.now()))
    // Cancelling again finds nothing running.
    const again = await fetch(`${gateway.baseURL}/chat/completions/${sessionId}`, { method: "DELETE" })
    expect(((await again.json()) as { cancelled: boolean }).cancelled).toBe(false)

    // The session takes its next turn at once.
    const next = unique("after-cancel")
    const completion = await chat(client, [user(next)], { session_id: sessionId })
    expect(completion.session_id).toBe(sessionId)
    expect(textOf(completion)).toContain(`You said: ${next}.`)
  })

  it("cancels a running turn when the client disconnects: TurnCancelled(disconnect), CLI gone", async () => {
    const projectId = unique("disconnect")
    const projectDir = NodePath.join(gateway.projectRoot, projectId)
    const sessionId = await createSession(gateway.url, projectId)
    const abort = new AbortController()
    const { reader } = await streamChat(gateway.url, {
      session_id: sessionId,
      messages: [user(`${unique("leave-me")} SCENARIO_SLOW`)]
    }, abort.signal)
    expect(await reader.until(hasContent)).not.toBeNull()
    abort.abort()
    await reader.cancel()
    const abortedAt = Date.now()

    const last = await eventually("TurnCancelled in the log", 5_000, async () => {
      const events = await eventsOf(gateway.url, sessionId)
      const tail = events[events.length - 1]!
      return /^Turn(Completed|Failed|Cancelled)$/.test(tail.type) ? tail : undefined
    })
    expect(last.type).toBe("TurnCancelled")
    expect(last.data.reason).toBe("disconnect")
    expect((await statusOf(gateway.url, sessionId)).is_running).toBe(false)
    await expectNoCliUnder(realPath(projectDir), Math.max(0, abortedAt + 1_500 - Date.now()))
  })

  it("runs the next turn sent right after the client disconnected mid-stream: it waits for the cancellation, no 409", async () => {
    const projectId = unique("reconnect")
    const sessionId = await createSession(gateway.url, projectId)
    const abort = new AbortController()
    const { reader } = await streamChat(gateway.url, {
      session_id: sessionId,
      messages: [user(`${unique("dropped")} SCENARIO_SLOW`)]
    }, abort.signal)
    expect(await reader.until(hasContent)).not.toBeNull()
    abort.abort()
    await reader.cancel()

    // At once, on the same session: the cancelled turn has not recorded its end yet.
    const next = unique("right-after")
    const followUp = await postJson<GatewayCompletion>(`${gateway.baseURL}/chat/completions`, {
      model: MODEL,
      session_id: sessionId,
      messages: [user(next)]
    })
    expect(followUp.status).toBe(200)
    expect(followUp.body.session_id).toBe(sessionId)
    expect(textOf(followUp.body)).toContain(`You said: ${next}.`)

    // In the log: the first turn ended (cancelled by the disconnect) before the second started.
    const events = await eventsOf(gateway.url, sessionId)
    const ends = events.filter((event) => /^Turn(Started|Completed|Failed|Cancelled)$/.test(event.type))
    expect(ends.map((event) => event.type)).toEqual(["TurnStarted", "TurnCancelled", "TurnStarted", "TurnCompleted"])
    expect(ends[1]!.data.reason).toBe("disconnect")
  })

  // 8 -----------------------------------------------------------------------------------------
  it("replays a turn from the log as exactly the chunks its stream sent, and resumes raw SSE after Last-Event-ID", async () => {
    const projectId = unique("replay")
    const { response, reader } = await streamChat(gateway.url, {
      project_id: projectId,
      messages: [user(unique("replay-me"))],
      stream_options: { include_usage: true },
      stop: "ZZZ"
    })
    const sessionId = response.headers.get("x-session-id")!
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/)
    await reader.rest(15_000)
    const original = dataLines(reader.frames)
    expect(original[original.length - 1]).toBe("data: [DONE]")
    expect(original.filter(hasContent).length).toBeGreaterThan(1)
    expect(original.some((line) => line.includes("\"usage\":{"))).toBe(true)

    const events = await eventsOf(gateway.url, sessionId)
    const turnId = events.find((e) => e.type === "TurnStarted")!.data.turnId!
    expect(turnId).toMatch(/^turn_/)

    const replay = await fetch(
      `${gateway.url}/v1/sessions/${sessionId}/events?stream=true&format=chunks&turn_id=${encodeURIComponent(turnId)}`
    )
    expect(replay.status).toBe(200)
    expect(replay.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const replayReader = new SseFrames(replay.body!)
    await replayReader.rest(10_000)
    expect(replayReader.ended).toBe(true)
    expect(dataLines(replayReader.frames)).toEqual(original)
    // Every replayed frame names the event it came from.
    for (const frame of replayReader.frames.filter((f) => f.includes("data:"))) expect(frame).toMatch(/^id: \d+\n/)

    // Raw events over SSE, resumed after Last-Event-ID: starts right after it.
    expect(events.length).toBeGreaterThan(6)
    const after = events[2]!.id
    const abort = new AbortController()
    const raw = await fetch(`${gateway.url}/v1/sessions/${sessionId}/events?stream=true`, {
      headers: { "last-event-id": String(after) },
      signal: abort.signal
    })
    expect(raw.status).toBe(200)
    const rawReader = new SseFrames(raw.body!)
    const received: Array<{ id: number; type: string }> = []
    while (received.length < 3) {
      const frame = await rawReader.next()
      if (frame === null) break
      if (frame.startsWith(":")) continue
      const id = /^id: (\d+)$/m.exec(frame)?.[1]
      const type = /^event: (\w+)$/m.exec(frame)?.[1]
      const data = JSON.parse(dataLines([frame])[0]!.slice("data: ".length)) as EventJson
      expect(data.id).toBe(Number(id))
      expect(data.type).toBe(type)
      received.push({ id: Number(id), type: type! })
    }
    abort.abort()
    await rawReader.cancel()
    expect(received).toEqual(events.slice(3, 6).map((e) => ({ id: e.id, type: e.type })))
    expect(received[0]!.id).toBe(after + 1)
  })

  // 9 -----------------------------------------------------------------------------------------
  it("refuses project ids that leave the project root, for projects and for chat turns", async () => {
    const root = gateway.projectRoot
    NodeFs.symlinkSync("/tmp", NodePath.join(root, "escape"))
    const outside = NodePath.join(NodePath.dirname(root), "x")
    const callsBefore = messagesCalls().length
    const tmpBefore = NodeFs.readdirSync("/tmp").sort()

    for (const id of ["..", "../x", "/etc", "a/b", "a\u0000b", "escape"]) {
      const created = await postJson<ErrorBody>(`${gateway.url}/v1/projects`, { id })
      expect(created.status, `POST /v1/projects ${JSON.stringify(id)}`).toBe(400)
      expect(created.body.error.type).toBe("invalid_request_error")
      expect(typeof created.body.error.message).toBe("string")

      const turn = await postJson<ErrorBody>(`${gateway.baseURL}/chat/completions`, {
        model: MODEL,
        project_id: id,
        messages: [user("where am I")]
      })
      expect(turn.status, `chat with project_id ${JSON.stringify(id)}`).toBe(400)
      expect(turn.body.error.type).toBe("invalid_request_error")
      expect(turn.body.error.param).toBe("project_id")

      const sdkError = await chat(client, [user("where am I")], { project_id: id }).then(() => null, (e: unknown) => e)
      expect(sdkError).toBeInstanceOf(OpenAI.BadRequestError)
    }

    expect(NodeFs.existsSync(outside)).toBe(false)
    expect(NodeFs.existsSync(NodePath.join(root, "a"))).toBe(false)
    expect(NodeFs.readdirSync("/tmp").sort().filter((name) => !tmpBefore.includes(name) && /^(x|b|a)$/.test(name)))
      .toEqual([])
    const projects = (await getJson<{ data: Array<{ id: string }> }>(`${gateway.url}/v1/projects?limit=100`)).body.data
    expect(projects.map((p) => p.id)).not.toContain("escape")
    expect(messagesCalls().length).toBe(callsBefore)
  })
})
