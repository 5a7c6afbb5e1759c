/**
 * The pure projection of a turn's logged events into the Responses API: the stream's events
 * in the grammar's order (checked by the strict reader every e2e stream goes through too),
 * the ids derived from the turn, items per run of thinking, text and calls, the calls' final
 * arguments, structured output, incomplete and failed turns with the codes Codex classifies,
 * keep-alives, and the JSON response as the stream's last snapshot.
 */
import { describe, expect, it } from "vitest"
import { CliTimeout, StoreError, UpstreamFailure } from "../../../src/Domain/Errors.js"
import {
  ResponseDeleted,
  type SessionEvent,
  StoredEvent,
  TextDelta,
  ThinkingDelta,
  ToolCallDelta,
  ToolCallStarted,
  ToolResult,
  ToolUse,
  TurnAttached,
  TurnCancelled,
  TurnCompleted,
  TurnFailed,
  TurnStarted,
  type TurnUsage
} from "../../../src/Domain/SessionEvent.js"
import type { ToolCall } from "../../../src/Domain/Tools.js"
import { callItemIdOf, turnOfItemId, turnOfResponseId } from "../../../src/Http/Responses/Ids.js"
import {
  brokenEventsOf,
  initialResponseState,
  keepAliveOf,
  type ResponseContext,
  responseEventsOf,
  responseOfEvents,
  type ResponseState
} from "../../../src/Http/Responses/Projection.js"
import { responseContextOf } from "../../../src/Http/Responses/Request.js"
import type { ResponseStreamEvent } from "../../../src/Http/Responses/Wire.js"
import { checkResponseStream } from "../../support/ResponsesStream.js"

// ---------------------------------------------------------------------------
// Builders

const HEX = "0123456789abcdef0123456789abcdef"
const TURN = `turn_${HEX}`
const MODEL = "claude-sonnet-4-5-20250929"
const T0 = 1_700_000_123_500
const USAGE: TurnUsage = { inputTokens: 12, outputTokens: 34, cacheReadInputTokens: 500, cacheCreationInputTokens: 60 }

const context = (parameters: Record<string, unknown> = {}): ResponseContext =>
  responseContextOf("s-1", "default", { surface: "responses", ...parameters })

const stored = (events: ReadonlyArray<SessionEvent>): ReadonlyArray<StoredEvent> =>
  events.map((event, index) => new StoredEvent({ sessionId: "s-1", sequence: index + 1, timestamp: T0, event }))

const started = () =>
  new TurnStarted({
    turnId: TURN,
    messages: [{ role: "user", content: [{ _tag: "text", text: "hi" }] }],
    systemPrompt: null,
    requestedModel: "sonnet",
    resolvedModel: MODEL,
    fallbackModels: [],
    parameters: {}
  })
const attached = () => new TurnAttached({ turnId: TURN, model: MODEL, cliSessionId: "cli-1", cliVersion: "2.1.197" })
const text = (value: string) => new TextDelta({ turnId: TURN, text: value })
const thinking = (value: string) => new ThinkingDelta({ turnId: TURN, text: value })
const callStarted = (index: number, callId: string, name = "get_weather") =>
  new ToolCallStarted({ turnId: TURN, index, callId, name })
const callDelta = (index: number, value: string) => new ToolCallDelta({ turnId: TURN, index, arguments: value })
const completed = (
  options: { toolCalls?: ReadonlyArray<ToolCall>; stopReason?: string | null; structuredOutput?: unknown } = {}
) =>
  new TurnCompleted({
    turnId: TURN,
    model: MODEL,
    cliSessionId: "cli-1",
    stopReason: options.stopReason ?? (options.toolCalls?.length ? "tool_use" : "end_turn"),
    usage: USAGE,
    costUsd: 0.5,
    durationMs: 10,
    numTurns: 1,
    structuredOutput: options.structuredOutput ?? null,
    toolCalls: options.toolCalls ?? []
  })

/** Every event of the run, and the final state. */
const run = (events: ReadonlyArray<SessionEvent>, ctx = context(), from: ResponseState = initialResponseState) => {
  let state = from
  const out: Array<ResponseStreamEvent> = []
  for (const event of stored(events)) {
    const [next, emitted] = responseEventsOf(state, event, ctx)
    state = next
    for (const one of emitted) out.push(one)
  }
  return { state, events: out }
}

/** The SSE body the server would send for these stream events. */
const sse = (events: ReadonlyArray<ResponseStreamEvent>) =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join("") + "data: [DONE]\n\n"

/** Runs the events, checks the stream strictly, and checks that the JSON twin is its last snapshot. */
const project = (events: ReadonlyArray<SessionEvent>, ctx = context()) => {
  const { events: streamed } = run(events, ctx)
  const checked = checkResponseStream(sse(streamed))
  const json = responseOfEvents(stored(events), ctx)
  expect(json.response).toEqual(checked.terminal.response)
  return { ...checked, json, types: streamed.map((event) => event.type) }
}

// ---------------------------------------------------------------------------

describe("ids", () => {
  it("derives every id from the turn, and finds the turn again", () => {
    const { json } = project([
      started(),
      text("a"),
      thinking("b"),
      text("c"),
      callStarted(0, "toolu_1"),
      completed({
        toolCalls: [{ id: "toolu_1", name: "get_weather", arguments: "{}" }]
      })
    ])
    expect(json.response.id).toBe(`resp_${HEX}`)
    expect(json.response.output.map((item) => item.id)).toEqual([
      `msg_${HEX}`,
      `rs_${HEX}`,
      `msg_${HEX}_1`,
      `fc_${HEX}_0`
    ])
    expect(turnOfResponseId(json.response.id)).toBe(TURN)
    for (const item of json.response.output) expect(turnOfItemId(item.id)).toBe(TURN)
    expect(turnOfResponseId("chatcmpl-123")).toBeNull()
    expect(turnOfItemId("msg_x y")).toBeNull()
  })
})

describe("a text answer", () => {
  it("streams the grammar in order, numbered from 0, and answers the same as JSON", () => {
    const { items, terminal, types } = project([started(), attached(), text("Hello "), text("world"), completed()])
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed"
    ])
    expect(items).toEqual([{
      type: "message",
      id: `msg_${HEX}`,
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "Hello world", annotations: [], logprobs: [] }]
    }])
    expect(terminal.response).toMatchObject({
      object: "response",
      status: "completed",
      created_at: Math.floor(T0 / 1000),
      model: MODEL,
      error: null,
      incomplete_details: null,
      usage: {
        input_tokens: 572,
        input_tokens_details: { cached_tokens: 500 },
        output_tokens: 34,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 606,
        cost_usd: 0.5
      },
      session_id: "s-1",
      project_id: "default"
    })
  })

  it("echoes the request's fields as recorded with the turn", () => {
    const { json } = project(
      [started(), text("x"), completed()],
      context({
        instructions: "Be brief.",
        metadata: { a: "b" },
        store: false,
        tools: [{ type: "custom", name: "apply_patch" }],
        tool_choice: "required",
        parallel_tool_calls: false,
        previous_response_id: "resp_1",
        temperature: 0.2
      })
    )
    expect(json.response).toMatchObject({
      instructions: "Be brief.",
      metadata: { a: "b" },
      store: false,
      tools: [{ type: "custom", name: "apply_patch" }],
      tool_choice: "required",
      parallel_tool_calls: false,
      previous_response_id: "resp_1",
      temperature: 0.2,
      text: { format: { type: "text" } }
    })
  })

  it("an answer with neither text nor calls is one empty message", () => {
    const { items } = project([started(), completed()])
    expect(items).toEqual([
      expect.objectContaining({ type: "message", content: [expect.objectContaining({ text: "" })] })
    ])
  })

  it("leaves Claude Code's own tool uses out", () => {
    const { items } = project([
      started(),
      text("Let me look. "),
      new ToolUse({ turnId: TURN, toolUseId: "toolu_b", name: "Bash", input: { command: "ls" } }),
      new ToolResult({ turnId: TURN, toolUseId: "toolu_b", content: "a.txt", isError: false }),
      text("Done."),
      completed()
    ])
    expect(items.map((item) => item.type)).toEqual(["message"])
    expect(JSON.stringify(items)).not.toContain("Bash")
  })
})

describe("thinking and calls", () => {
  it("thinking is a reasoning item with a summary, closed before the text opens", () => {
    const { items, types } = project([started(), thinking("Hmm, "), thinking("yes."), text("Yes."), completed()])
    expect(types.slice(2, 9)).toEqual([
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done"
    ])
    expect(items[0]).toEqual({
      type: "reasoning",
      id: `rs_${HEX}`,
      summary: [{ type: "summary_text", text: "Hmm, yes." }]
    })
  })

  it("each call of the client's tools is a function_call item, with the model's call id", () => {
    const calls = [
      { id: "toolu_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
      { id: "toolu_b", name: "get_time", arguments: "{}" }
    ]
    const { items, terminal, types } = project([
      started(),
      text("Checking."),
      callStarted(0, "toolu_a"),
      callDelta(0, "{\"city\":"),
      callDelta(0, "\"Paris\"}"),
      callStarted(1, "toolu_b", "get_time"),
      completed({ toolCalls: calls })
    ])
    expect(items.slice(1)).toEqual([
      {
        type: "function_call",
        id: callItemIdOf(TURN, 0),
        call_id: "toolu_a",
        name: "get_weather",
        arguments: "{\"city\":\"Paris\"}",
        status: "completed"
      },
      {
        type: "function_call",
        id: callItemIdOf(TURN, 1),
        call_id: "toolu_b",
        name: "get_time",
        arguments: "{}",
        status: "completed"
      }
    ])
    // The second call's (empty) arguments are sent as `{}` when the turn ends.
    expect(types.filter((type) => type === "response.function_call_arguments.delta")).toHaveLength(3)
    expect(terminal.type).toBe("response.completed")
  })

  it("the calls the turn ended with complete the open call's arguments and add calls never started", () => {
    const { items } = project([
      started(),
      callStarted(0, "toolu_a"),
      callDelta(0, "{\"city\""),
      completed({
        toolCalls: [
          { id: "toolu_a", name: "get_weather", arguments: "{\"city\":\"Rome\"}" },
          { id: "toolu_z", name: "get_time", arguments: "" }
        ]
      })
    ])
    expect(items).toEqual([
      expect.objectContaining({ id: callItemIdOf(TURN, 0), arguments: "{\"city\":\"Rome\"}" }),
      expect.objectContaining({ id: callItemIdOf(TURN, 1), call_id: "toolu_z", name: "get_time", arguments: "{}" })
    ])
  })
})

describe("structured output", () => {
  const json = context({ text: { format: { type: "json_schema", name: "x", schema: { type: "object" } } } })

  it("the message is the structured output, sent whole at the end; the remarks on the way are left out", () => {
    const { items, types } = project([started(), text("Let me think"), completed({ structuredOutput: { a: 1 } })], json)
    expect(items).toEqual([expect.objectContaining({ content: [expect.objectContaining({ text: "{\"a\":1}" })] })])
    expect(types.filter((type) => type === "response.output_text.delta")).toHaveLength(1)
  })

  it("without structured output the text is the answer", () => {
    const { items } = project([started(), text("{\"b\":2}"), completed()], json)
    expect(items).toEqual([expect.objectContaining({ content: [expect.objectContaining({ text: "{\"b\":2}" })] })])
  })
})

describe("unfinished answers", () => {
  it("a turn stopped by its output limit is incomplete", () => {
    const { terminal } = project([started(), text("Once upon"), completed({ stopReason: "max_tokens" })])
    expect(terminal.type).toBe("response.incomplete")
    expect(terminal.response.incomplete_details).toEqual({ reason: "max_output_tokens" })
  })

  const failures: ReadonlyArray<readonly [string, SessionEvent, string, RegExp]> = [
    [
      "an upstream rate limit",
      new TurnFailed({
        turnId: TURN,
        error: new UpstreamFailure({ status: 429, kind: "rate_limit", message: "429", retryAfterSeconds: 7 })
      }),
      "rate_limit_exceeded",
      /try again in 7s/
    ],
    [
      "an overloaded upstream",
      new TurnFailed({
        turnId: TURN,
        error: new UpstreamFailure({ status: 529, kind: "overloaded", message: "Overloaded", retryAfterSeconds: null })
      }),
      "server_is_overloaded",
      /overloaded/
    ],
    [
      "a prompt over the context window",
      new TurnFailed({
        turnId: TURN,
        error: new UpstreamFailure({
          status: 400,
          kind: "invalid_request",
          message: "prompt is too long: 210000 tokens > 200000 maximum",
          retryAfterSeconds: null
        })
      }),
      "context_length_exceeded",
      /context window/
    ],
    [
      "a silent CLI",
      new TurnFailed({ turnId: TURN, error: new CliTimeout({ idleSeconds: 300 }) }),
      "server_error",
      /300/
    ],
    ["a cancellation", new TurnCancelled({ turnId: TURN, reason: "client" }), "server_error", /cancelled/]
  ]

  it.each(failures)(
    "%s after the answer began is response.failed with the open item closed",
    (_, end, code, message) => {
      const { items, json, terminal } = project([started(), text("Partial"), end])
      expect(terminal.type).toBe("response.failed")
      expect(terminal.response.error?.code).toBe(code)
      expect(terminal.response.error?.message).toMatch(message)
      expect(items).toEqual([expect.objectContaining({ type: "message", status: "incomplete" })])
      expect(json.failure).not.toBeNull()
    }
  )

  it("a log that stops feeding the stream ends it with response.failed", () => {
    const { state } = run([started(), text("Partial")])
    const lost = new StoreError({ method: "append", message: "append: the disk is full" })
    const [next, events] = brokenEventsOf(state, context(), lost)
    const { events: before } = run([started(), text("Partial")])
    const { terminal } = checkResponseStream(sse([...before, ...events]))
    expect(terminal.response.error?.code).toBe("server_error")
    expect(next.finished).toBe(true)
    expect(terminal.response.error?.message).not.toContain("disk")
    expect(brokenEventsOf(next, context(), lost)[1]).toEqual([])
  })

  it("a running turn's response is in progress, with the open item as it stands", () => {
    const { failure, response } = responseOfEvents(stored([started(), thinking("a"), text("Hel")]), context())
    expect(failure).toBeNull()
    expect(response.status).toBe("in_progress")
    expect(response.usage).toBeNull()
    expect(response.output).toEqual([
      { type: "reasoning", id: `rs_${HEX}`, summary: [{ type: "summary_text", text: "a" }] },
      expect.objectContaining({
        type: "message",
        status: "in_progress",
        content: [expect.objectContaining({ text: "Hel" })]
      })
    ])
  })
})

describe("keep-alives and the end", () => {
  it("keepalive events are numbered with the others", () => {
    const first = run([started(), text("a")])
    const [afterPing, ping] = keepAliveOf(first.state)
    const rest = run([completed()], context(), afterPing)
    const { events } = checkResponseStream(sse([...first.events, ping, ...rest.events]))
    expect(events.find((event) => event.type === "keepalive")).toEqual({
      type: "keepalive",
      sequence_number: first.events.length
    })
  })

  it("nothing follows the terminal event; a later deletion or turn adds nothing", () => {
    const { state } = run([started(), text("a"), completed()])
    expect(state.finished).toBe(true)
    const later = run([new ResponseDeleted({ turnId: TURN }), text("more")], context(), state)
    expect(later.events).toEqual([])
  })
})
