/**
 * The Messages API's pure parts: requests into conversations, tools and choices (with the
 * 400s that name the parameter), and the projections of logged events into Anthropic's
 * stream and message, which agree with each other.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { InternalFailure } from "../../../src/Domain/Errors.js"
import {
  type SessionEvent,
  StoredEvent,
  TextDelta,
  ThinkingDelta,
  ToolCallDelta,
  ToolCallStarted,
  ToolUse,
  TurnAttached,
  TurnCompleted,
  TurnFailed,
  TurnStarted
} from "../../../src/Domain/SessionEvent.js"
import type { ToolCall } from "../../../src/Domain/Tools.js"
import type { HttpError } from "../../../src/Http/Edge/Errors.js"
import {
  initialMessageState,
  messageEventsOf,
  type MessageFrame,
  messageOf
} from "../../../src/Http/Messages/Projection.js"
import {
  clientToolsOf,
  decodeMessagesRequest,
  messagesInputOf,
  parametersOf,
  stopSequencesOf
} from "../../../src/Http/Messages/Request.js"

const MODEL = "claude-sonnet-4-5-20250929"
const TURN = "turn_0123abc"

const decoded = (body: Record<string, unknown>) => decodeMessagesRequest({ model: MODEL, max_tokens: 100, ...body })
const ok = <A>(either: Either.Either<A, HttpError>): A => {
  if (Either.isLeft(either)) throw new Error(`expected success: ${either.left.message}`)
  return either.right
}
const hi = [{ role: "user", content: "hi" }]
const paramOfError = <A>(either: Either.Either<A, HttpError>) => Either.isLeft(either) ? either.left.param : "accepted"

describe("Messages requests", () => {
  it("turns tool results into tool messages ahead of the user's text, and tool_use blocks into calls", () => {
    const request = ok(decoded({
      system: [{ type: "text", text: "Be brief." }, { type: "text", text: "Use tools." }],
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "hmm", signature: "sig" },
            { type: "text", text: "Let me look." },
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } }
          ]
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "sunny" }], is_error: true },
            { type: "text", text: "And tomorrow?" }
          ]
        }
      ]
    }))
    expect(ok(messagesInputOf(request))).toEqual({
      systemPrompt: "Be brief.\n\nUse tools.",
      messages: [
        { role: "user", content: [{ _tag: "text", text: "Weather?" }] },
        {
          role: "assistant",
          content: [{ _tag: "text", text: "Let me look." }],
          toolCalls: [{ id: "toolu_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }]
        },
        { role: "tool", content: [{ _tag: "text", text: "sunny" }], toolCallId: "toolu_1", isError: true },
        { role: "user", content: [{ _tag: "text", text: "And tomorrow?" }] }
      ]
    })
  })

  it("puts system messages between the others (as Claude Code sends them) with the nearest user message", () => {
    const request = ok(decoded({
      messages: [
        { role: "system", content: "Before anything." },
        { role: "user", content: "Hello" },
        { role: "system", content: [{ type: "text", text: "Agents: none." }] },
        { role: "assistant", content: "Hi" },
        { role: "user", content: "Bye" }
      ]
    }))
    const note = (text: string) => ({ _tag: "text", text: `\n\n<system-reminder>\n${text}\n</system-reminder>` })
    expect(ok(messagesInputOf(request)).messages).toEqual([
      { role: "user", content: [note("Before anything."), { _tag: "text", text: "Hello" }, note("Agents: none.")] },
      { role: "assistant", content: [{ _tag: "text", text: "Hi" }] },
      { role: "user", content: [{ _tag: "text", text: "Bye" }] }
    ])
  })

  it("takes base64 images and refuses remote ones and unknown blocks, naming the parameter", () => {
    const image = (source: unknown) => decoded({ messages: [{ role: "user", content: [{ type: "image", source }] }] })
    expect(ok(messagesInputOf(ok(image({ type: "base64", media_type: "image/png", data: "AAAA" })))).messages).toEqual([
      { role: "user", content: [{ _tag: "image", mediaType: "image/png", data: "AAAA" }] }
    ])
    expect(paramOfError(messagesInputOf(ok(image({ type: "url", url: "https://example.com/x.png" })))))
      .toBe("messages[0].content[0].source")
    expect(paramOfError(messagesInputOf(ok(decoded({
      messages: [{ role: "user", content: [{ type: "document", source: {} }] }]
    }))))).toBe("messages[0].content[0].type")
    expect(paramOfError(decoded({ messages: [] }))).toBe("messages")
  })

  it("decodes tools and choices, and refuses what Claude Code cannot serve", () => {
    const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object" } }]
    expect(ok(clientToolsOf(ok(decoded({ messages: hi, tools }))))).toEqual({
      tools: [{ name: "get_weather", description: "Weather", parameters: { type: "object" } }],
      choice: { _tag: "auto" },
      parallel: true
    })
    const withChoice = (tool_choice: unknown) => clientToolsOf(ok(decoded({ messages: hi, tools, tool_choice })))
    expect(ok(withChoice({ type: "any", disable_parallel_tool_use: true }))).toMatchObject({
      choice: { _tag: "required" },
      parallel: false
    })
    expect(ok(withChoice({ type: "tool", name: "get_weather" }))?.choice).toEqual({
      _tag: "named",
      name: "get_weather"
    })
    expect(paramOfError(withChoice({ type: "tool", name: "other" }))).toBe("tool_choice.name")
    expect(paramOfError(clientToolsOf(ok(decoded({
      messages: hi,
      tools: [{ name: "web_search", type: "web_search_20250305" }]
    }))))).toBe("tools[0].type")
    expect(paramOfError(clientToolsOf(ok(decoded({
      messages: hi,
      tools: [{ name: "f", input_schema: { anyOf: [] } }]
    }))))).toBe("tools[0].input_schema")
    expect(ok(clientToolsOf(ok(decoded({ messages: hi }))))).toBeNull()
  })

  it("records the request minus its conversation, and reads the stop sequences back", () => {
    const parameters = parametersOf(ok(decoded({ messages: hi, system: "s", stop_sequences: ["END", ""] })))
    expect(parameters).toMatchObject({ model: MODEL, max_tokens: 100, api: "anthropic.messages" })
    expect(parameters).not.toHaveProperty("messages")
    expect(stopSequencesOf(parameters)).toEqual(["END"])
  })
})

// ---------------------------------------------------------------------------

const stored = (events: ReadonlyArray<SessionEvent>) =>
  events.map((event, index) =>
    new StoredEvent({ sessionId: "s", sequence: index + 1, timestamp: 1_000 + index, event })
  )

const started = new TurnStarted({
  turnId: TURN,
  messages: [],
  systemPrompt: null,
  requestedModel: MODEL,
  resolvedModel: MODEL,
  fallbackModels: [],
  parameters: {}
})
const attached = new TurnAttached({ turnId: TURN, model: MODEL, cliSessionId: "cli", cliVersion: null })
const completed = (toolCalls: ReadonlyArray<ToolCall> = [], stopReason = "end_turn") =>
  new TurnCompleted({
    turnId: TURN,
    model: MODEL,
    cliSessionId: "cli",
    stopReason,
    usage: { inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 7, cacheCreationInputTokens: 3 },
    costUsd: null,
    durationMs: null,
    numTurns: null,
    toolCalls
  })

const streamOf = (events: ReadonlyArray<SessionEvent>, stops: ReadonlyArray<string> = []) => {
  let state = initialMessageState
  const frames: Array<MessageFrame> = []
  for (const event of stored(events)) {
    const [next, out] = messageEventsOf(state, event, stops)
    state = next
    for (const frame of out) frames.push(frame)
  }
  return { frames, done: state.done }
}

describe("Messages projections", () => {
  it("message_start reports the usage the upstream announced as the answer began, zeros when it named none", () => {
    const announced = new TurnAttached({
      turnId: TURN,
      model: MODEL,
      cliSessionId: "cli",
      cliVersion: null,
      startUsage: { inputTokens: 120, outputTokens: 1, cacheReadInputTokens: 30, cacheCreationInputTokens: 20 }
    })
    const startOf = (events: ReadonlyArray<SessionEvent>) => {
      const first = streamOf(events).frames[0]
      return first?._tag === "Event" && first.event.type === "message_start" ? first.event.message.usage : null
    }
    expect(startOf([started, announced, new TextDelta({ turnId: TURN, text: "Hi" })])).toEqual({
      input_tokens: 120,
      output_tokens: 1,
      cache_read_input_tokens: 30,
      cache_creation_input_tokens: 20
    })
    expect(startOf([started, attached, new TextDelta({ turnId: TURN, text: "Hi" })])).toEqual({
      input_tokens: 0,
      output_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0
    })
  })

  it("opens, fills and closes a block per kind, leaves Claude Code's own tools out, and ends with the usage", () => {
    const events = [
      started,
      attached,
      new ThinkingDelta({ turnId: TURN, text: "Let me think." }),
      new TextDelta({ turnId: TURN, text: "Looking it up. " }),
      new ToolUse({ turnId: TURN, toolUseId: "toolu_own", name: "Bash", input: {} }),
      new ToolCallStarted({ turnId: TURN, index: 0, callId: "toolu_1", name: "get_weather" }),
      new ToolCallDelta({ turnId: TURN, index: 0, arguments: "{\"city\":" }),
      new ToolCallDelta({ turnId: TURN, index: 0, arguments: "\"Paris\"}" }),
      completed([{ id: "toolu_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }], "tool_use")
    ]
    const { done, frames } = streamOf(events)
    expect(done).toBe(true)
    const types = frames.map((frame) => (frame._tag === "Event" ? frame.event.type : "failure"))
    expect(types).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop"
    ])
    expect(messageOf(stored(events), [])).toEqual({
      id: "msg_0123abc",
      type: "message",
      role: "assistant",
      model: MODEL,
      content: [
        { type: "thinking", thinking: "Let me think.", signature: "" },
        { type: "text", text: "Looking it up. " },
        { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } }
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 3, cache_read_input_tokens: 7 }
    })
  })

  it("cuts the text at the first stop sequence and names it", () => {
    const events = [started, attached, new TextDelta({ turnId: TURN, text: "one two END three" }), completed()]
    const message = messageOf(stored(events), ["END", "two three"])
    expect(message).toMatchObject({
      content: [{ type: "text", text: "one two " }],
      stop_reason: "stop_sequence",
      stop_sequence: "END"
    })
  })

  it("sends calls the stream never began, whole, before the end", () => {
    const events = [started, attached, completed([{ id: "toolu_9", name: "f", arguments: "{\"a\":1}" }], "tool_use")]
    expect(messageOf(stored(events), [])).toMatchObject({
      content: [{ type: "tool_use", id: "toolu_9", name: "f", input: { a: 1 } }],
      stop_reason: "tool_use"
    })
  })

  it("reports a failed turn as its failure, in both modes", () => {
    const error = new InternalFailure({ message: "boom" })
    const events = [
      started,
      attached,
      new TextDelta({ turnId: TURN, text: "Hi" }),
      new TurnFailed({ turnId: TURN, error })
    ]
    expect(messageOf(stored(events), [])).toEqual({ _tag: "Failed", error })
    expect(streamOf(events).frames.at(-1)).toEqual({ _tag: "Failure", failure: { _tag: "Failed", error } })
  })
})
