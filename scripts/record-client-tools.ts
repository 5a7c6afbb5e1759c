/**
 * Records how the pinned Claude Code CLI serves a client's tools through an MCP server hosted
 * by its parent process (the control protocol on stdin/stdout), against the fake Anthropic API:
 * every frame in both directions, with a header saying what each scenario measured. Run it
 * again when the CLI is bumped: the bridge's tests replay these frames, and a changed protocol
 * shows up as a changed recording (`npx tsx scripts/record-client-tools.ts`).
 *
 * Writes `test/fixtures/cli/client-tools/<scenario>.frames.jsonl` (one `{at, dir, frame}` per
 * line: `dir` is `in` for what was written to the CLI, `out` for what it printed) and
 * `<scenario>.meta.json` (argv, environment, findings). Machine-specific values are replaced
 * by `<HOME>`, `<CWD>` and `127.0.0.1:<PORT>`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { cliEnvFor, type FakeAnthropic, startFakeAnthropic } from "../test/fixtures/FakeAnthropic.js"

const root = NodePath.resolve(import.meta.dirname, "..")
const cli = NodePath.join(root, "node_modules", "@anthropic-ai", "claude-code", "bin", "claude.exe")
const out = NodePath.join(root, "test", "fixtures", "cli", "client-tools")
const server = "gateway"

const args = [
  "-p",
  "--input-format",
  "stream-json",
  "--output-format",
  "stream-json",
  "--verbose",
  "--include-partial-messages",
  "--permission-mode",
  "acceptEdits",
  "--tools",
  "",
  "--strict-mcp-config",
  "--allowedTools",
  `mcp__${server}`
]
const env = { CLAUDE_AGENT_SDK_MCP_NO_PREFIX: "1", ENABLE_TOOL_SEARCH: "false" }

const citySchema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
const tool = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  description: `The ${name.replace("_", " ")} of a city`,
  inputSchema: citySchema,
  annotations: { readOnlyHint: true },
  _meta: { "anthropic/maxResultSizeChars": 10_000_000 },
  ...extra
})

interface Frame {
  readonly at: number
  readonly dir: "in" | "out"
  readonly frame: unknown
}

/** One CLI process and the MCP server this script plays for it. */
class Run {
  readonly frames: Array<Frame> = []
  readonly calls: Array<{ readonly requestId: string; readonly id: number; readonly params: any }> = []
  private readonly child: ChildProcess
  private readonly started = Date.now()
  private buffer = ""
  private readonly waiters: Array<{ readonly test: (frame: any) => boolean; readonly resolve: (frame: any) => void }> =
    []

  constructor(
    readonly fake: FakeAnthropic,
    readonly home: string,
    readonly cwd: string,
    private readonly tools: ReadonlyArray<unknown>
  ) {
    this.child = spawn(cli, args, {
      cwd,
      env: { ...process.env, ...cliEnvFor(fake), HOME: home, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", ...env },
      stdio: ["pipe", "pipe", "inherit"]
    })
    this.child.stdout!.on("data", (data: Buffer) => this.read(data.toString()))
  }

  write(frame: unknown) {
    this.frames.push({ at: Date.now() - this.started, dir: "in", frame })
    this.child.stdin!.write(JSON.stringify(frame) + "\n")
  }

  initialize(extra: Record<string, unknown> = {}) {
    this.write({
      type: "control_request",
      request_id: "gateway-init",
      request: { subtype: "initialize", sdkMcpServers: [server], ...extra }
    })
  }

  user(text: string) {
    this.write({ type: "user", message: { role: "user", content: text } })
  }

  answer(index: number, text: string, isError = false) {
    const call = this.calls[index]!
    this.mcp(call.requestId, { jsonrpc: "2.0", id: call.id, result: { content: [{ type: "text", text }], isError } })
  }

  interrupt() {
    this.write({ type: "control_request", request_id: "gateway-interrupt", request: { subtype: "interrupt" } })
  }

  until(test: (frame: any) => boolean, timeoutMs = 20_000): Promise<any> {
    const found = this.frames.find((frame) => frame.dir === "out" && test(frame.frame))
    if (found !== undefined) return Promise.resolve(found.frame)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no such frame")), timeoutMs)
      this.waiters.push({
        test,
        resolve: (frame) => {
          clearTimeout(timer)
          resolve(frame)
        }
      })
    })
  }

  async close() {
    this.child.stdin!.end()
    await new Promise((resolve) => this.child.once("exit", resolve))
  }

  private mcp(requestId: string, message: unknown) {
    this.write({
      type: "control_response",
      response: { subtype: "success", request_id: requestId, response: { mcp_response: message } }
    })
  }

  private read(text: string) {
    this.buffer += text
    for (let index = this.buffer.indexOf("\n"); index !== -1; index = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, index).trim()
      this.buffer = this.buffer.slice(index + 1)
      if (line.length === 0) continue
      const frame = JSON.parse(line)
      this.frames.push({ at: Date.now() - this.started, dir: "out", frame })
      if (frame.type === "control_request" && frame.request?.subtype === "mcp_message") this.serve(frame)
      for (const waiter of [...this.waiters]) {
        if (!waiter.test(frame)) continue
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        waiter.resolve(frame)
      }
    }
  }

  /** The MCP server: answers all but `tools/call`, which it holds for the scenario to answer. */
  private serve(frame: any) {
    const message = frame.request.message
    if (message.id === undefined) return this.mcp(frame.request_id, { jsonrpc: "2.0", result: {}, id: 0 })
    if (message.method === "tools/call") {
      this.calls.push({ requestId: frame.request_id, id: message.id, params: message.params })
      return
    }
    const result = message.method === "initialize"
      ? {
        protocolVersion: message.params.protocolVersion,
        capabilities: { tools: { listChanged: true } },
        serverInfo: { name: server, version: "1" }
      }
      : message.method === "tools/list"
      ? { tools: this.tools }
      : {}
    this.mcp(frame.request_id, { jsonrpc: "2.0", id: message.id, result })
  }
}

const isCall = (frame: any) => frame.type === "control_request" && frame.request?.message?.method === "tools/call"
const isResult = (frame: any) => frame.type === "result"
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Scenario {
  readonly name: string
  readonly shows: string
  readonly tools: ReadonlyArray<unknown>
  readonly play: (run: Run) => Promise<Record<string, unknown>>
}

const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "single",
    shows:
      "R1, R2: the server is connected and its tool offered (bare name) in the turn's first request; the call is held for 2 s, answered, and the same turn goes on with a real tool_result",
    tools: [tool("get_weather")],
    play: async (run) => {
      run.initialize()
      run.user("SCENARIO_TOOL=get_weather what is the weather?")
      await run.until(isCall)
      await sleep(2000)
      run.answer(0, "sunny, 21 C")
      const result = await run.until(isResult)
      return { result: result.result }
    }
  },
  {
    name: "parallel",
    shows:
      "R2: two calls in one message; with readOnlyHint both tools/call arrive before either is answered (without it the CLI dispatches them one after the other)",
    tools: [tool("get_weather"), tool("get_time")],
    play: async (run) => {
      run.initialize()
      run.user("SCENARIO_TOOLS=get_weather,get_time both please")
      await run.until(isCall)
      await sleep(500)
      const held = run.calls.length
      run.answer(1, "noon")
      run.answer(0, "sunny")
      const result = await run.until(isResult)
      return { callsHeldAtOnce: held, result: result.result }
    }
  },
  {
    name: "user_while_held",
    shows:
      "A user line written while a call is held reaches the model in the continuation, after the tool_result, as a system note ('The user sent a new message while you were working')",
    tools: [tool("get_weather")],
    play: async (run) => {
      run.initialize()
      run.user("SCENARIO_TOOL=get_weather x")
      await run.until(isCall)
      run.user("Also, what about tomorrow?")
      run.answer(0, "sunny")
      const result = await run.until(isResult)
      const last = run.fake.requests.filter((request) => request.path === "/v1/messages").at(-1)!.body as any
      return { result: result.result, lastRequestRoles: last.messages.map((message: any) => message.role) }
    }
  },
  {
    name: "interrupt_while_held",
    shows:
      "An interrupt while a call is held: the CLI cancels the call (notifications/cancelled), records a rejection as its tool_result, ends the turn with error_during_execution and keeps the process for the next turn",
    tools: [tool("get_weather")],
    play: async (run) => {
      run.initialize()
      run.user("SCENARIO_TOOL=get_weather x")
      await run.until(isCall)
      run.interrupt()
      const result = await run.until(isResult)
      run.user("hello again")
      await run.until((frame) => isResult(frame) && frame !== result)
      return { subtype: result.subtype }
    }
  },
  {
    name: "error_and_large_results",
    shows:
      "R6: isError reaches the model as tool_result.is_error; a 300 KB result passes whole with _meta anthropic/maxResultSizeChars (without it the CLI saves it to a file and tells the model to read it)",
    tools: [tool("get_weather"), tool("get_time")],
    play: async (run) => {
      run.initialize()
      run.user("SCENARIO_TOOLS=get_weather,get_time x")
      await run.until(isCall)
      await sleep(300)
      run.answer(0, "city not found", true)
      run.answer(1, "T".repeat(300_000))
      const result = await run.until(isResult)
      const last = run.fake.requests.filter((request) => request.path === "/v1/messages").at(-1)!.body as any
      const results = last.messages.at(-1).content.filter((block: any) => block.type === "tool_result")
      return {
        result: String(result.result).slice(0, 40),
        toolResults: results.map((block: any) => ({
          isError: block.is_error === true,
          chars: JSON.stringify(block.content).length
        }))
      }
    }
  },
  {
    name: "system_prompt_in_initialize",
    shows:
      "Item 6: a 1 MiB appendSystemPrompt given in the initialize control request (not argv) reaches the upstream's system prompt whole",
    tools: [],
    play: async (run) => {
      run.initialize({ appendSystemPrompt: `SYSTEM-MARK ${"x".repeat(1024 * 1024)}` })
      run.user("hello")
      const result = await run.until(isResult, 60_000)
      const first = run.fake.requests.find((request) => request.path === "/v1/messages")!.body as any
      const system = JSON.stringify(first.system)
      return {
        result: String(result.result).slice(0, 40),
        systemChars: system.length,
        marked: system.includes("SYSTEM-MARK")
      }
    }
  }
]

const placeholders = (text: string, run: Run) =>
  text.replaceAll(run.home, "<HOME>").replaceAll(run.cwd, "<CWD>").replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<PORT>")

/** Long strings (the 1 MiB prompt, the 300 KB result) are shortened in the recording. */
const shorten = (value: unknown): unknown =>
  typeof value === "string" && value.length > 2000
    ? `${value.slice(0, 200)}…<${value.length} chars>`
    : Array.isArray(value)
    ? value.map(shorten)
    : typeof value === "object" && value !== null
    ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, shorten(inner)]))
    : value

NodeFs.mkdirSync(out, { recursive: true })
const only = process.argv.slice(2)
for (const scenario of scenarios.filter((candidate) => only.length === 0 || only.includes(candidate.name))) {
  const fake = await startFakeAnthropic()
  const home = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "record-home-"))
  const cwd = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "record-cwd-"))
  const run = new Run(fake, home, cwd, scenario.tools)
  const findings = await scenario.play(run)
  await run.close()
  await fake.close()
  const frames = run.frames.map((frame) => placeholders(JSON.stringify(shorten(frame)), run)).join("\n") + "\n"
  NodeFs.writeFileSync(NodePath.join(out, `${scenario.name}.frames.jsonl`), frames)
  const meta = { cli: "2.1.197", argv: ["claude", ...args], env, shows: scenario.shows, findings }
  NodeFs.writeFileSync(NodePath.join(out, `${scenario.name}.meta.json`), JSON.stringify(meta, null, 2) + "\n")
  NodeFs.rmSync(home, { recursive: true, force: true })
  NodeFs.rmSync(cwd, { recursive: true, force: true })
  console.log(`${scenario.name}: ${JSON.stringify(findings)}`)
}
