/**
 * End to end: Anthropic's Messages API through the gateway, with the official
 * `@anthropic-ai/sdk` (unmodified) and raw `fetch` where the exact wire matters, against the
 * REAL Claude Code CLI and the fake Anthropic API.
 *
 * What it shows: `messages.create` and `messages.stream()` agree; the stream's events come in
 * Anthropic's order; usage carries the cache tokens; thinking, stop sequences and images pass;
 * the client's tools round-trip on one warm CLI process (a three-step loop included); errors
 * use Anthropic's envelope (bad tools, auth); `count_tokens` estimates; `/v1/models` answers an
 * Anthropic client in its shape; the turns are sessions like any other.
 */
import Anthropic from "@anthropic-ai/sdk"
import { Redacted } from "effect"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { FakeAnthropic, RecordedRequest } from "../fixtures/FakeAnthropic.js"
import { type Gateway, realCliConfig, realCliPath, startGateway } from "../support/Gateway.js"
import { type RealCliSuite, startRealCliSuite } from "../support/RealCliSuite.js"

const MODEL = "claude-sonnet-4-5-20250929"
const weather: Anthropic.Tool = {
  name: "get_weather",
  description: "The weather of a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

let fake: FakeAnthropic
let gateway: Gateway
let client: Anthropic
let suiteRoot: string
let homeDir: string
let suite: RealCliSuite | undefined
const extraGateways: Array<Gateway> = []

/** A 1×1 transparent PNG. */
const tinyPng = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 8)}`

const upstreamCalls = (): ReadonlyArray<RecordedRequest> =>
  fake.requests.filter((request) => request.method === "POST" && request.path === "/v1/messages")

const eventsOf = async (sessionId: string) => {
  const response = await fetch(`${gateway.url}/v1/sessions/${sessionId}/events?limit=1000`)
  return ((await response.json()) as { data: ReadonlyArray<{ type: string; data: Record<string, unknown> }> }).data
}

const textOf = (message: Anthropic.Message) =>
  message.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("")

/** Creates a message and returns it with the session the gateway ran it in. */
const create = async (params: Omit<Anthropic.MessageCreateParamsNonStreaming, "model" | "max_tokens">) => {
  const { data, response } = await client.messages.create({ model: MODEL, max_tokens: 1024, ...params }).withResponse()
  return { message: data, sessionId: response.headers.get("x-session-id")! }
}

/** The SSE events of a raw streamed request: `[event name, data]`. */
const rawStream = async (body: Record<string, unknown>) => {
  const response = await fetch(`${gateway.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: MODEL, max_tokens: 1024, stream: true, ...body })
  })
  expect(response.status).toBe(200)
  const text = await response.text()
  return text.split("\n\n").filter((frame) => frame.trim().length > 0).map((frame) => {
    const name = /^event: (.+)$/m.exec(frame)?.[1]
    const data = JSON.parse(/^data: (.+)$/m.exec(frame)![1]!) as { type: string; index?: number }
    return [name, data] as const
  })
}

/** Checks Anthropic's grammar: start first, blocks opened, filled and closed in turn, delta then stop last. */
const expectWellFormed = (events: ReadonlyArray<readonly [string | undefined, { type: string; index?: number }]>) => {
  for (const [name, data] of events) expect(name).toBe(data.type)
  const types = events.map(([, data]) => data.type).filter((type) => type !== "ping")
  expect(types[0]).toBe("message_start")
  expect(types.slice(-2)).toEqual(["message_delta", "message_stop"])
  let open: number | null = null
  let next = 0
  for (const [, data] of events) {
    if (data.type === "content_block_start") {
      expect(open).toBeNull()
      expect(data.index).toBe(next++)
      open = data.index!
    } else if (data.type === "content_block_delta") {
      expect(data.index).toBe(open)
    } else if (data.type === "content_block_stop") {
      expect(data.index).toBe(open)
      open = null
    }
  }
  expect(open).toBeNull()
}

describe("Anthropic's Messages API with the real Claude Code CLI", () => {
  beforeAll(async () => {
    suite = await startRealCliSuite("cca-e2e-messages-")
    ;({ fake, gateway, home: homeDir, root: suiteRoot } = suite)
    client = new Anthropic({ baseURL: gateway.url, apiKey: "test", maxRetries: 0 })
  })

  afterAll(async () => {
    for (const extra of extraGateways) await extra.close()
    expect(await suite?.close()).toEqual([])
  })

  it("creates a message and streams the same one, with usage including the cache tokens", async () => {
    const question = `Hello ${unique("hello")}`
    const { message, sessionId } = await create({
      system: "Be brief.",
      messages: [{ role: "user", content: question }]
    })
    expect(message).toMatchObject({ type: "message", role: "assistant", stop_reason: "end_turn", stop_sequence: null })
    expect(message.id).toMatch(/^msg_/)
    expect(textOf(message)).toContain(`You said: ${question}`)
    expect(message.usage).toMatchObject({ cache_read_input_tokens: 7, cache_creation_input_tokens: 3 })
    expect(message.usage.input_tokens).toBeGreaterThan(0)
    expect(message.usage.output_tokens).toBeGreaterThan(0)
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/)

    const streamed = await client.messages.stream({
      model: MODEL,
      max_tokens: 1024,
      messages: [{ role: "user", content: question }]
    }).finalMessage()
    expect(textOf(streamed)).toBe(textOf(message))
    expect(streamed.usage).toMatchObject({ cache_read_input_tokens: 7, cache_creation_input_tokens: 3 })
    expect(streamed.usage.output_tokens).toBe(message.usage.output_tokens)
  })

  it("streams Anthropic's events in order: thinking and text blocks, then message_delta and message_stop", async () => {
    const events = await rawStream({ messages: [{ role: "user", content: `SCENARIO_THINK ${unique("think")}` }] })
    expectWellFormed(events)
    const starts = events.filter(([, data]) => data.type === "content_block_start")
      .map(([, data]) => (data as unknown as { content_block: { type: string } }).content_block.type)
    expect(starts).toEqual(["thinking", "text"])
    // message_start carries the input the upstream announced as the answer began, as Anthropic's does.
    const start = events[0]![1] as unknown as { message: { usage: Record<string, number> } }
    expect(start.message.usage.input_tokens).toBeGreaterThan(0)
    expect(start.message.usage).toMatchObject({ cache_read_input_tokens: 7, cache_creation_input_tokens: 3 })
  })

  it("passes images to Claude Code as image blocks", async () => {
    const { message } = await create({
      messages: [{
        role: "user",
        content: [
          { type: "text", text: `SCENARIO_IMAGE ${unique("image")}` },
          { type: "image", source: { type: "base64", media_type: "image/png", data: tinyPng } }
        ]
      }]
    })
    expect(textOf(message)).toContain("images=1 media=image/png")
  })

  it("cuts the text at a stop sequence and says which one", async () => {
    const { message } = await create({
      messages: [{ role: "user", content: `SCENARIO_STOP ${unique("stop")}` }],
      stop_sequences: ["STOPWORD"]
    })
    expect(message.stop_reason).toBe("stop_sequence")
    expect(message.stop_sequence).toBe("STOPWORD")
    expect(textOf(message)).not.toContain("STOPWORD")
  })

  it("round-trips the client's tools on one warm CLI process, streamed and not", async () => {
    const question: Anthropic.MessageParam = { role: "user", content: `SCENARIO_TOOL=get_weather ${unique("tools")}` }
    const first = await create({ messages: [question], tools: [weather] })
    expect(first.message.stop_reason).toBe("tool_use")
    expect(first.message.content).toEqual([
      { type: "text", text: "Let me use get_weather." },
      { type: "tool_use", id: expect.stringMatching(/^toolu_/), name: "get_weather", input: { city: "fake" } }
    ])
    const call = first.message.content[1] as Anthropic.ToolUseBlock

    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 1024,
      tools: [weather],
      messages: [
        question,
        { role: "assistant", content: first.message.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny, 21 C" }] }
      ]
    })
    const second = await stream.finalMessage()
    expect(textOf(second)).toBe("Tool said: sunny, 21 C")
    expect(second.stop_reason).toBe("end_turn")
    const sessionId = (await stream.withResponse()).response.headers.get("x-session-id")
    expect(sessionId).toBe(first.sessionId)
    const attached = (await eventsOf(first.sessionId)).filter((event) => event.type === "TurnAttached")
    expect(new Set(attached.map((event) => event.data.cliSessionId)).size).toBe(1)
    const last = upstreamCalls().filter((r) => JSON.stringify(r.body).includes("sunny, 21 C")).at(-1)!
    const messages = (last.body as { messages: ReadonlyArray<{ content: unknown }> }).messages
    expect(JSON.stringify(messages.at(-1)!.content)).toContain(`"tool_use_id":"${call.id}"`)
  })

  it("runs a three-step tool loop on one CLI process, streamed and not by turns, tool errors included", async () => {
    const messages: Array<Anthropic.MessageParam> = [{
      role: "user",
      content: `SCENARIO_TOOL_LOOP=3:get_weather ${unique("loop")}`
    }]
    let sessionId = ""
    for (let step = 1; step <= 4; step++) {
      // Odd steps through the SDK's stream helper (its accumulator parses every event), even ones as JSON.
      const { message, sessionId: session } = step % 2 === 1
        ? await (async () => {
          const stream = client.messages.stream({ model: MODEL, max_tokens: 1024, messages, tools: [weather] })
          const final = await stream.finalMessage()
          return { message: final, sessionId: (await stream.withResponse()).response.headers.get("x-session-id")! }
        })()
        : await create({ messages, tools: [weather] })
      sessionId ||= session
      expect(session).toBe(sessionId)
      messages.push({ role: "assistant", content: message.content })
      if (step === 4) {
        expect(message.stop_reason).toBe("end_turn")
        expect(textOf(message)).toBe("Tool failed: result 3")
        break
      }
      expect(message.stop_reason).toBe("tool_use")
      const call = message.content.find((block) => block.type === "tool_use")!
      messages.push({
        role: "user",
        content: [{ type: "tool_result", tool_use_id: call.id, content: `result ${step}`, is_error: step === 3 }]
      })
    }
    const attached = (await eventsOf(sessionId)).filter((event) => event.type === "TurnAttached")
    expect(attached.length).toBe(4)
    expect(new Set(attached.map((event) => event.data.cliSessionId)).size).toBe(1)
  })

  it("serves Claude Code itself as a client: its own Bash tool runs on its side, the step on one warm process", async () => {
    const clientHome = NodePath.join(suiteRoot, "client-home")
    const workDir = NodePath.join(suiteRoot, "client-work")
    NodeFs.mkdirSync(clientHome, { recursive: true })
    NodeFs.mkdirSync(workDir, { recursive: true })
    const marker = unique("client")
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = NodeChildProcess.spawn(
        realCliPath,
        ["-p", `SCENARIO_BASH ${marker}`, "--output-format", "json", "--permission-mode", "acceptEdits"],
        {
          cwd: workDir,
          stdio: ["ignore", "pipe", "pipe"],
          env: {
            ...process.env,
            HOME: clientHome,
            ANTHROPIC_BASE_URL: gateway.url,
            ANTHROPIC_API_KEY: "test",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
            CLAUDE_CODE_MAX_RETRIES: "0"
          }
        }
      )
      let stdout = ""
      child.stdout.on("data", (data) => (stdout += String(data)))
      child.on("exit", (code) => resolve({ code, stdout }))
    })
    expect(result.code).toBe(0)
    // The client ran `echo hi` itself; the model saw its output as the tool's result.
    expect(JSON.parse(result.stdout)).toMatchObject({ is_error: false, result: "Tool said: hi", num_turns: 2 })
    const sessions = (await (await fetch(`${gateway.url}/v1/sessions?limit=100`)).json()) as {
      data: ReadonlyArray<{ id: string }>
    }
    const mine = []
    for (const session of sessions.data) {
      const events = await eventsOf(session.id)
      if (JSON.stringify(events).includes(marker)) mine.push(events)
    }
    expect(mine.length).toBe(1)
    const attached = mine[0]!.filter((event) => event.type === "TurnAttached")
    expect(attached.length).toBe(2)
    expect(new Set(attached.map((event) => event.data.cliSessionId)).size).toBe(1)
    expect(mine[0]!.filter((event) => event.type === "ToolCallStarted").map((event) => event.data.name)).toEqual([
      "Bash"
    ])
  })

  it("answers errors in Anthropic's envelope: a bad tool, a bad body, a missing key", async () => {
    const bad = await client.messages.create({
      model: MODEL,
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
      tools: [{ name: "has space", input_schema: { type: "object" } }]
    }).catch((error: unknown) => error)
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError)
    expect((bad as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringContaining("tools[0].name") }
    })
    const tooLong = await client.messages.create({
      model: MODEL,
      max_tokens: 10,
      messages: [{ role: "user", content: `SCENARIO_TOO_LONG ${unique("long")}` }]
    }).catch((error: unknown) => error)
    expect((tooLong as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringMatching(/prompt is too long/i) }
    })
    const empty = await fetch(`${gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [] })
    })
    expect(empty.status).toBe(400)
    expect(await empty.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })

    const locked = await startGateway({
      ...realCliConfig(fake, homeDir),
      databasePath: NodePath.join(suiteRoot, "locked.db"),
      projectRoot: NodePath.join(suiteRoot, "locked"),
      requireAuth: true,
      apiKeys: [Redacted.make("right-key")]
    })
    extraGateways.push(locked)
    const denied = await new Anthropic({ baseURL: locked.url, apiKey: "wrong-key", maxRetries: 0 }).messages.create({
      model: MODEL,
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }]
    }).catch((error: unknown) => error)
    expect(denied).toBeInstanceOf(Anthropic.AuthenticationError)
    expect((denied as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({
      type: "error",
      error: { type: "authentication_error" }
    })
  })

  it("estimates input tokens, and lists models in Anthropic's shape for an Anthropic client", async () => {
    const counted = await client.messages.countTokens({
      model: MODEL,
      messages: [{ role: "user", content: "x".repeat(400) }]
    })
    expect(counted.input_tokens).toBeGreaterThanOrEqual(100)
    expect(counted.input_tokens).toBeLessThan(200)
    const models = await client.models.list()
    const first = models.data[0]!
    expect(first.type).toBe("model")
    expect(typeof first.display_name).toBe("string")
    expect(Number.isNaN(Date.parse(first.created_at))).toBe(false)
    const one = await client.models.retrieve(first.id)
    expect(one.id).toBe(first.id)
  })
})
