/**
 * Calls of the client's tools in the projections: `tool_calls` (or a legacy `function_call`)
 * in the JSON completion, their start and argument deltas in the stream, the finish reason,
 * and that both modes answer the same text and the same calls from the same logged events.
 */
import { describe, expect, it } from "vitest"
import {
  type SessionEvent,
  StoredEvent,
  TextDelta,
  ToolCallDelta,
  ToolCallStarted,
  TurnAttached,
  TurnCompleted,
  TurnStarted
} from "../../../src/Domain/SessionEvent.js"
import type { ToolCall } from "../../../src/Domain/Tools.js"
import {
  chunksOf,
  completionOf,
  initialChunkState,
  type ProjectionContext,
  type StreamFrame
} from "../../../src/Http/Chat/Projection.js"
import type { ChatCompletion, ChatCompletionChunk } from "../../../src/Http/Chat/Wire.js"

// ---------------------------------------------------------------------------
// Builders

const TURN = "turn_01TOOLS"
const MODEL = "claude-sonnet-4-5-20250929"
const T0 = 1_700_000_000_000

const stored = (events: ReadonlyArray<SessionEvent>): ReadonlyArray<StoredEvent> =>
  events.map((event, index) => new StoredEvent({ sessionId: "s-1", sequence: index + 1, timestamp: T0 + index, event }))

const started = new TurnStarted({
  turnId: TURN,
  messages: [{ role: "user", content: [{ _tag: "text", text: "Weather and time in Paris?" }] }],
  systemPrompt: null,
  requestedModel: "sonnet",
  resolvedModel: MODEL,
  fallbackModels: [],
  parameters: {}
})
const attached = new TurnAttached({ turnId: TURN, model: MODEL, cliSessionId: "cli-1", cliVersion: "2.1.197" })
const text = (value: string) => new TextDelta({ turnId: TURN, text: value })
const callStarted = (index: number, callId: string, name: string) =>
  new ToolCallStarted({ turnId: TURN, index, callId, name })
const callDelta = (index: number, fragment: string) => new ToolCallDelta({ turnId: TURN, index, arguments: fragment })
const completed = (toolCalls: ReadonlyArray<ToolCall>) =>
  new TurnCompleted({
    turnId: TURN,
    model: MODEL,
    cliSessionId: "cli-1",
    stopReason: toolCalls.length > 0 ? "tool_use" : "end_turn",
    usage: { inputTokens: 10, outputTokens: 20, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
    costUsd: 0.001,
    durationMs: 900,
    numTurns: 1,
    toolCalls
  })

const context = (overrides: Partial<ProjectionContext> = {}): ProjectionContext => ({
  sessionId: "s-1",
  projectId: "default",
  stop: [],
  includeUsage: false,
  structured: false,
  legacyFunctions: false,
  ...overrides
})
const TOOLS = context()
const LEGACY = context({ legacyFunctions: true })

const WEATHER: ToolCall = { id: "toolu_A", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
const TIME: ToolCall = { id: "toolu_B", name: "get_time", arguments: "{\"tz\":\"CET\"}" }

/** Text, then two parallel calls whose arguments arrive in pieces (one of them empty). */
const PARALLEL: ReadonlyArray<SessionEvent> = [
  started,
  attached,
  text("Let me "),
  text("check."),
  callStarted(0, "toolu_A", "get_weather"),
  callDelta(0, "{\"ci"),
  callDelta(0, "ty\":\"Paris\"}"),
  callStarted(1, "toolu_B", "get_time"),
  callDelta(1, ""),
  callDelta(1, "{\"tz\":\"CET\"}"),
  completed([WEATHER, TIME])
]

const complete = (events: ReadonlyArray<SessionEvent>, ctx: ProjectionContext): ChatCompletion => {
  const result = completionOf(stored(events), ctx)
  if ("_tag" in result) throw new Error(`expected a completion, got ${result._tag}`)
  return result
}

const stream = (events: ReadonlyArray<SessionEvent>, ctx: ProjectionContext): Array<StreamFrame> => {
  const frames: Array<StreamFrame> = []
  let state = initialChunkState
  for (const event of stored(events)) {
    const [next, emitted] = chunksOf(state, event, ctx)
    for (const emittedFrame of emitted) frames.push(emittedFrame)
    state = next
  }
  return frames
}

type Delta = ChatCompletionChunk["choices"][number]["delta"]
type Finish = ChatCompletionChunk["choices"][number]["finish_reason"]

/** A frame of the test turn's stream. */
const frame = (delta: Delta, finish: Finish = null): StreamFrame => ({
  _tag: "Chunk",
  chunk: {
    id: "chatcmpl-01TOOLS",
    object: "chat.completion.chunk",
    created: Math.floor(T0 / 1000),
    model: MODEL,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
  }
})
const ROLE = frame({ role: "assistant", content: "" })
const DONE: StreamFrame = { _tag: "Done" }
const callStart = (index: number, id: string, name: string) =>
  frame({ tool_calls: [{ index, id, type: "function", function: { name, arguments: "" } }] })
const callArguments = (index: number, fragment: string) =>
  frame({ tool_calls: [{ index, function: { arguments: fragment } }] })

const deltasOf = (frames: ReadonlyArray<StreamFrame>): Array<Delta> =>
  frames.flatMap((f) => (f._tag === "Chunk" ? f.chunk.choices.map((choice) => choice.delta) : []))

/** What a client assembles from the stream: the text, the calls merged by index, the finish reason. */
const assembled = (frames: ReadonlyArray<StreamFrame>) => {
  const calls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> = []
  let content = ""
  for (const delta of deltasOf(frames)) {
    content += delta.content ?? ""
    for (const call of delta.tool_calls ?? []) {
      const known = calls[call.index] ?? { id: "", type: "", function: { name: "", arguments: "" } }
      calls[call.index] = {
        id: call.id ?? known.id,
        type: call.type ?? known.type,
        function: {
          name: call.function.name ?? known.function.name,
          arguments: known.function.arguments + (call.function.arguments ?? "")
        }
      }
    }
  }
  const finish = frames.flatMap((f) => (f._tag === "Chunk" ? f.chunk.choices.map((c) => c.finish_reason) : []))
  return { content, calls, finish: finish.filter((reason) => reason !== null) }
}

// ---------------------------------------------------------------------------

describe("tool calls in the JSON completion", () => {
  it("answers the text before the calls and every call, finishing with tool_calls", () => {
    expect(complete(PARALLEL, TOOLS).choices).toEqual([{
      index: 0,
      message: {
        role: "assistant",
        content: "Let me check.",
        refusal: null,
        tool_calls: [
          { id: "toolu_A", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } },
          { id: "toolu_B", type: "function", function: { name: "get_time", arguments: "{\"tz\":\"CET\"}" } }
        ]
      },
      logprobs: null,
      finish_reason: "tool_calls"
    }])
  })

  it("answers null content when the model only called tools", () => {
    const message = complete([started, attached, callStarted(0, "toolu_A", "get_weather"), completed([WEATHER])], TOOLS)
      .choices[0]!.message
    expect(message.content).toBeNull()
    expect(message.tool_calls).toHaveLength(1)
  })

  it("answers a legacy functions request with the first call as function_call", () => {
    expect(complete(PARALLEL, LEGACY).choices[0]).toEqual({
      index: 0,
      message: {
        role: "assistant",
        content: "Let me check.",
        refusal: null,
        function_call: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
      },
      logprobs: null,
      finish_reason: "function_call"
    })
  })

  it("gives a call without arguments the empty object", () => {
    const events = [
      started,
      attached,
      callStarted(0, "toolu_C", "now"),
      completed([{ id: "toolu_C", name: "now", arguments: "" }])
    ]
    expect(complete(events, TOOLS).choices[0]!.message.tool_calls).toEqual([
      { id: "toolu_C", type: "function", function: { name: "now", arguments: "{}" } }
    ])
    expect(complete(events, LEGACY).choices[0]!.message.function_call).toEqual({ name: "now", arguments: "{}" })
  })

  it("has no tool_calls and keeps empty content for a turn without calls", () => {
    const choice = complete([started, attached, completed([])], TOOLS).choices[0]!
    expect(choice.message.content).toBe("")
    expect(choice.message).not.toHaveProperty("tool_calls")
    expect(choice.message).not.toHaveProperty("function_call")
    expect(choice.finish_reason).toBe("stop")
  })
})

describe("tool calls in the stream", () => {
  it("streams the text, then each call's start and argument pieces, then finishes with tool_calls", () => {
    expect(stream(PARALLEL, TOOLS)).toEqual([
      ROLE,
      frame({ content: "Let me " }),
      frame({ content: "check." }),
      callStart(0, "toolu_A", "get_weather"),
      callArguments(0, "{\"ci"),
      callArguments(0, "ty\":\"Paris\"}"),
      callStart(1, "toolu_B", "get_time"),
      callArguments(1, "{\"tz\":\"CET\"}"),
      frame({}, "tool_calls"),
      DONE
    ])
  })

  it("streams a legacy functions request's first call as function_call deltas", () => {
    expect(stream(PARALLEL, LEGACY)).toEqual([
      ROLE,
      frame({ content: "Let me " }),
      frame({ content: "check." }),
      frame({ function_call: { name: "get_weather", arguments: "" } }),
      frame({ function_call: { arguments: "{\"ci" } }),
      frame({ function_call: { arguments: "ty\":\"Paris\"}" } }),
      frame({}, "function_call"),
      DONE
    ])
  })

  it("sends the empty object at the end for a call whose arguments never streamed", () => {
    const events = [
      started,
      attached,
      callStarted(0, "toolu_C", "now"),
      completed([{ id: "toolu_C", name: "now", arguments: "" }])
    ]
    expect(stream(events, TOOLS)).toEqual([
      ROLE,
      callStart(0, "toolu_C", "now"),
      callArguments(0, "{}"),
      frame({}, "tool_calls"),
      DONE
    ])
  })

  it("sends at the end what the deltas left out of the completed calls", () => {
    const events = [
      started,
      attached,
      callStarted(0, "toolu_A", "get_weather"),
      callDelta(0, "{\"city\""),
      completed([WEATHER, TIME])
    ]
    expect(stream(events, TOOLS)).toEqual([
      ROLE,
      callStart(0, "toolu_A", "get_weather"),
      callArguments(0, "{\"city\""),
      callArguments(0, ":\"Paris\"}"),
      callStart(1, "toolu_B", "get_time"),
      callArguments(1, "{\"tz\":\"CET\"}"),
      frame({}, "tool_calls"),
      DONE
    ])
  })

  it("gives every call's first delta index, id, type and name, and every delta index and function", () => {
    const calls = deltasOf(stream(PARALLEL, TOOLS)).flatMap((delta) => delta.tool_calls ?? [])
    const seen = new Set<number>()
    for (const call of calls) {
      expect(Number.isInteger(call.index)).toBe(true)
      expect(call.function).toBeDefined()
      if (!seen.has(call.index)) {
        expect(call).toMatchObject({ id: expect.any(String), type: "function", function: { name: expect.any(String) } })
        seen.add(call.index)
      }
    }
    expect([...seen]).toEqual([0, 1])
  })

  it("releases text held for a stop sequence before the first call, and never cuts arguments", () => {
    const events = [
      started,
      attached,
      text("Hello ST"),
      callStarted(0, "toolu_A", "get_weather"),
      callDelta(0, "{\"city\":\"STOP\"}"),
      completed([{ ...WEATHER, arguments: "{\"city\":\"STOP\"}" }])
    ]
    const ctx = context({ stop: ["STOP", "}"] })
    expect(stream(events, ctx)).toEqual([
      ROLE,
      frame({ content: "Hello " }),
      frame({ content: "ST" }),
      callStart(0, "toolu_A", "get_weather"),
      callArguments(0, "{\"city\":\"STOP\"}"),
      frame({}, "tool_calls"),
      DONE
    ])
    expect(complete(events, ctx).choices[0]!.message).toMatchObject({
      content: "Hello ST",
      tool_calls: [{ function: { arguments: "{\"city\":\"STOP\"}" } }]
    })
  })

  it("sends the usage chunk after the finishing chunk", () => {
    const frames = stream(PARALLEL, context({ includeUsage: true }))
    expect(frames.at(-3)).toEqual(frame({}, "tool_calls"))
    expect(frames.at(-2)).toMatchObject({ _tag: "Chunk", chunk: { choices: [], usage: { completion_tokens: 20 } } })
  })
})

describe("the JSON completion and the stream agree", () => {
  const only = [
    started,
    attached,
    callStarted(0, "toolu_A", "get_weather"),
    callDelta(0, WEATHER.arguments),
    completed([WEATHER])
  ]
  const empty = [
    started,
    attached,
    callStarted(0, "toolu_C", "now"),
    completed([{ id: "toolu_C", name: "now", arguments: "" }])
  ]
  const plain = [started, attached, text("Just text."), completed([])]

  it.each([["parallel calls after text", PARALLEL], ["one call", only], ["an empty-arguments call", empty], [
    "no calls",
    plain
  ]])("on %s", (_name, events) => {
    const choice = complete(events, TOOLS).choices[0]!
    const streamed = assembled(stream(events, TOOLS))
    expect(streamed.content).toBe(choice.message.content ?? "")
    expect(streamed.calls).toEqual(choice.message.tool_calls ?? [])
    expect(streamed.finish).toEqual([choice.finish_reason])
  })

  it.each([["parallel calls after text", PARALLEL], ["one call", only], ["an empty-arguments call", empty]])(
    "on %s in the legacy format",
    (_name, events) => {
      const choice = complete(events, LEGACY).choices[0]!
      const deltas = deltasOf(stream(events, LEGACY))
      const name = deltas.map((delta) => delta.function_call?.name ?? "").join("")
      const args = deltas.map((delta) => delta.function_call?.arguments ?? "").join("")
      expect({ name, arguments: args }).toEqual(choice.message.function_call)
      expect(assembled(stream(events, LEGACY)).finish).toEqual([choice.finish_reason])
    }
  )
})
