/**
 * `translate` with the client's tools, on recorded runs of the real CLI serving them
 * (`fixtures/cli/client-tools`) and on synthesised lines: the calls become `ToolCallStarted` /
 * `ToolCallDelta` (never `ToolUse`), a run that stops for them is completed by
 * `suspendedCompletion` with the calls and the held ids, and the continuation (a fresh state
 * that knows the answered calls) hides the CLI's echo of their results and counts its own usage.
 * Each recording is cut where `ClaudeProcess/output`'s `suspension` ends the turn.
 */
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { suspension } from "../../src/ClaudeProcess/output.js"
import { type CliEvent, decodeCliLine } from "../../src/Domain/CliEvent.js"
import {
  type SessionEvent,
  TextDelta,
  ToolCallDelta,
  ToolCallStarted,
  ToolResult,
  ToolUse,
  TurnAttached,
  type TurnUsage
} from "../../src/Domain/SessionEvent.js"
import {
  initialTranslatorState,
  suspendedCompletion,
  translate,
  type TranslatorOptions,
  type TranslatorState
} from "../../src/SessionRunner/translate.js"

// ---------------------------------------------------------------------------
// Recordings

const CLIENT_TOOLS = join(import.meta.dirname, "..", "fixtures", "cli", "client-tools")

interface RecordedFrame {
  readonly at: number
  readonly dir: "in" | "out"
  readonly frame: { readonly type: string } & Record<string, unknown>
}

const controlTypes: ReadonlyArray<string> = ["control_request", "control_cancel_request", "control_response"]

/** The CLI's stdout lines of a recording, as raw JSON (control traffic left out). */
const stdoutFrames = (name: string): ReadonlyArray<RecordedFrame["frame"]> =>
  readFileSync(join(CLIENT_TOOLS, `${name}.frames.jsonl`), "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as RecordedFrame)
    .filter((recorded) => recorded.dir === "out" && !controlTypes.includes(recorded.frame.type))
    .map((recorded) => recorded.frame)

const stdoutLines = (name: string): ReadonlyArray<CliEvent> =>
  stdoutFrames(name).map((frame) => decodeCliLine(JSON.stringify(frame)))

/** The lines through the `message_stop` that suspends the run, and the rest. */
const splitAtSuspension = (lines: ReadonlyArray<CliEvent>, names: ReadonlySet<string>) => {
  const suspended = suspension(names)
  const at = lines.findIndex(suspended)
  if (at === -1) throw new Error("the recording never suspends")
  return { before: lines.slice(0, at + 1), after: lines.slice(at + 1) }
}

type RawStreamEvent = {
  readonly type: string
  readonly message?: { readonly usage: Record<string, number> }
  readonly usage?: Record<string, number>
  readonly content_block?: { readonly type: string; readonly id: string; readonly name: string }
}
const topLevelStreamEvents = (name: string): ReadonlyArray<RawStreamEvent> =>
  stdoutFrames(name).flatMap((frame) =>
    frame.type === "stream_event" && frame.parent_tool_use_id == null ? [frame.event as RawStreamEvent] : []
  )

/**
 * Each recorded message's usage, read from the raw frames: input and cache tokens from its
 * `message_start`, output tokens from its last `message_delta` (they count the whole message).
 */
const recordedMessageUsage = (name: string): ReadonlyArray<TurnUsage> => {
  const messages: Array<TurnUsage> = []
  for (const event of topLevelStreamEvents(name)) {
    if (event.type === "message_start") {
      const usage = event.message!.usage
      messages.push({
        inputTokens: usage.input_tokens ?? 0,
        outputTokens: usage.output_tokens ?? 0,
        cacheReadInputTokens: usage.cache_read_input_tokens ?? 0,
        cacheCreationInputTokens: usage.cache_creation_input_tokens ?? 0
      })
    } else if (event.type === "message_delta" && event.usage?.output_tokens !== undefined) {
      messages[messages.length - 1] = { ...messages[messages.length - 1]!, outputTokens: event.usage.output_tokens }
    }
  }
  return messages
}

/** The recorded `tool_use` blocks of the top-level assistant lines: id, name and whole input. */
const recordedToolUses = (name: string) =>
  stdoutFrames(name).flatMap((frame) =>
    frame.type === "assistant" && frame.parent_tool_use_id == null
      ? (frame.message as { content: ReadonlyArray<{ type: string; id: string; name: string; input: unknown }> })
        .content.filter((block) => block.type === "tool_use")
      : []
  )

const recordedResult = (name: string) =>
  stdoutFrames(name).find((frame) => frame.type === "result") as unknown as {
    readonly session_id: string
    readonly duration_ms: number
    readonly num_turns: number
    readonly usage: Record<string, number>
  }

const recordedInit = (name: string) =>
  stdoutFrames(name).find((frame) => frame.type === "system" && frame.subtype === "init") as unknown as {
    readonly session_id: string
  }

// ---------------------------------------------------------------------------
// Folding

const fold = (events: ReadonlyArray<CliEvent>, state: TranslatorState) => {
  const out: Array<SessionEvent> = []
  let current = state
  for (const event of events) {
    const [next, emitted] = translate(current, event)
    for (const each of emitted) out.push(each)
    current = next
  }
  return { state: current, events: out }
}

const foldLines = (lines: ReadonlyArray<unknown>, turnId: string, options: TranslatorOptions = {}) =>
  fold(lines.map((line) => decodeCliLine(JSON.stringify(line))), initialTranslatorState(turnId, options))

const ofTag = <T extends SessionEvent["_tag"]>(events: ReadonlyArray<SessionEvent>, tag: T) =>
  events.filter((event): event is Extract<SessionEvent, { _tag: T }> => event._tag === tag)

const textOf = (events: ReadonlyArray<SessionEvent>) => ofTag(events, "TextDelta").map((event) => event.text).join("")

/** The arguments of the call shown at `index`, as its deltas carried them. */
const argumentsAt = (events: ReadonlyArray<SessionEvent>, index: number) =>
  ofTag(events, "ToolCallDelta").filter((event) => event.index === index).map((event) => event.arguments).join("")

const sumUsage = (a: TurnUsage, b: TurnUsage): TurnUsage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cacheReadInputTokens: a.cacheReadInputTokens + b.cacheReadInputTokens,
  cacheCreationInputTokens: a.cacheCreationInputTokens + b.cacheCreationInputTokens
})

const completionOf = (state: TranslatorState) => {
  const suspended = suspendedCompletion(state)
  if (suspended === null) throw new Error("the run did not end suspended")
  return suspended
}

const WEATHER = new Set(["get_weather"])
const BOTH = new Set(["get_weather", "get_time"])

// ---------------------------------------------------------------------------
// Recorded: single

describe("client tools, recorded single.frames.jsonl", () => {
  const lines = stdoutLines("single")
  const { after, before } = splitAtSuspension(lines, WEATHER)
  const sessionId = recordedInit("single").session_id
  const first = fold(before, initialTranslatorState("turn-1", { names: WEATHER }))

  it("the recording is what these tests assume: one call of get_weather, two messages, one result", () => {
    expect(sessionId).toBe("7cca31c2-f883-4642-9b30-234a7615ca7d")
    expect(recordedToolUses("single")).toEqual([
      { type: "tool_use", id: "toolu_fake_0001", name: "get_weather", input: { city: "fake" } }
    ])
    expect(recordedMessageUsage("single")).toEqual([
      { inputTokens: 1631, outputTokens: 10, cacheReadInputTokens: 7, cacheCreationInputTokens: 3 },
      { inputTokens: 1707, outputTokens: 6, cacheReadInputTokens: 7, cacheCreationInputTokens: 3 }
    ])
    // The suspension falls on the first message's message_stop; the echo of the result opens the rest.
    expect(before[before.length - 1]).toMatchObject({ type: "stream_event", event: { type: "message_stop" } })
    expect(after[0]).toMatchObject({ type: "user" })
    expect(before.some((line) => line.type === "result")).toBe(false)
  })

  it("the suspended part: TurnAttached, the text before the call, the call whole once written; no ToolUse", () => {
    expect(first.events).toEqual([
      new TurnAttached({
        turnId: "turn-1",
        model: "claude-opus-4-8",
        cliSessionId: sessionId,
        cliVersion: "2.1.197",
        startUsage: { inputTokens: 1631, outputTokens: 1, cacheReadInputTokens: 7, cacheCreationInputTokens: 3 }
      }),
      new TextDelta({ turnId: "turn-1", text: "Let" }),
      new TextDelta({ turnId: "turn-1", text: " me" }),
      new TextDelta({ turnId: "turn-1", text: " use" }),
      new TextDelta({ turnId: "turn-1", text: " get_weather." }),
      new ToolCallStarted({ turnId: "turn-1", index: 0, callId: "toolu_fake_0001", name: "get_weather" }),
      new ToolCallDelta({ turnId: "turn-1", index: 0, arguments: "{\"city\":\"fake\"}" })
    ])
    expect(JSON.parse(argumentsAt(first.events, 0))).toEqual(recordedToolUses("single")[0]!.input)
    expect(ofTag(first.events, "ToolUse")).toEqual([])
    expect(ofTag(first.events, "TurnCompleted")).toEqual([])
  })

  it("suspendedCompletion: the call, held, stop reason tool_use, usage of the recorded message, no cost", () => {
    const { completed, suspension: held } = completionOf(first.state)
    expect(held).toEqual({
      toolCalls: [{ id: "toolu_fake_0001", name: "get_weather", arguments: "{\"city\":\"fake\"}" }],
      held: ["toolu_fake_0001"]
    })
    expect(completed).toMatchObject({
      turnId: "turn-1",
      model: "claude-opus-4-8",
      cliSessionId: sessionId,
      stopReason: "tool_use",
      costUsd: null,
      durationMs: null,
      numTurns: null,
      toolCalls: [{ id: "toolu_fake_0001", name: "get_weather", arguments: "{\"city\":\"fake\"}" }]
    })
    expect(completed.usage).toEqual(recordedMessageUsage("single")[0])
    expect(completed.usage).toEqual({
      inputTokens: 1631,
      outputTokens: 10,
      cacheReadInputTokens: 7,
      cacheCreationInputTokens: 3
    })
  })

  it("the continuation hides the echo of the answered call and counts only its own message", () => {
    const { events, state } = fold(
      after,
      initialTranslatorState("turn-2", { names: WEATHER, answered: ["toolu_fake_0001"], cliSessionId: sessionId })
    )
    expect(events.map((event) => event._tag)).toEqual([
      "TurnAttached",
      "TextDelta",
      "TextDelta",
      "TextDelta",
      "TextDelta",
      "TextDelta",
      "TurnCompleted"
    ])
    expect(ofTag(events, "ToolResult")).toEqual([])
    expect(events[0]).toEqual(
      new TurnAttached({
        turnId: "turn-2",
        model: "claude-opus-4-8",
        cliSessionId: sessionId,
        cliVersion: null,
        startUsage: { inputTokens: 1707, outputTokens: 1, cacheReadInputTokens: 7, cacheCreationInputTokens: 3 }
      })
    )
    expect(textOf(events)).toBe("Tool said: sunny, 21 C")
    const completed = ofTag(events, "TurnCompleted")[0]!
    expect(completed).toMatchObject({
      turnId: "turn-2",
      model: "claude-opus-4-8",
      cliSessionId: recordedResult("single").session_id,
      stopReason: "end_turn",
      costUsd: null,
      toolCalls: []
    })
    expect(completed.usage).toEqual(recordedMessageUsage("single")[1])
    expect(completed.usage).toEqual({
      inputTokens: 1707,
      outputTokens: 6,
      cacheReadInputTokens: 7,
      cacheCreationInputTokens: 3
    })
    expect(suspendedCompletion(state)).toBeNull()
  })

  it("the two turns' usage adds up to the result's cumulative usage", () => {
    const continued = fold(
      after,
      initialTranslatorState("turn-2", { names: WEATHER, answered: ["toolu_fake_0001"], cliSessionId: sessionId })
    )
    const total = sumUsage(
      completionOf(first.state).completed.usage,
      ofTag(continued.events, "TurnCompleted")[0]!.usage
    )
    const result = recordedResult("single").usage
    expect(total).toEqual({
      inputTokens: result.input_tokens,
      outputTokens: result.output_tokens,
      cacheReadInputTokens: result.cache_read_input_tokens,
      cacheCreationInputTokens: result.cache_creation_input_tokens
    })
    expect(total).toEqual({
      inputTokens: 3338,
      outputTokens: 16,
      cacheReadInputTokens: 14,
      cacheCreationInputTokens: 6
    })
  })

  it("without the answered ids the echo would be a ToolResult and the usage the result's (the contrast)", () => {
    const { events } = fold(after, initialTranslatorState("turn-2", { names: WEATHER, cliSessionId: sessionId }))
    expect(ofTag(events, "ToolResult")).toEqual([
      new ToolResult({ turnId: "turn-2", toolUseId: "toolu_fake_0001", content: "sunny, 21 C", isError: false })
    ])
    expect(ofTag(events, "TurnCompleted")[0]).toMatchObject({
      usage: { inputTokens: 3338, outputTokens: 16, cacheReadInputTokens: 14, cacheCreationInputTokens: 6 },
      costUsd: 0.0171345
    })
  })

  it("the whole run folded as one turn still shows the call only as ToolCallStarted/ToolCallDelta", () => {
    const { events } = fold(lines, initialTranslatorState("turn-1", { names: WEATHER }))
    expect(ofTag(events, "ToolUse")).toEqual([])
    expect(ofTag(events, "ToolCallStarted")).toHaveLength(1)
    // Its result is the client's, not an event of the run.
    expect(ofTag(events, "ToolResult")).toEqual([])
  })
})

// ---------------------------------------------------------------------------
// Recorded: parallel

describe("client tools, recorded parallel.frames.jsonl", () => {
  const lines = stdoutLines("parallel")
  const { after, before } = splitAtSuspension(lines, BOTH)
  const sessionId = recordedInit("parallel").session_id
  const first = fold(before, initialTranslatorState("turn-1", { names: BOTH }))

  it("the recording is what these tests assume: two calls in one message", () => {
    expect(sessionId).toBe("5792591c-5ab2-43c4-a1f4-6cae23a0f32b")
    expect(recordedToolUses("parallel")).toEqual([
      { type: "tool_use", id: "toolu_fake_0001", name: "get_weather", input: { city: "fake" } },
      { type: "tool_use", id: "toolu_fake_0002", name: "get_time", input: { city: "fake" } }
    ])
    expect(after.filter((line) => line.type === "user")).toHaveLength(2)
  })

  it("the suspended part: the text, then both calls, numbered 0 and 1, each whole once written", () => {
    expect(first.events.map((event) => event._tag)).toEqual([
      "TurnAttached",
      ...Array<string>(6).fill("TextDelta"),
      "ToolCallStarted",
      "ToolCallDelta",
      "ToolCallStarted",
      "ToolCallDelta"
    ])
    expect(textOf(first.events)).toBe("Let me use get_weather and get_time.")
    expect(ofTag(first.events, "ToolCallStarted")).toEqual([
      new ToolCallStarted({ turnId: "turn-1", index: 0, callId: "toolu_fake_0001", name: "get_weather" }),
      new ToolCallStarted({ turnId: "turn-1", index: 1, callId: "toolu_fake_0002", name: "get_time" })
    ])
    const recorded = recordedToolUses("parallel")
    expect(JSON.parse(argumentsAt(first.events, 0))).toEqual(recorded[0]!.input)
    expect(JSON.parse(argumentsAt(first.events, 1))).toEqual(recorded[1]!.input)
    expect(ofTag(first.events, "ToolUse")).toEqual([])
  })

  it("suspendedCompletion: both calls shown and held, usage of the recorded message", () => {
    const { completed, suspension: held } = completionOf(first.state)
    expect(held).toEqual({
      toolCalls: [
        { id: "toolu_fake_0001", name: "get_weather", arguments: "{\"city\":\"fake\"}" },
        { id: "toolu_fake_0002", name: "get_time", arguments: "{\"city\":\"fake\"}" }
      ],
      held: ["toolu_fake_0001", "toolu_fake_0002"]
    })
    expect(completed.toolCalls).toEqual(held.toolCalls)
    expect(completed.stopReason).toBe("tool_use")
    expect(completed.usage).toEqual(recordedMessageUsage("parallel")[0])
    expect(completed.usage).toEqual({
      inputTokens: 1670,
      outputTokens: 17,
      cacheReadInputTokens: 7,
      cacheCreationInputTokens: 3
    })
  })

  it("the continuation hides both echoes (answered in the other order) and counts its own message", () => {
    const { events } = fold(
      after,
      initialTranslatorState("turn-2", {
        names: BOTH,
        answered: ["toolu_fake_0001", "toolu_fake_0002"],
        cliSessionId: sessionId
      })
    )
    expect(ofTag(events, "ToolResult")).toEqual([])
    expect(textOf(events)).toBe("Tool said: noon\nsunny")
    expect(events[0]).toMatchObject({ _tag: "TurnAttached", cliSessionId: sessionId, model: "claude-opus-4-8" })
    const completed = ofTag(events, "TurnCompleted")
    expect(completed).toHaveLength(1)
    expect(completed[0]).toMatchObject({
      cliSessionId: "5792591c-5ab2-43c4-a1f4-6cae23a0f32b",
      stopReason: "end_turn",
      costUsd: null,
      usage: { inputTokens: 1792, outputTokens: 6, cacheReadInputTokens: 7, cacheCreationInputTokens: 3 }
    })
    expect(completed[0]!.usage).toEqual(recordedMessageUsage("parallel")[1])
    expect(events[events.length - 1]).toBe(completed[0])
  })

  describe("with parallel calls off", () => {
    const single = fold(before, initialTranslatorState("turn-1", { names: BOTH, parallel: false }))

    it("only the first call is shown, whole", () => {
      expect(ofTag(single.events, "ToolCallStarted")).toEqual([
        new ToolCallStarted({ turnId: "turn-1", index: 0, callId: "toolu_fake_0001", name: "get_weather" })
      ])
      expect(ofTag(single.events, "ToolCallDelta")).toEqual([
        new ToolCallDelta({ turnId: "turn-1", index: 0, arguments: "{\"city\":\"fake\"}" })
      ])
      expect(ofTag(single.events, "ToolUse")).toEqual([])
      expect(textOf(single.events)).toBe("Let me use get_weather and get_time.")
    })

    it("suspendedCompletion asks for one call and holds both", () => {
      const { completed, suspension: held } = completionOf(single.state)
      expect(held.toolCalls).toEqual([{ id: "toolu_fake_0001", name: "get_weather", arguments: "{\"city\":\"fake\"}" }])
      expect(held.held).toEqual(["toolu_fake_0001", "toolu_fake_0002"])
      expect(completed.toolCalls).toEqual(held.toolCalls)
      expect(completed.usage).toEqual(recordedMessageUsage("parallel")[0])
    })

    it("the continuation hides the echo of the hidden call too", () => {
      const { events } = fold(
        after,
        initialTranslatorState("turn-2", {
          names: BOTH,
          parallel: false,
          answered: ["toolu_fake_0001", "toolu_fake_0002"],
          cliSessionId: sessionId
        })
      )
      expect(ofTag(events, "ToolResult")).toEqual([])
      expect(ofTag(events, "TurnCompleted")).toHaveLength(1)
    })
  })
})

// ---------------------------------------------------------------------------
// Recorded: the other client-tool runs suspend where the translator says they do

describe("client tools, the other recordings", () => {
  it("error_and_large_results: the continuation hides the error echo and the 300 KB echo", () => {
    const lines = stdoutLines("error_and_large_results")
    const { after, before } = splitAtSuspension(lines, BOTH)
    const first = fold(before, initialTranslatorState("turn-1", { names: BOTH }))
    const { suspension: held } = completionOf(first.state)
    expect(held.held).toEqual(["toolu_fake_0001", "toolu_fake_0002"])
    const { events } = fold(
      after,
      initialTranslatorState("turn-2", { names: BOTH, answered: held.held, cliSessionId: "db09e490" })
    )
    expect(ofTag(events, "ToolResult")).toEqual([])
    expect(textOf(events).startsWith("Tool failed: city not found\nTTTT")).toBe(true)
    expect(ofTag(events, "TurnCompleted")[0]).toMatchObject({
      cliSessionId: "db09e490-f68d-4c95-90e3-52a688e26e42",
      costUsd: null,
      usage: { inputTokens: 76789, outputTokens: 75007, cacheReadInputTokens: 7, cacheCreationInputTokens: 3 }
    })
  })

  it("interrupt_while_held: the run suspends on the call before the interrupt's lines", () => {
    const { after, before } = splitAtSuspension(stdoutLines("interrupt_while_held"), WEATHER)
    const first = fold(before, initialTranslatorState("turn-1", { names: WEATHER }))
    expect(completionOf(first.state).suspension).toEqual({
      toolCalls: [{ id: "toolu_fake_0001", name: "get_weather", arguments: "{\"city\":\"fake\"}" }],
      held: ["toolu_fake_0001"]
    })
    // What follows (the rejection, the error result) is the next turn's to read.
    expect(after.map((line) => line.type).slice(0, 3)).toEqual(["user", "user", "result"])
  })
})

// ---------------------------------------------------------------------------
// Synthesised lines

const SESSION = "cli-synth"
const init = {
  type: "system",
  subtype: "init",
  session_id: SESSION,
  model: "claude-opus-4-8[1m]",
  claude_code_version: "2.1.197"
}
const assistantLine = (content: ReadonlyArray<unknown>, parent: string | null = null) => ({
  type: "assistant",
  message: { id: "msg_s1", model: "claude-opus-4-8", content },
  session_id: SESSION,
  parent_tool_use_id: parent
})
const streamLine = (event: unknown, parent: string | null = null) => ({
  type: "stream_event",
  event,
  session_id: SESSION,
  parent_tool_use_id: parent
})
const messageStart = (usage: Record<string, number>, parent: string | null = null) =>
  streamLine({ type: "message_start", message: { id: "msg_s1", model: "claude-opus-4-8", usage } }, parent)
const blockStart = (index: number, block: unknown) =>
  streamLine({ type: "content_block_start", index, content_block: block })
const jsonDelta = (index: number, partial: string) =>
  streamLine({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: partial } })
const blockStop = (index: number) => streamLine({ type: "content_block_stop", index })
const messageDelta = (stopReason: string, outputTokens: number) =>
  streamLine({ type: "message_delta", delta: { stop_reason: stopReason }, usage: { output_tokens: outputTokens } })
const messageStop = streamLine({ type: "message_stop" })
const toolResultLine = (toolUseId: string, content: string, isError = false) => ({
  type: "user",
  message: { role: "user", content: [{ type: "tool_result", tool_use_id: toolUseId, content, is_error: isError }] },
  session_id: SESSION,
  parent_tool_use_id: null
})

describe("client tools, synthesised runs", () => {
  it("a run without partial messages shows each call whole, from its assistant line", () => {
    const { events, state } = foldLines(
      [
        init,
        assistantLine([
          { type: "text", text: "Checking the weather." },
          { type: "tool_use", id: "toolu_w", name: "get_weather", input: { city: "Paris", days: 2 } },
          { type: "tool_use", id: "toolu_t", name: "get_time", input: {} }
        ]),
        messageDelta("tool_use", 9),
        messageStop
      ],
      "t",
      { names: BOTH }
    )
    expect(events).toEqual([
      new TurnAttached({ turnId: "t", model: "claude-opus-4-8", cliSessionId: SESSION, cliVersion: "2.1.197" }),
      new TextDelta({ turnId: "t", text: "Checking the weather." }),
      new ToolCallStarted({ turnId: "t", index: 0, callId: "toolu_w", name: "get_weather" }),
      new ToolCallDelta({ turnId: "t", index: 0, arguments: "{\"city\":\"Paris\",\"days\":2}" }),
      new ToolCallStarted({ turnId: "t", index: 1, callId: "toolu_t", name: "get_time" }),
      new ToolCallDelta({ turnId: "t", index: 1, arguments: "{}" })
    ])
    const { completed, suspension: held } = completionOf(state)
    expect(held).toEqual({
      toolCalls: [
        { id: "toolu_w", name: "get_weather", arguments: "{\"city\":\"Paris\",\"days\":2}" },
        { id: "toolu_t", name: "get_time", arguments: "{}" }
      ],
      held: ["toolu_w", "toolu_t"]
    })
    expect(completed).toMatchObject({
      model: "claude-opus-4-8",
      cliSessionId: SESSION,
      stopReason: "tool_use",
      usage: { inputTokens: 0, outputTokens: 9, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
      costUsd: null
    })
  })

  it("without parallel calls, a run without partial messages shows only the first call", () => {
    const { events, state } = foldLines(
      [
        init,
        assistantLine([
          { type: "tool_use", id: "toolu_w", name: "get_weather", input: { city: "Paris" } },
          { type: "tool_use", id: "toolu_t", name: "get_time", input: {} }
        ]),
        messageDelta("tool_use", 9),
        messageStop
      ],
      "t",
      { names: BOTH, parallel: false }
    )
    expect(events.map((event) => event._tag)).toEqual(["TurnAttached", "ToolCallStarted", "ToolCallDelta"])
    expect(completionOf(state).suspension).toEqual({
      toolCalls: [{ id: "toolu_w", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }],
      held: ["toolu_w", "toolu_t"]
    })
  })

  it("a streamed call without argument deltas gets {} at its block's end, and not again from its assistant line", () => {
    const { events, state } = foldLines(
      [
        init,
        messageStart({ input_tokens: 20, output_tokens: 1 }),
        blockStart(0, { type: "tool_use", id: "toolu_t", name: "get_time", input: {} }),
        assistantLine([{ type: "tool_use", id: "toolu_t", name: "get_time", input: {} }]),
        blockStop(0),
        messageDelta("tool_use", 4),
        messageStop
      ],
      "t",
      { names: BOTH }
    )
    expect(events).toEqual([
      new TurnAttached({
        turnId: "t",
        model: "claude-opus-4-8",
        cliSessionId: SESSION,
        cliVersion: "2.1.197",
        startUsage: { inputTokens: 20, outputTokens: 1, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 }
      }),
      new ToolCallStarted({ turnId: "t", index: 0, callId: "toolu_t", name: "get_time" }),
      new ToolCallDelta({ turnId: "t", index: 0, arguments: "{}" })
    ])
    expect(completionOf(state).completed.usage).toEqual({
      inputTokens: 20,
      outputTokens: 4,
      cacheReadInputTokens: 0,
      cacheCreationInputTokens: 0
    })
  })

  it("Claude Code's own tools stay ToolUse and ToolResult next to the client's, and alone do not suspend", () => {
    const { events, state } = foldLines(
      [
        init,
        messageStart({ input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 2 }),
        blockStart(0, { type: "tool_use", id: "toolu_bash", name: "Bash", input: {} }),
        jsonDelta(0, "{\"command\":\"ls\"}"),
        assistantLine([{ type: "tool_use", id: "toolu_bash", name: "Bash", input: { command: "ls" } }]),
        blockStop(0),
        messageDelta("tool_use", 5),
        messageStop,
        toolResultLine("toolu_bash", "a.txt")
      ],
      "t",
      { names: WEATHER }
    )
    expect(events).toEqual([
      new TurnAttached({
        turnId: "t",
        model: "claude-opus-4-8",
        cliSessionId: SESSION,
        cliVersion: "2.1.197",
        startUsage: { inputTokens: 10, outputTokens: 1, cacheReadInputTokens: 2, cacheCreationInputTokens: 0 }
      }),
      new ToolUse({ turnId: "t", toolUseId: "toolu_bash", name: "Bash", input: { command: "ls" } }),
      new ToolResult({ turnId: "t", toolUseId: "toolu_bash", content: "a.txt", isError: false })
    ])
    // The model stopped for tool_use, but for none of the client's tools.
    expect(suspendedCompletion(state)).toBeNull()
  })

  it("an answer calling an own tool, then one calling the client's: usage over both messages, the call numbered 0", () => {
    const { events, state } = foldLines(
      [
        init,
        messageStart({ input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 2 }),
        blockStart(0, { type: "tool_use", id: "toolu_bash", name: "Bash", input: {} }),
        assistantLine([{ type: "tool_use", id: "toolu_bash", name: "Bash", input: { command: "ls" } }]),
        blockStop(0),
        messageDelta("tool_use", 5),
        messageStop,
        toolResultLine("toolu_bash", "failed", true),
        messageStart({ input_tokens: 30, output_tokens: 1, cache_creation_input_tokens: 4 }),
        blockStart(0, { type: "tool_use", id: "toolu_w", name: "get_weather", input: {} }),
        jsonDelta(0, "{\"city\":"),
        jsonDelta(0, "\"Rome\"}"),
        assistantLine([{ type: "tool_use", id: "toolu_w", name: "get_weather", input: { city: "Rome" } }]),
        blockStop(0),
        messageDelta("tool_use", 8),
        messageStop
      ],
      "t",
      { names: WEATHER }
    )
    expect(events.map((event) => event._tag)).toEqual([
      "TurnAttached",
      "ToolUse",
      "ToolResult",
      "ToolCallStarted",
      "ToolCallDelta"
    ])
    expect(ofTag(events, "ToolResult")[0]).toMatchObject({ toolUseId: "toolu_bash", content: "failed", isError: true })
    expect(ofTag(events, "ToolCallStarted")[0]).toMatchObject({ index: 0, callId: "toolu_w" })
    const { completed, suspension: held } = completionOf(state)
    expect(held.held).toEqual(["toolu_w"])
    expect(completed.usage).toEqual({
      inputTokens: 40,
      outputTokens: 13,
      cacheReadInputTokens: 2,
      cacheCreationInputTokens: 4
    })
  })

  it("recorded tool_use_partial.jsonl (Bash) means the same events whether or not the client has tools", () => {
    const lines = readFileSync(join(CLIENT_TOOLS, "..", "tool_use_partial.jsonl"), "utf8")
      .split("\n")
      .filter((line) => line.length > 0)
      .map(decodeCliLine)
    const withTools = fold(lines, initialTranslatorState("t", { names: WEATHER }))
    expect(withTools.events).toEqual(fold(lines, initialTranslatorState("t")).events)
    expect(ofTag(withTools.events, "ToolUse").map((event) => event.name)).toEqual(["Bash"])
    expect(ofTag(withTools.events, "ToolCallStarted")).toEqual([])
    expect(suspendedCompletion(withTools.state)).toBeNull()
  })

  it("a continuation that calls a client tool again suspends again, on its own call and usage", () => {
    const { events, state } = foldLines(
      [
        toolResultLine("toolu_1", "sunny"),
        messageStart({ input_tokens: 100, output_tokens: 1 }),
        blockStart(0, { type: "tool_use", id: "toolu_2", name: "get_weather", input: {} }),
        jsonDelta(0, "{\"city\":\"Rome\"}"),
        blockStop(0),
        messageDelta("tool_use", 12),
        messageStop
      ],
      "t2",
      { names: WEATHER, answered: ["toolu_1"], cliSessionId: "cli-held" }
    )
    expect(events).toEqual([
      new TurnAttached({
        turnId: "t2",
        model: "claude-opus-4-8",
        cliSessionId: "cli-held",
        cliVersion: null,
        startUsage: { inputTokens: 100, outputTokens: 1, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 }
      }),
      new ToolCallStarted({ turnId: "t2", index: 0, callId: "toolu_2", name: "get_weather" }),
      new ToolCallDelta({ turnId: "t2", index: 0, arguments: "{\"city\":\"Rome\"}" })
    ])
    const { completed, suspension: held } = completionOf(state)
    expect(held).toEqual({
      toolCalls: [{ id: "toolu_2", name: "get_weather", arguments: "{\"city\":\"Rome\"}" }],
      held: ["toolu_2"]
    })
    expect(completed).toMatchObject({
      cliSessionId: "cli-held",
      usage: { inputTokens: 100, outputTokens: 12, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
      costUsd: null
    })
  })

  it("a sub-agent's call of a client tool is not the answer's", () => {
    const { events, state } = foldLines(
      [
        init,
        messageStart({ input_tokens: 5, output_tokens: 1 }, "toolu_task"),
        streamLine({
          type: "content_block_start",
          index: 0,
          content_block: { type: "tool_use", id: "toolu_sub", name: "get_weather", input: {} }
        }, "toolu_task"),
        assistantLine([{ type: "tool_use", id: "toolu_sub", name: "get_weather", input: {} }], "toolu_task")
      ],
      "t",
      { names: WEATHER }
    )
    expect(events).toEqual([])
    expect(suspendedCompletion(state)).toBeNull()
  })

  it("a run that ends normally has no suspension", () => {
    const { state } = foldLines(
      [
        init,
        messageStart({ input_tokens: 5, output_tokens: 1 }),
        assistantLine([{ type: "text", text: "Sunny." }]),
        messageDelta("end_turn", 2),
        messageStop
      ],
      "t",
      { names: WEATHER }
    )
    expect(suspendedCompletion(state)).toBeNull()
  })

  it("a stream broken inside a call, then the answer retried whole: the cut call is never shown, the retried ones are", () => {
    const whole = (content: ReadonlyArray<unknown>) => ({
      type: "assistant",
      message: {
        id: "msg_retry",
        model: "claude-opus-4-8",
        content,
        stop_reason: "tool_use",
        usage: { input_tokens: 4 }
      },
      session_id: SESSION,
      parent_tool_use_id: null
    })
    const lines = [
      init,
      messageStart({ input_tokens: 5, output_tokens: 1 }),
      blockStart(0, { type: "tool_use", id: "toolu_cut", name: "get_weather", input: {} }),
      jsonDelta(0, "{\"city\":"),
      whole([{ type: "tool_use", id: "toolu_w", name: "get_weather", input: { city: "Oslo" } }]),
      whole([{ type: "tool_use", id: "toolu_t", name: "get_time", input: {} }])
    ]
    for (const parallel of [true, false]) {
      const { events, state } = foldLines(lines, "t", { names: BOTH, parallel })
      // The cut call is never shown (no client runs it with half its arguments); the retried answer's calls are.
      expect(ofTag(events, "ToolCallStarted").map((event) => [event.index, event.callId])).toEqual(
        parallel ? [[0, "toolu_w"], [1, "toolu_t"]] : [[0, "toolu_w"]]
      )
      expect(ofTag(events, "ToolCallDelta").map((event) => event.arguments)).toEqual(
        parallel ? ["{\"city\":\"Oslo\"}", "{}"] : ["{\"city\":\"Oslo\"}"]
      )
      const { completed, suspension: held } = completionOf(state)
      expect(held).toEqual({
        toolCalls: parallel
          ? [
            { id: "toolu_w", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" },
            { id: "toolu_t", name: "get_time", arguments: "{}" }
          ]
          : [{ id: "toolu_w", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" }],
        held: ["toolu_w", "toolu_t"]
      })
      // Both attempts were billed: the broken stream's start and the whole answer.
      expect(completed.usage.inputTokens).toBe(9)
    }
  })
})
