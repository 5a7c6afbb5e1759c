/**
 * `POST /v1/chat/completions` end to end: the whole gateway on an ephemeral port with the
 * fake CLI, driven by the official `openai` SDK (and by `fetch` where the raw bytes,
 * headers or statuses matter), with the event log read on the gateway's own database connection.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import OpenAI from "openai"
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fakeCliPath, type Gateway, startGateway, tempDirectory } from "../support/Gateway.js"

// ---------------------------------------------------------------------------
// Helpers

interface ToolUseExtension {
  readonly id: string
  readonly name: string
  readonly input: unknown
  readonly output: string | null
  readonly is_error: boolean
}

/** A completion with the gateway's extensions. */
type GatewayCompletion = ChatCompletion & {
  readonly session_id: string
  readonly project_id: string
  readonly usage: ChatCompletion["usage"] & { readonly cost_usd?: number | null }
  readonly choices: ReadonlyArray<
    ChatCompletion["choices"][number] & {
      readonly message: ChatCompletion["choices"][number]["message"] & {
        readonly reasoning_content?: string
        readonly claude_code_tool_uses?: ReadonlyArray<ToolUseExtension>
      }
    }
  >
}

/** A chunk as parsed from the wire, extensions included. */
interface RawChunk {
  readonly id: string
  readonly object: string
  readonly created: number
  readonly model: string
  readonly choices: ReadonlyArray<{
    readonly index: number
    readonly delta: Record<string, unknown> & { readonly content?: string; readonly role?: string }
    readonly finish_reason: string | null
  }>
  readonly usage?: Record<string, unknown>
  readonly error?: { readonly message: string; readonly type: string; readonly code: string | null }
}

interface ErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

interface LogRow {
  readonly session_id: string
  readonly sequence: number
  readonly type: string
  readonly data: string
}

/** A session's log, in order. */
const logOf = (gateway: Gateway, sessionId: string): Promise<ReadonlyArray<LogRow>> =>
  gateway.query((sql) =>
    sql<LogRow>`SELECT session_id, sequence, type, data FROM session_events
      WHERE session_id = ${sessionId} ORDER BY sequence`
  )

/** The session whose turn was started with a message containing `marker` (error answers carry no session header). */
const sessionWithMarker = async (gateway: Gateway, marker: string): Promise<string> => {
  const rows = await gateway.query((sql) =>
    sql<{ readonly session_id: string }>`SELECT DISTINCT session_id FROM session_events
      WHERE type = 'TurnStarted' AND data LIKE ${`%${marker}%`}`
  )
  expect(rows).toHaveLength(1)
  return rows[0]!.session_id
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls until `f` returns a value (not undefined) or the deadline passes. */
const eventually = async <A>(
  f: () => Promise<A | undefined>,
  timeoutMs = 10_000,
  intervalMs = 50
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await f()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(intervalMs)
  }
}

/** Waits until the session's log ends with a terminal event, and returns the log. */
const settledLog = (gateway: Gateway, sessionId: string) =>
  eventually(async () => {
    const log = await logOf(gateway, sessionId)
    const last = log[log.length - 1]
    return last !== undefined && ["TurnCompleted", "TurnFailed", "TurnCancelled"].includes(last.type) ? log : undefined
  })

const expectContiguousFromOne = (log: ReadonlyArray<LogRow>) =>
  expect(log.map((row) => row.sequence)).toEqual(log.map((_, index) => index + 1))

/** Asserts that the log ends with `TurnFailed` carrying an error with `tag`. */
const expectFailedWith = async (gateway: Gateway, sessionId: string, tag: string) => {
  const log = await settledLog(gateway, sessionId)
  expectContiguousFromOne(log)
  expect(log[0]!.type).toBe("SessionCreated")
  expect(log[1]!.type).toBe("TurnStarted")
  const last = log[log.length - 1]!
  expect(last.type).toBe("TurnFailed")
  const data = JSON.parse(last.data) as { readonly _tag: string; readonly error: { readonly _tag: string } }
  expect(data._tag).toBe("TurnFailed")
  expect(data.error._tag).toBe(tag)
  return log
}

const post = (gateway: Gateway, body: unknown, signal?: AbortSignal): Promise<Response> =>
  fetch(`${gateway.baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer test" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...(signal !== undefined ? { signal } : {})
  })

/** Asserts an OpenAI error envelope with exactly the four fields. */
const expectEnvelope = async (
  response: Response,
  status: number,
  expected: { readonly param?: string | null; readonly code?: string | null; readonly type?: string } = {}
): Promise<ErrorBody["error"]> => {
  const text = await response.text()
  expect(response.status, text).toBe(status)
  expect(response.headers.get("content-type")).toMatch(/^application\/json/)
  const body = JSON.parse(text) as ErrorBody
  expect(Object.keys(body)).toEqual(["error"])
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"])
  expect(typeof body.error.message).toBe("string")
  expect(body.error.message.length).toBeGreaterThan(0)
  expect(typeof body.error.type).toBe("string")
  if (expected.param !== undefined) expect(body.error.param).toBe(expected.param)
  if (expected.code !== undefined) expect(body.error.code).toBe(expected.code)
  if (expected.type !== undefined) expect(body.error.type).toBe(expected.type)
  return body.error
}

/** The SSE `data:` payloads of a body, in order; comments are ignored, every frame is checked. */
const dataPayloads = (body: string): ReadonlyArray<string> => {
  const payloads: Array<string> = []
  for (const frame of body.split("\n\n")) {
    if (frame.trim() === "") continue
    const lines = frame.split("\n").filter((line) => !line.startsWith(":"))
    if (lines.length === 0) continue
    for (const line of lines) {
      expect(line.startsWith("data: "), `unexpected SSE line ${JSON.stringify(line)}`).toBe(true)
    }
    payloads.push(lines.map((line) => line.slice("data: ".length)).join("\n"))
  }
  return payloads
}

/** Parses an SSE body: every payload but the final `[DONE]` must be JSON. */
const parseSse = (body: string): ReadonlyArray<RawChunk> => {
  const payloads = dataPayloads(body)
  expect(payloads[payloads.length - 1]).toBe("[DONE]")
  expect(payloads.filter((payload) => payload === "[DONE]")).toHaveLength(1)
  return payloads.slice(0, -1).map((payload) => JSON.parse(payload) as RawChunk)
}

const textOfChunks = (
  chunks: ReadonlyArray<{ readonly choices: ReadonlyArray<{ readonly delta: { readonly content?: string | null } }> }>
) => chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")

/** Reads a streamed body for up to `ms`, then aborts the request. */
const readFor = async (
  response: Response,
  controller: AbortController,
  until: (sofar: string) => boolean,
  ms: number
): Promise<string> => {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ""
  const deadline = Date.now() + ms
  try {
    while (Date.now() < deadline && !until(text)) {
      const result = await Promise.race([
        reader.read(),
        sleep(Math.max(1, deadline - Date.now())).then(() => "timeout" as const)
      ])
      if (result === "timeout" || result.done) break
      text += decoder.decode(result.value, { stream: true })
    }
  } finally {
    controller.abort()
    await reader.cancel().catch(() => undefined)
  }
  return text
}

const clientFor = (gateway: Gateway) => new OpenAI({ baseURL: gateway.baseURL, apiKey: "test", maxRetries: 0 })

/** The error a promise rejects with. */
const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected the promise to reject")
}

type ApiError = InstanceType<typeof OpenAI.APIError>

const expectSdkError = async <E extends abstract new(...args: never) => ApiError>(
  promise: Promise<unknown>,
  errorClass: E,
  expected: { readonly status: number; readonly code?: string | null; readonly param?: string | null }
): Promise<InstanceType<E>> => {
  const error = await rejectionOf(promise)
  expect(error).toBeInstanceOf(errorClass)
  const apiError = error as InstanceType<E>
  expect(apiError.status).toBe(expected.status)
  if (expected.code !== undefined) expect(apiError.code).toBe(expected.code)
  if (expected.param !== undefined) expect(apiError.param).toBe(expected.param)
  return apiError
}

// A 1×1 transparent PNG.
const tinyPng = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

const SONNET = "claude-sonnet-4-5-20250929"

// ---------------------------------------------------------------------------
// 1. Non-streaming

describe("non-streaming chat completions", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = clientFor(gateway)
  })
  afterAll(() => gateway.close())

  it("answers a chat.completion with the echo, the resolved model, usage and the session extensions", async () => {
    const completion = (await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "hello there" }]
    })) as GatewayCompletion
    expect(completion.object).toBe("chat.completion")
    expect(completion.id).toMatch(/^chatcmpl-[A-Za-z0-9]+$/)
    expect(completion.model).toBe(SONNET)
    expect(typeof completion.created).toBe("number")
    expect(Math.abs(completion.created - Date.now() / 1000)).toBeLessThan(60)
    expect(completion.choices).toHaveLength(1)
    const choice = completion.choices[0]!
    expect(choice.index).toBe(0)
    expect(choice.finish_reason).toBe("stop")
    expect(choice.message.role).toBe("assistant")
    expect(choice.message.content).toBe("Echo: hello there [turn=1]")
    expect(choice.message.tool_calls).toBeUndefined()
    expect(completion.project_id).toBe("default")
    expect(completion.session_id).toMatch(/^[0-9a-f-]{36}$/)

    // "Echo: " "hello " "there " "[turn=1]" -> four text deltas, so four output tokens.
    expect(completion.usage).toMatchObject({
      prompt_tokens: 150,
      completion_tokens: 4,
      total_tokens: 154,
      prompt_tokens_details: { cached_tokens: 30 },
      cost_usd: 0.0123
    })
  })

  it("reports the CLI's own model when the request names none", async () => {
    const completion = (await client.chat.completions.create({
      messages: [{ role: "user", content: "which model" }]
    } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)) as GatewayCompletion
    expect(completion.model).toBe("claude-opus-4-8")
    expect(completion.choices[0]!.message.content).toBe("Echo: which model [turn=1]")
  })

  it("sends x-session-id and x-project-id headers matching the body", async () => {
    const response = await post(gateway, { model: "sonnet", messages: [{ role: "user", content: "headers please" }] })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^application\/json/)
    const body = (await response.json()) as GatewayCompletion
    expect(response.headers.get("x-session-id")).toBe(body.session_id)
    expect(response.headers.get("x-project-id")).toBe("default")
  })

  it("logs a successful turn as SessionCreated, TurnStarted, TurnAttached, TextDelta…, TurnCompleted", async () => {
    const completion = (await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "log me" }]
    })) as GatewayCompletion
    const log = await settledLog(gateway, completion.session_id)
    expectContiguousFromOne(log)
    const types = log.map((row) => row.type)
    expect(types[0]).toBe("SessionCreated")
    expect(types[1]).toBe("TurnStarted")
    expect(types[2]).toBe("TurnAttached")
    expect(types[types.length - 1]).toBe("TurnCompleted")
    const middle = types.slice(3, -1)
    expect(middle.length).toBeGreaterThan(1)
    expect(middle.every((type) => type === "TextDelta")).toBe(true)
    const deltas = log.filter((row) => row.type === "TextDelta").map((row) =>
      (JSON.parse(row.data) as { text: string }).text
    )
    expect(deltas.join("")).toBe(completion.choices[0]!.message.content)
    const completed = JSON.parse(log[log.length - 1]!.data) as { model: string; costUsd: number }
    expect(completed.model).toBe(SONNET)
    expect(completed.costUsd).toBe(0.0123)
  })
})

// ---------------------------------------------------------------------------
// 2. Streaming

describe("streaming chat completions", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = clientFor(gateway)
  })
  afterAll(() => gateway.close())

  it("streams real token deltas whose concatenation equals the non-streamed text", async () => {
    const prompt = "stream these words for me"
    const whole = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: prompt }]
    })
    const stream = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: prompt }],
      stream: true
    })
    const chunks: Array<ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)
    const contentChunks = chunks.filter((chunk) => (chunk.choices[0]?.delta.content ?? "").length > 0)
    expect(contentChunks.length).toBeGreaterThan(1)
    expect(textOfChunks(chunks)).toBe(whole.choices[0]!.message.content)
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk")).toBe(true)
    expect(chunks.every((chunk) => chunk.model === SONNET)).toBe(true)
    expect(chunks.every((chunk) => chunk.usage === undefined || chunk.usage === null)).toBe(true)
    expect(chunks[chunks.length - 1]!.choices[0]!.finish_reason).toBe("stop")
    expect(chunks.slice(0, -1).every((chunk) => chunk.choices[0]!.finish_reason === null)).toBe(true)
  })

  it("works with the SDK's stream() helper and finalChatCompletion()", async () => {
    const stream = client.chat.completions.stream({
      model: "sonnet",
      messages: [{ role: "user", content: "helper check" }],
      stream_options: { include_usage: true }
    })
    const final = await stream.finalChatCompletion()
    expect(final.choices[0]!.message.role).toBe("assistant")
    expect(final.choices[0]!.message.content).toBe("Echo: helper check [turn=1]")
    expect(final.choices[0]!.finish_reason).toBe("stop")
    expect(final.model).toBe(SONNET)
    expect(final.usage?.prompt_tokens).toBe(150)
  })

  it("ends with a usage chunk (choices: []) only when include_usage is set", async () => {
    const stream = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "count my tokens" }],
      stream: true,
      stream_options: { include_usage: true }
    })
    const chunks: Array<ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)
    const last = chunks[chunks.length - 1]!
    expect(last.choices).toEqual([])
    const contentDeltas = chunks.filter((chunk) => (chunk.choices[0]?.delta.content ?? "").length > 0).length
    expect(last.usage).toMatchObject({
      prompt_tokens: 150,
      completion_tokens: contentDeltas,
      total_tokens: 150 + contentDeltas,
      prompt_tokens_details: { cached_tokens: 30 },
      cost_usd: 0.0123
    })
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === undefined || chunk.usage === null)).toBe(true)
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1)
  })

  it("frames the stream correctly on the wire", async () => {
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: "raw frames" }],
      stream: true
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const sessionId = response.headers.get("x-session-id")
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/)
    expect(response.headers.get("x-project-id")).toBe("default")
    const body = await response.text()
    expect(body.endsWith("data: [DONE]\n\n")).toBe(true)
    const chunks = parseSse(body)
    expect(chunks.length).toBeGreaterThan(3)
    const first = chunks[0]!
    expect(first.id).toMatch(/^chatcmpl-/)
    for (const chunk of chunks) {
      expect(chunk.id).toBe(first.id)
      expect(chunk.created).toBe(first.created)
      expect(chunk.model).toBe(first.model)
      expect(chunk.object).toBe("chat.completion.chunk")
      expect(chunk.choices).toHaveLength(1)
      expect(chunk.choices[0]!.index).toBe(0)
      expect(chunk.usage).toBeUndefined()
    }
    expect(first.model).toBe(SONNET)
    expect(first.choices[0]!.delta).toEqual({ role: "assistant", content: "" })
    expect(first.choices[0]!.finish_reason).toBeNull()
    const last = chunks[chunks.length - 1]!
    expect(last.choices[0]!.delta).toEqual({})
    expect(last.choices[0]!.finish_reason).toBe("stop")
    expect(chunks.slice(0, -1).every((chunk) => chunk.choices[0]!.finish_reason === null)).toBe(true)
    expect(textOfChunks(chunks)).toBe("Echo: raw frames [turn=1]")

    const log = await settledLog(gateway, sessionId!)
    expect(log[log.length - 1]!.type).toBe("TurnCompleted")
  })
})

describe("SSE keep-alive", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ sseKeepAliveSeconds: 1, cliEnv: { FAKE_CLAUDE_DELAY_MS: "1300" } })
  })
  afterAll(() => gateway.close())

  it("sends ': keep-alive' comments between data frames during silent stretches", async () => {
    const controller = new AbortController()
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_SLOW please" }],
      stream: true
    }, controller.signal)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    // data (role), keep-alive, data (w1), keep-alive, data (w2)
    const pattern = /^data: [^\n]*\n\n(?:.*\n\n)*?: keep-alive\n\n(?:.*\n\n)*?data: [^\n]*\n\n/s
    const body = await readFor(
      response,
      controller,
      (sofar) => /: keep-alive\n\n[\s\S]*data: [\s\S]*: keep-alive\n\n[\s\S]*data: /.test(sofar),
      6_000
    )
    expect(body).toMatch(pattern)
    const lines = body.split("\n").filter((line) => line.length > 0)
    const firstKeepAlive = lines.indexOf(": keep-alive")
    expect(firstKeepAlive).toBeGreaterThan(0)
    expect(lines.slice(0, firstKeepAlive).some((line) => line.startsWith("data: "))).toBe(true)
    expect(lines.slice(firstKeepAlive + 1).some((line) => line.startsWith("data: "))).toBe(true)
    // Every non-comment line is still a JSON data line.
    for (const line of lines.filter((line) => line.startsWith("data: "))) {
      expect(() => JSON.parse(line.slice(6))).not.toThrow()
    }
  })
})

// ---------------------------------------------------------------------------
// 3. Content

describe("message content", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = clientFor(gateway)
  })
  afterAll(() => gateway.close())

  const echoedArgs = async (
    params: Omit<OpenAI.ChatCompletionCreateParamsNonStreaming, "model"> & { model?: string }
  ) => {
    const completion = await client.chat.completions.create(params as OpenAI.ChatCompletionCreateParamsNonStreaming)
    return JSON.parse(completion.choices[0]!.message.content!) as {
      readonly argv: ReadonlyArray<string>
      readonly initialize: Record<string, unknown> | null
      readonly cwd: string
      readonly env: Record<string, string | null>
    }
  }

  it("merges system and developer messages into the appended system prompt (sent in initialize, not argv)", async () => {
    const echoed = await echoedArgs({
      messages: [
        { role: "system", content: "alpha" },
        { role: "developer", content: "beta" },
        { role: "user", content: "FAKE_ECHO_ARGS" }
      ]
    })
    expect(echoed.initialize).toEqual({ subtype: "initialize", appendSystemPrompt: "alpha\n\nbeta" })
    expect(echoed.argv).not.toContain("--append-system-prompt")
    expect(echoed.argv).not.toContain("--system-prompt")
    expect(echoed.cwd).toBe(NodePath.join(gateway.projectRoot, "default"))
  })

  it("passes no --model when the request names none, and --model when it does", async () => {
    const without = await echoedArgs({ messages: [{ role: "user", content: "FAKE_ECHO_ARGS" }] })
    expect(without.argv).not.toContain("--model")
    expect(without.argv).not.toContain("--append-system-prompt")
    const withModel = await echoedArgs({ model: "sonnet", messages: [{ role: "user", content: "FAKE_ECHO_ARGS" }] })
    const index = withModel.argv.indexOf("--model")
    expect(withModel.argv[index + 1]).toBe(SONNET)
  })

  it("accepts text content parts", async () => {
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: [{ type: "text", text: "from a part" }] }]
    })
    expect(completion.choices[0]!.message.content).toBe("Echo: from a part [turn=1]")
  })

  it("passes a base64 data-URL image to the CLI", async () => {
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [{
        role: "user",
        content: [
          { type: "text", text: "FAKE_IMAGE what is this" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${tinyPng}` } }
        ]
      }]
    })
    expect(completion.choices[0]!.message.content).toBe("images=1")
  })

  it("refuses a remote image URL with 400 unsupported_image_url", async () => {
    const body = {
      model: "sonnet",
      messages: [{
        role: "user" as const,
        content: [
          { type: "image_url" as const, image_url: { url: "https://example.com/cat.png" } },
          { type: "text" as const, text: "what is this" }
        ]
      }]
    }
    await expectEnvelope(await post(gateway, body), 400, {
      param: "messages[0].content[0].image_url.url",
      code: "unsupported_image_url",
      type: "invalid_request_error"
    })
    await expectSdkError(client.chat.completions.create(body), OpenAI.BadRequestError, {
      status: 400,
      code: "unsupported_image_url",
      param: "messages[0].content[0].image_url.url"
    })
  })

  it("handles a 300 KB user message (sent on stdin, not argv)", async () => {
    const big = "x".repeat(300 * 1024)
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: `big-start ${big} big-end` }]
    })
    const content = completion.choices[0]!.message.content!
    expect(content.startsWith("Echo: big-start ")).toBe(true)
    expect(content).toContain(big)
    expect(content.endsWith("big-end [turn=1]")).toBe(true)
  })

  it("prefixes a transcript of earlier messages", async () => {
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [
        { role: "user", content: "first-question-kiwi" },
        { role: "assistant", content: "first-answer-mango" },
        { role: "user", content: "second-question-plum" }
      ]
    })
    const content = completion.choices[0]!.message.content!
    expect(content.startsWith("Echo: ")).toBe(true)
    expect(content).toContain("first-question-kiwi")
    expect(content).toContain("first-answer-mango")
    expect(content).toContain("second-question-plum")
    expect(content.indexOf("first-question-kiwi")).toBeLessThan(content.indexOf("first-answer-mango"))
    expect(content.indexOf("first-answer-mango")).toBeLessThan(content.indexOf("second-question-plum"))
  })
})

// ---------------------------------------------------------------------------
// 4. Validation

describe("request validation", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = clientFor(gateway)
  })
  afterAll(() => gateway.close())

  const user = [{ role: "user", content: "hi" }]

  it("answers malformed JSON with 400 invalid_json", async () => {
    await expectEnvelope(await post(gateway, "{\"model\": \"sonnet\", \"messages\": ["), 400, {
      code: "invalid_json",
      param: null,
      type: "invalid_request_error"
    })
  })

  it("answers a non-object body with 400", async () => {
    await expectEnvelope(await post(gateway, []), 400, { type: "invalid_request_error", param: null })
    await expectEnvelope(await post(gateway, "42"), 400, { type: "invalid_request_error" })
  })

  it("requires messages", async () => {
    await expectEnvelope(await post(gateway, { model: "sonnet" }), 400, {
      param: "messages",
      type: "invalid_request_error"
    })
    await expectSdkError(
      client.chat.completions.create({ model: "sonnet" } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming),
      OpenAI.BadRequestError,
      { status: 400, param: "messages" }
    )
  })

  it("refuses an empty messages array", async () => {
    await expectEnvelope(await post(gateway, { model: "sonnet", messages: [] }), 400, { param: "messages" })
    await expectSdkError(client.chat.completions.create({ model: "sonnet", messages: [] }), OpenAI.BadRequestError, {
      status: 400,
      param: "messages"
    })
  })

  it("refuses an unknown role", async () => {
    const body = { model: "sonnet", messages: [{ role: "bogus", content: "hi" }] }
    await expectEnvelope(await post(gateway, body), 400, { param: "messages[0].role" })
    await expectSdkError(
      client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming),
      OpenAI.BadRequestError,
      { status: 400, param: "messages[0].role" }
    )
  })

  it("refuses an out-of-range temperature", async () => {
    await expectEnvelope(await post(gateway, { model: "sonnet", messages: user, temperature: 5 }), 400, {
      param: "temperature"
    })
    await expectSdkError(
      client.chat.completions.create({ model: "sonnet", messages: [{ role: "user", content: "hi" }], temperature: 5 }),
      OpenAI.BadRequestError,
      { status: 400, param: "temperature" }
    )
  })

  it("refuses n other than 1", async () => {
    await expectEnvelope(await post(gateway, { model: "sonnet", messages: user, n: 2 }), 400, { param: "n" })
    await expectSdkError(
      client.chat.completions.create({ model: "sonnet", messages: [{ role: "user", content: "hi" }], n: 2 }),
      OpenAI.BadRequestError,
      { status: 400, param: "n" }
    )
  })

  it("accepts unknown extra fields", async () => {
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: "extra" }],
      foo: 1,
      bar: { baz: [1] }
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as GatewayCompletion
    expect(body.choices[0]!.message.content).toBe("Echo: extra [turn=1]")
  })

  it("accepts every OpenAI request field", async () => {
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "all the fields" }],
      temperature: 0.7,
      top_p: 0.9,
      max_tokens: 256,
      max_completion_tokens: 256,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { "50256": -100 },
      logprobs: false,
      seed: 42,
      user: "user-1234",
      tools: [{
        type: "function",
        function: {
          name: "get_weather",
          description: "Weather for a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
        }
      }],
      tool_choice: "auto",
      parallel_tool_calls: true,
      response_format: { type: "text" },
      metadata: { purpose: "test" },
      store: false,
      service_tier: "auto",
      reasoning_effort: "low",
      stop: ["NEVER-APPEARS-IN-THE-ECHO"]
    })
    expect(completion.choices[0]!.message.content).toBe("Echo: all the fields [turn=1]")
    expect(completion.choices[0]!.finish_reason).toBe("stop")
    expect(completion.choices[0]!.message.tool_calls).toBeUndefined()
  })

  it("refuses a conversation that ends with an assistant message", async () => {
    const body = {
      model: "sonnet",
      messages: [{ role: "user" as const, content: "hi" }, { role: "assistant" as const, content: "partial answer" }]
    }
    await expectEnvelope(await post(gateway, body), 400, { param: "messages", type: "invalid_request_error" })
    await expectSdkError(client.chat.completions.create(body), OpenAI.BadRequestError, {
      status: 400,
      param: "messages"
    })
  })

  it("refuses a project_id that leaves the project root", async () => {
    const body = { model: "sonnet", messages: user, project_id: "../etc" }
    await expectEnvelope(await post(gateway, body), 400, { param: "project_id", type: "invalid_request_error" })
    await expectSdkError(
      client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming),
      OpenAI.BadRequestError,
      { status: 400, param: "project_id" }
    )
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "..", "etc"))).toBe(false)
  })
})

// ---------------------------------------------------------------------------
// 5. Stop sequences, 6. tools and thinking

describe("stop sequences, tool use and thinking", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = clientFor(gateway)
  })
  afterAll(() => gateway.close())

  it("cuts the JSON answer before a stop sequence", async () => {
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "stop before the counter" }],
      stop: ["turn="]
    })
    const content = completion.choices[0]!.message.content!
    expect(content).toBe("Echo: stop before the counter [")
    expect(content).not.toContain("turn=")
    expect(completion.choices[0]!.finish_reason).toBe("stop")
  })

  it("cuts the streamed answer before a stop sequence", async () => {
    const stream = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "stop before the counter" }],
      stop: ["turn="],
      stream: true
    })
    const chunks: Array<ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)
    const text = textOfChunks(chunks)
    expect(text).toBe("Echo: stop before the counter [")
    expect(chunks.some((chunk) => (chunk.choices[0]?.delta.content ?? "").includes("turn"))).toBe(false)
    expect(chunks[chunks.length - 1]!.choices[0]!.finish_reason).toBe("stop")
  })

  it("reports Claude Code's own tool use as an extension, never as tool_calls (JSON)", async () => {
    const completion = (await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_TOOL run it" }]
    })) as GatewayCompletion
    const choice = completion.choices[0]!
    expect(choice.finish_reason).toBe("stop")
    expect(choice.message.tool_calls).toBeUndefined()
    expect(choice.message.content).toContain("The command printed hi.")
    const uses = choice.message.claude_code_tool_uses
    expect(uses).toHaveLength(1)
    expect(uses![0]).toMatchObject({
      name: "Bash",
      input: { command: "echo hi" },
      output: "hi",
      is_error: false
    })
    expect(uses![0]!.id).toMatch(/^toolu_/)
  })

  it("reports Claude Code's own tool use as an extension, never as tool_calls (stream)", async () => {
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_TOOL run it" }],
      stream: true
    })
    expect(response.status).toBe(200)
    const chunks = parseSse(await response.text())
    expect(chunks.some((chunk) => chunk.choices.some((choice) => "tool_calls" in choice.delta))).toBe(false)
    const toolChunk = chunks.find((chunk) => chunk.choices[0]?.delta["claude_code_tool_use"] !== undefined)
    expect(toolChunk).toBeDefined()
    expect(toolChunk!.choices[0]!.delta["claude_code_tool_use"]).toMatchObject({
      name: "Bash",
      input: { command: "echo hi" }
    })
    const finishes = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason)).filter((f) =>
      f !== null
    )
    expect(finishes).toEqual(["stop"])

    // The SDK's helper copes with the extension deltas too.
    const final = await clientFor(gateway).chat.completions.stream({
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_TOOL again" }]
    }).finalChatCompletion()
    expect(final.choices[0]!.finish_reason).toBe("stop")
    expect(final.choices[0]!.message.tool_calls ?? []).toEqual([])
  })

  it("returns the model's thinking as reasoning_content next to the echo", async () => {
    const completion = (await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_THINK about it" }]
    })) as GatewayCompletion
    const message = completion.choices[0]!.message
    expect(message.reasoning_content).toBe("The user wants a short answer. I will think briefly.")
    expect(message.content).toBe("Echo: FAKE_THINK about it [turn=1]")
    expect(completion.choices[0]!.finish_reason).toBe("stop")
  })
})

// ---------------------------------------------------------------------------
// 7. Failures

describe("failures", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = clientFor(gateway)
  })
  afterAll(() => gateway.close())

  it("answers a rejected model with 400 model_not_supported (JSON)", async () => {
    const marker = "rejected-json-marker"
    const error = await expectEnvelope(
      await post(gateway, { model: "claude-rejected-x", messages: [{ role: "user", content: marker }] }),
      400,
      { param: "model", code: "model_not_supported", type: "invalid_request_error" }
    )
    expect(error.message).toContain("claude-rejected-x")
    await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "ModelRejected")
    await expectSdkError(
      client.chat.completions.create({ model: "claude-rejected-x", messages: [{ role: "user", content: "sdk" }] }),
      OpenAI.BadRequestError,
      { status: 400, code: "model_not_supported", param: "model" }
    )
  })

  it("answers a rejected model with 400 before the first byte (stream)", async () => {
    const marker = "rejected-stream-marker"
    const response = await post(gateway, {
      model: "claude-rejected-x",
      messages: [{ role: "user", content: marker }],
      stream: true
    })
    expect(response.headers.get("content-type")).not.toMatch(/event-stream/)
    await expectEnvelope(response, 400, { param: "model", code: "model_not_supported" })
    await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "ModelRejected")
    await expectSdkError(
      client.chat.completions.create({
        model: "claude-rejected-x",
        messages: [{ role: "user", content: "sdk" }],
        stream: true
      }),
      OpenAI.BadRequestError,
      { status: 400, code: "model_not_supported", param: "model" }
    )
  })

  it("answers a CLI crash with 502 cli_exited and no internals (JSON)", async () => {
    const marker = "crash-json-marker"
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: `FAKE_CRASH ${marker}` }]
    })
    const error = await expectEnvelope(response, 502, { code: "cli_exited", type: "server_error" })
    expect(error.message).not.toContain("simulated crash")
    expect(error.message).not.toContain(fakeCliPath)
    expect(error.message).not.toContain(gateway.projectRoot)
    expect(error.message).not.toMatch(/\/[\w.-]+\//)
    await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "CliExitedEarly")
  })

  it("streams a CLI crash as content, then an error frame, then [DONE]", async () => {
    const marker = "crash-stream-marker"
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: `FAKE_CRASH ${marker}` }],
      stream: true
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const body = await response.text()
    const chunks = parseSse(body)
    const errorIndex = chunks.findIndex((chunk) => chunk.error !== undefined)
    expect(errorIndex).toBe(chunks.length - 1)
    const errorFrame = chunks[errorIndex]!
    expect(Object.keys(errorFrame)).toEqual(["error"])
    expect(errorFrame.error).toMatchObject({ type: "server_error", code: "cli_exited" })
    expect(errorFrame.error!.message).not.toContain("simulated crash")
    expect(body).not.toContain("simulated crash")
    expect(body).not.toContain(fakeCliPath)
    const content = chunks.slice(0, errorIndex)
    expect(content[0]!.choices[0]!.delta).toEqual({ role: "assistant", content: "" })
    expect(textOfChunks(content)).toBe("Partial answer ")
    expect(content.every((chunk) => chunk.choices[0]!.finish_reason === null)).toBe(true)
    await expectFailedWith(gateway, response.headers.get("x-session-id")!, "CliExitedEarly")

    // The SDK surfaces the error frame as an APIError while iterating.
    const stream = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_CRASH via sdk" }],
      stream: true
    })
    let seen = ""
    const error = await rejectionOf((async () => {
      for await (const chunk of stream) seen += chunk.choices[0]?.delta.content ?? ""
    })())
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as ApiError).code).toBe("cli_exited")
    expect(seen).toBe("Partial answer ")
  })

  it("answers an upstream 429 with 429 upstream_rate_limited and retry-after", async () => {
    const marker = "ratelimit-marker"
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: `FAKE_UPSTREAM_429 ${marker}` }]
    })
    expect(response.headers.get("retry-after")).toBe("1")
    await expectEnvelope(response, 429, { code: "upstream_rate_limited", type: "rate_limit_error" })
    await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "UpstreamFailure")
    await expectSdkError(
      client.chat.completions.create({
        model: "sonnet",
        messages: [{ role: "user", content: "FAKE_UPSTREAM_429 sdk" }]
      }),
      OpenAI.RateLimitError,
      { status: 429, code: "upstream_rate_limited" }
    )
  })

  it("answers an upstream 500 with 502", async () => {
    const marker = "upstream500-marker"
    const error = await expectEnvelope(
      await post(gateway, { model: "sonnet", messages: [{ role: "user", content: `FAKE_UPSTREAM_500 ${marker}` }] }),
      502,
      { type: "server_error", code: "upstream_error" }
    )
    expect(error.message).not.toContain("api.anthropic.com")
    await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "UpstreamFailure")
  })
})

describe("model fallbacks", () => {
  let gateway: Gateway
  let client: OpenAI
  let directory: string
  beforeAll(async () => {
    directory = tempDirectory("cca-models-")
    const models = JSON.parse(
      NodeFs.readFileSync(NodePath.resolve(import.meta.dirname, "..", "..", "config", "models.json"), "utf8")
    ) as { aliases: Record<string, string>; fallbacks: Record<string, Array<string>> }
    models.aliases["opus"] = "claude-rejected-opus-4-6"
    models.aliases["doomed"] = "claude-rejected-first"
    models.fallbacks = {
      "claude-rejected-opus-4-6": ["claude-opus-4-5-20251101"],
      "claude-rejected-first": ["claude-rejected-second"]
    }
    const modelsPath = NodePath.join(directory, "models.json")
    NodeFs.writeFileSync(modelsPath, JSON.stringify(models))
    gateway = await startGateway({ modelsPath })
    client = clientFor(gateway)
  })
  afterAll(async () => {
    await gateway.close()
    NodeFs.rmSync(directory, { recursive: true, force: true })
  })

  it("falls back to the next model when the first is rejected", async () => {
    const completion = (await client.chat.completions.create({
      model: "opus",
      messages: [{ role: "user", content: "fall back" }]
    })) as GatewayCompletion
    expect(completion.model).toBe("claude-opus-4-5-20251101")
    expect(completion.choices[0]!.message.content).toBe("Echo: fall back [turn=1]")
    const log = await settledLog(gateway, completion.session_id)
    expectContiguousFromOne(log)
    const fallback = log.find((row) => row.type === "ModelFallback")
    expect(fallback).toBeDefined()
    expect(JSON.parse(fallback!.data)).toMatchObject({
      fromModel: "claude-rejected-opus-4-6",
      toModel: "claude-opus-4-5-20251101"
    })
    expect(log[log.length - 1]!.type).toBe("TurnCompleted")
  })

  it("falls back in streaming mode too", async () => {
    const stream = await client.chat.completions.create({
      model: "opus",
      messages: [{ role: "user", content: "fall back streaming" }],
      stream: true
    })
    const chunks: Array<ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.every((chunk) => chunk.model === "claude-opus-4-5-20251101")).toBe(true)
    expect(textOfChunks(chunks)).toBe("Echo: fall back streaming [turn=1]")
  })

  it("answers 400 model_not_supported when the whole chain is rejected (JSON)", async () => {
    const marker = "chain-json-marker"
    const error = await expectEnvelope(
      await post(gateway, { model: "doomed", messages: [{ role: "user", content: marker }] }),
      400,
      { param: "model", code: "model_not_supported" }
    )
    expect(error.message).toContain("claude-rejected-first")
    expect(error.message).toContain("claude-rejected-second")
    const log = await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "ModelRejected")
    expect(log.filter((row) => row.type === "ModelFallback")).toHaveLength(1)
    expect((JSON.parse(log[log.length - 1]!.data) as { error: { models: Array<string> } }).error.models).toEqual([
      "claude-rejected-first",
      "claude-rejected-second"
    ])
  })

  it("answers 400 model_not_supported when the whole chain is rejected (stream)", async () => {
    const marker = "chain-stream-marker"
    const response = await post(gateway, {
      model: "doomed",
      messages: [{ role: "user", content: marker }],
      stream: true
    })
    await expectEnvelope(response, 400, { param: "model", code: "model_not_supported" })
    await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "ModelRejected")
    await expectSdkError(
      client.chat.completions.create({ model: "doomed", messages: [{ role: "user", content: "sdk" }], stream: true }),
      OpenAI.BadRequestError,
      { status: 400, code: "model_not_supported", param: "model" }
    )
  })
})

describe("missing CLI", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ claudeBinary: "/nonexistent/claude" })
  })
  afterAll(() => gateway.close())

  it("answers 503 cli_unavailable in both modes", async () => {
    const marker = "missing-cli-marker"
    const error = await expectEnvelope(
      await post(gateway, { model: "sonnet", messages: [{ role: "user", content: marker }] }),
      503,
      { code: "cli_unavailable", type: "server_error" }
    )
    expect(error.message).not.toContain("/nonexistent")
    await expectFailedWith(gateway, await sessionWithMarker(gateway, marker), "CliNotFound")
    const streamMarker = "missing-cli-stream-marker"
    await expectEnvelope(
      await post(gateway, { model: "sonnet", messages: [{ role: "user", content: streamMarker }], stream: true }),
      503,
      { code: "cli_unavailable" }
    )
    await expectSdkError(
      clientFor(gateway).chat.completions.create({ model: "sonnet", messages: [{ role: "user", content: "sdk" }] }),
      OpenAI.InternalServerError,
      { status: 503, code: "cli_unavailable" }
    )
  })
})

// ---------------------------------------------------------------------------
// 8. The turn outlives the request

describe("structured output (response_format)", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "test", maxRetries: 0 })
  })
  afterAll(() => gateway.close())

  const schema = {
    type: "object",
    properties: { answer: { type: "number" }, label: { type: "string" } },
    required: ["answer", "label"]
  }

  it("json_schema: the content is the structured output, not the remark before it", async () => {
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "six times seven" }],
      response_format: { type: "json_schema", json_schema: { name: "answer", schema } }
    })
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ answer: 42, label: "fake" })
    expect(completion.choices[0]!.finish_reason).toBe("stop")
  })

  it("json_schema streamed: the chunks carry exactly the JSON", async () => {
    const stream = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "six times seven" }],
      response_format: { type: "json_schema", json_schema: { name: "answer", schema } },
      stream: true
    })
    let content = ""
    let finish: string | null = null
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? ""
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    expect(JSON.parse(content)).toEqual({ answer: 42, label: "fake" })
    expect(finish).toBe("stop")
  })

  it("json_object: the CLI is given an object schema", async () => {
    const completion = await client.chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "any object" }],
      response_format: { type: "json_object" }
    })
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({})
  })

  it("json_schema without a schema is a 400 naming the parameter", async () => {
    const response = await post(gateway, {
      messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_schema", json_schema: { name: "empty" } }
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toEqual({
      error: {
        message: expect.any(String),
        type: "invalid_request_error",
        param: "response_format.json_schema.schema",
        code: "missing_required_parameter"
      }
    })
  })
})

describe("a client that disconnects mid-stream", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ cliEnv: { FAKE_CLAUDE_DELAY_MS: "60" } })
  })
  afterAll(() => gateway.close())

  it("cancels the turn by default: TurnCancelled(disconnect) is recorded and the CLI stops", async () => {
    const controller = new AbortController()
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_SLOW and then leave" }],
      stream: true
    }, controller.signal)
    expect(response.status).toBe(200)
    const sessionId = response.headers.get("x-session-id")!
    await readFor(response, controller, (sofar) => sofar.includes("\"content\":\"w1 \""), 5_000)
    const log = await eventually(async () => {
      const rows = await logOf(gateway, sessionId)
      return rows[rows.length - 1]?.type === "TurnCancelled" ? rows : undefined
    }, 5_000)
    expectContiguousFromOne(log)
    expect(JSON.parse(log[log.length - 1]!.data)).toMatchObject({ reason: "disconnect" })
    // Far fewer than the 30 deltas of the whole answer were produced.
    expect(log.filter((row) => row.type === "TextDelta").length).toBeLessThan(30)
  })
})

describe("a turn outlives its request (CANCEL_ON_DISCONNECT=false)", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ cliEnv: { FAKE_CLAUDE_DELAY_MS: "60" }, cancelOnDisconnect: false })
  })
  afterAll(() => gateway.close())

  it("completes and logs the turn after the client aborted the stream", async () => {
    const controller = new AbortController()
    const response = await post(gateway, {
      model: "sonnet",
      messages: [{ role: "user", content: "FAKE_SLOW and then leave" }],
      stream: true
    }, controller.signal)
    expect(response.status).toBe(200)
    const sessionId = response.headers.get("x-session-id")!
    const body = await readFor(response, controller, (sofar) => sofar.includes("\"content\":\"w1 \""), 5_000)
    expect(body).toContain("\"content\":\"w1 \"")
    expect(body).not.toContain("[DONE]")
    // Nobody listens any more; the turn must still run to completion.
    const log = await eventually(async () => {
      const rows = await logOf(gateway, sessionId)
      const last = rows[rows.length - 1]
      return last !== undefined && last.type !== "TextDelta" && last.type !== "TurnAttached" &&
          last.type !== "TurnStarted"
          && last.type !== "SessionCreated"
        ? rows
        : undefined
    }, 15_000)
    expectContiguousFromOne(log)
    expect(log.map((row) => row.type).filter((type) => type === "TurnCancelled")).toEqual([])
    expect(log[log.length - 1]!.type).toBe("TurnCompleted")
    const text = log.filter((row) => row.type === "TextDelta").map((row) =>
      (JSON.parse(row.data) as { text: string }).text
    )
    expect(text).toHaveLength(30)
    expect(text.join("")).toBe(Array.from({ length: 30 }, (_, i) => `w${i + 1} `).join(""))
  })
})
