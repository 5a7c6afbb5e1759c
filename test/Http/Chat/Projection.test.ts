/**
 * The pure projections of a turn's logged events into OpenAI responses: the stop-sequence
 * scanner, finish reasons and usage, the non-streaming `chat.completion` (`completionOf`)
 * and the frames of a streamed answer (`chunksOf`), and which events settle a stream's status.
 */
import { describe, expect, it } from "vitest"
import { CliTimeout, InternalFailure, UpstreamFailure } from "../../../src/Domain/Errors.js"
import {
  ModelFallback,
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
  type TurnUsage,
  UpstreamRetry
} from "../../../src/Domain/SessionEvent.js"
import {
  chunksOf,
  completionOf,
  finishReasonOf,
  initialChunkState,
  type ProjectionContext,
  type StreamFrame,
  usageOf
} from "../../../src/Http/Chat/Projection.js"
import { flushStop, initialStopScanner, scanStop, type StopScanner } from "../../../src/Http/Chat/StopSequences.js"
import type { ChatCompletion, ChatCompletionChunk } from "../../../src/Http/Chat/Wire.js"
import { settlesStatus } from "../../../src/Http/TurnAnswer.js"

// ---------------------------------------------------------------------------
// Builders

const TURN = "turn_01HZX5"
const MODEL = "claude-sonnet-4-5-20250929"
/** The TurnStarted timestamp: 1_700_000_123 s and a half. */
const T0 = 1_700_000_123_500
const CREATED = 1_700_000_123

const USAGE: TurnUsage = { inputTokens: 12, outputTokens: 34, cacheReadInputTokens: 500, cacheCreationInputTokens: 60 }

/** Numbers events from 1, one second apart from T0, as the store would. */
const stored = (events: ReadonlyArray<SessionEvent>): ReadonlyArray<StoredEvent> =>
  events.map((event, index) =>
    new StoredEvent({ sessionId: "s-1", sequence: index + 1, timestamp: T0 + index * 1000, event })
  )

const one = (event: SessionEvent, timestamp = T0) =>
  new StoredEvent({ sessionId: "s-1", sequence: 1, timestamp, event })

const started = (
  models: { readonly requestedModel?: string | null; readonly resolvedModel?: string | null } = {},
  turnId = TURN
) =>
  new TurnStarted({
    turnId,
    messages: [{ role: "user", content: [{ _tag: "text", text: "hi" }] }],
    systemPrompt: null,
    requestedModel: models.requestedModel === undefined ? "sonnet" : models.requestedModel,
    resolvedModel: models.resolvedModel === undefined ? MODEL : models.resolvedModel,
    fallbackModels: [],
    parameters: {}
  })
const attached = (model = MODEL) =>
  new TurnAttached({ turnId: TURN, model, cliSessionId: "cli-1", cliVersion: "2.1.197" })
const text = (value: string) => new TextDelta({ turnId: TURN, text: value })
const thinking = (value: string) => new ThinkingDelta({ turnId: TURN, text: value })
const toolUse = (toolUseId: string, name: string, input: unknown) =>
  new ToolUse({ turnId: TURN, toolUseId, name, input })
const toolResult = (toolUseId: string, content: string, isError = false) =>
  new ToolResult({ turnId: TURN, toolUseId, content, isError })
const completed = (
  extra: {
    readonly model?: string
    readonly stopReason?: string | null
    readonly costUsd?: number | null
    readonly structuredOutput?: unknown
  } = {}
) =>
  new TurnCompleted({
    turnId: TURN,
    model: extra.model ?? MODEL,
    cliSessionId: "cli-1",
    stopReason: extra.stopReason === undefined ? "end_turn" : extra.stopReason,
    usage: USAGE,
    costUsd: extra.costUsd === undefined ? 0.0421 : extra.costUsd,
    durationMs: 1500,
    numTurns: 1,
    structuredOutput: extra.structuredOutput ?? null
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

/** A turn that answers with `pieces` of text. */
const turn = (pieces: ReadonlyArray<string>, end: SessionEvent = completed()): ReadonlyArray<SessionEvent> => [
  started(),
  attached(),
  ...pieces.map(text),
  end
]

/** The completion of a turn that must have completed. */
const complete = (events: ReadonlyArray<SessionEvent>, ctx: ProjectionContext = context()): ChatCompletion => {
  const result = completionOf(stored(events), ctx)
  if ("_tag" in result) throw new Error(`expected a completion, got ${result._tag}`)
  return result
}

/** Folds `chunksOf` over a turn's events: every frame, in order. */
const stream = (events: ReadonlyArray<SessionEvent>, ctx: ProjectionContext = context()): Array<StreamFrame> => {
  const frames: Array<StreamFrame> = []
  let state = initialChunkState
  for (const event of stored(events)) {
    const [next, emitted] = chunksOf(state, event, ctx)
    for (const frame of emitted) frames.push(frame)
    state = next
  }
  return frames
}

const chunksIn = (frames: ReadonlyArray<StreamFrame>): Array<ChatCompletionChunk> =>
  frames.flatMap((frame) => (frame._tag === "Chunk" ? [frame.chunk] : []))

/** The streamed answer's text, as a client concatenates it. */
const streamedText = (frames: ReadonlyArray<StreamFrame>): string =>
  chunksIn(frames).flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? "")).join("")

const finishOf = (frames: ReadonlyArray<StreamFrame>) =>
  chunksIn(frames).flatMap((chunk) => chunk.choices.flatMap((choice) => choice.finish_reason ?? []))

/** Feeds pieces to the scanner: what each piece released, what the end released, and the final state. */
const scanAll = (pieces: ReadonlyArray<string>, stops: ReadonlyArray<string>) => {
  let scanner: StopScanner = initialStopScanner
  const released: Array<string> = []
  for (const piece of pieces) {
    const [next, out] = scanStop(scanner, piece, stops)
    released.push(out)
    scanner = next
  }
  const flushed = flushStop(scanner)
  return { released, flushed, text: released.join("") + flushed, scanner }
}

const EXPECTED_USAGE = {
  prompt_tokens: 572,
  completion_tokens: 34,
  total_tokens: 606,
  prompt_tokens_details: { cached_tokens: 500 },
  completion_tokens_details: { reasoning_tokens: 0 },
  cost_usd: 0.0421
}

// ---------------------------------------------------------------------------

describe("scanStop / flushStop", () => {
  it("passes text straight through without stop sequences", () => {
    expect(scanAll(["Hello", " world"], [])).toEqual({
      released: ["Hello", " world"],
      flushed: "",
      text: "Hello world",
      scanner: { held: "", stopped: false }
    })
  })

  it("cuts before a stop sequence and releases nothing after it", () => {
    const result = scanAll(["Hello END world", "more text"], ["END"])
    expect(result.released).toEqual(["Hello ", ""])
    expect(result.flushed).toBe("")
    expect(result.scanner).toEqual({ held: "", stopped: true, matched: "END" })
  })

  it("finds a stop sequence split across deltas, holding its possible start meanwhile", () => {
    const result = scanAll(["Hello E", "N", "D and more"], ["END"])
    expect(result.released).toEqual(["Hello ", "", ""])
    expect(result.text).toBe("Hello ")
    expect(result.scanner.stopped).toBe(true)
  })

  it("holds only the suffix that could start a stop sequence", () => {
    const [scanner, released] = scanStop(initialStopScanner, "say EN", ["END"])
    expect(released).toBe("say ")
    expect(scanner).toEqual({ held: "EN", stopped: false })
  })

  it("releases a held prefix once the text moves on", () => {
    const result = scanAll(["abc E", "xyz"], ["END"])
    expect(result.released).toEqual(["abc ", "Exyz"])
    expect(result.text).toBe("abc Exyz")
    expect(result.scanner.stopped).toBe(false)
  })

  it("releases a held prefix at the end when no stop sequence matched", () => {
    const result = scanAll(["Hello E", "N"], ["END"])
    expect(result.released).toEqual(["Hello ", ""])
    expect(result.flushed).toBe("EN")
    expect(result.text).toBe("Hello EN")
  })

  it("with several stop sequences, cuts at the earliest in the text (not in the list)", () => {
    expect(scanAll(["one two three"], ["three", "two"]).text).toBe("one ")
    expect(scanAll(["xab"], ["ab", "b"]).text).toBe("x")
    expect(scanAll(["x", "a", "b"], ["b", "ab"]).text).toBe("x")
  })

  it("holds the longest suffix that starts any of the stop sequences", () => {
    const [scanner, released] = scanStop(initialStopScanner, "xbc", ["abc", "bcd"])
    expect(released).toBe("x")
    expect(scanner.held).toBe("bc")
  })

  it("ignores empty stop sequences", () => {
    expect(scanAll(["Hello", " world"], [""]).text).toBe("Hello world")
  })

  it("releases nothing once stopped, not even on flush", () => {
    const stopped: StopScanner = { held: "", stopped: true }
    expect(scanStop(stopped, "more", ["x"])).toEqual([stopped, ""])
    expect(flushStop(stopped)).toBe("")
  })
})

describe("finishReasonOf", () => {
  it.each(
    [
      ["end_turn", "stop"],
      ["tool_use", "stop"],
      ["stop_sequence", "stop"],
      [null, "stop"],
      ["max_tokens", "length"],
      ["model_context_window_exceeded", "length"],
      ["refusal", "content_filter"]
    ] as const
  )("maps stop reason %s to %s", (stopReason, finish) => {
    expect(finishReasonOf(stopReason, false)).toBe(finish)
  })

  it("is stop whenever a stop sequence cut the answer", () => {
    expect(finishReasonOf("max_tokens", true)).toBe("stop")
    expect(finishReasonOf("refusal", true)).toBe("stop")
  })
})

describe("usageOf", () => {
  it("counts cache reads and cache creation as prompt tokens", () => {
    expect(usageOf(USAGE, 0.0421)).toEqual(EXPECTED_USAGE)
  })

  it("keeps an unknown cost as null", () => {
    expect(usageOf({ inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 }, null))
      .toEqual({
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
        cost_usd: null
      })
  })
})

describe("completionOf", () => {
  it("projects a plain turn into a chat.completion", () => {
    expect(complete(turn(["Hello", ", world"]), context({ sessionId: "s-9", projectId: "proj" }))).toEqual({
      id: "chatcmpl-01HZX5",
      object: "chat.completion",
      created: CREATED,
      model: MODEL,
      choices: [{
        index: 0,
        message: { role: "assistant", content: "Hello, world", refusal: null },
        logprobs: null,
        finish_reason: "stop"
      }],
      usage: EXPECTED_USAGE,
      system_fingerprint: null,
      session_id: "s-9",
      project_id: "proj"
    })
  })

  it("keeps a turn id without the turn_ prefix as it is", () => {
    expect(complete([started({}, "abc"), completed()]).id).toBe("chatcmpl-abc")
  })

  it("takes created from the TurnStarted timestamp, in whole seconds", () => {
    const events = [
      new StoredEvent({ sessionId: "s-1", sequence: 7, timestamp: 1_234_999, event: started() }),
      new StoredEvent({ sessionId: "s-1", sequence: 8, timestamp: 9_999_999, event: completed() })
    ]
    const result = completionOf(events, context())
    expect("_tag" in result ? null : result.created).toBe(1234)
  })

  it("names the model the turn completed with", () => {
    expect(complete([started(), attached("claude-attached"), completed({ model: "claude-final" })]).model)
      .toBe("claude-final")
  })

  it("has no message extensions when there was no thinking and no tool use", () => {
    const message = complete(turn(["x"])).choices[0]!.message
    expect(message).not.toHaveProperty("reasoning_content")
    expect(message).not.toHaveProperty("claude_code_tool_uses")
  })

  it("reports thinking as reasoning_content", () => {
    const message = complete([started(), attached(), thinking("Let me "), thinking("think."), text("42"), completed()])
      .choices[0]!.message
    expect(message.reasoning_content).toBe("Let me think.")
    expect(message.content).toBe("42")
  })

  it("reports Claude Code's own tool uses with their outputs", () => {
    const message = complete([
      started(),
      attached(),
      toolUse("tu_1", "Bash", { command: "ls" }),
      toolUse("tu_2", "Read", { file_path: "/nope" }),
      toolUse("tu_3", "Grep", { pattern: "x" }),
      toolResult("tu_1", "a.txt\nb.txt"),
      toolResult("tu_2", "File does not exist.", true),
      toolResult("tu_unknown", "ignored"),
      text("Done."),
      completed()
    ]).choices[0]!.message
    expect(message.claude_code_tool_uses).toEqual([
      { id: "tu_1", name: "Bash", input: { command: "ls" }, output: "a.txt\nb.txt", is_error: false },
      { id: "tu_2", name: "Read", input: { file_path: "/nope" }, output: "File does not exist.", is_error: true },
      { id: "tu_3", name: "Grep", input: { pattern: "x" }, output: null, is_error: false }
    ])
    expect(message.content).toBe("Done.")
  })

  describe("stop sequences", () => {
    it("cuts the content before the first stop sequence, finishing with stop", () => {
      const events = turn(["The answer is 42.", " END and then more", " text"], completed({ stopReason: "max_tokens" }))
      const choice = complete(events, context({ stop: ["END"] })).choices[0]!
      expect(choice.message.content).toBe("The answer is 42. ")
      expect(choice.finish_reason).toBe("stop")
    })

    it("finds a stop sequence split across deltas", () => {
      expect(complete(turn(["Hello ST", "O", "P world"]), context({ stop: ["STOP"] })).choices[0]!.message.content)
        .toBe("Hello ")
    })

    it("releases a held partial stop sequence at the end when none matched", () => {
      const events = turn(["Hello ST", "O"], completed({ stopReason: "max_tokens" }))
      const choice = complete(events, context({ stop: ["STOP"] })).choices[0]!
      expect(choice.message.content).toBe("Hello STO")
      expect(choice.finish_reason).toBe("length")
    })

    it("cuts at the earliest of several stop sequences", () => {
      expect(complete(turn(["a, b; c"]), context({ stop: [";", ","] })).choices[0]!.message.content).toBe("a")
    })
  })

  describe("finish reasons", () => {
    it.each(
      [
        ["end_turn", "stop"],
        ["max_tokens", "length"],
        ["refusal", "content_filter"],
        [null, "stop"]
      ] as const
    )("stop reason %s finishes with %s", (stopReason, finish) => {
      expect(complete(turn(["x"], completed({ stopReason }))).choices[0]!.finish_reason).toBe(finish)
    })
  })

  describe("structured output", () => {
    it("answers the structured output as JSON, not the text said on the way", () => {
      const output = { city: "Paris", temperature: 18 }
      const completion = complete(
        turn(["Let me format that."], completed({ structuredOutput: output })),
        context({ structured: true })
      )
      expect(completion.choices[0]!.message.content).toBe(JSON.stringify(output))
      expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual(output)
    })

    it("answers the text when the CLI returned no structured output", () => {
      expect(complete(turn(["{\"a\":", "1}"]), context({ structured: true })).choices[0]!.message.content)
        .toBe("{\"a\":1}")
    })

    it("ignores a structured output the request did not ask for", () => {
      expect(complete(turn(["plain"], completed({ structuredOutput: { a: 1 } }))).choices[0]!.message.content)
        .toBe("plain")
    })
  })

  describe("turns that did not complete", () => {
    it("returns the error of a failed turn", () => {
      const error = new UpstreamFailure({
        status: 529,
        kind: "overloaded",
        message: "Overloaded",
        retryAfterSeconds: 3
      })
      expect(completionOf(stored([...turn(["partial"], new TurnFailed({ turnId: TURN, error }))]), context()))
        .toEqual({ _tag: "Failed", error })
    })

    it("returns the reason of a cancelled turn", () => {
      expect(completionOf(stored(turn(["partial"], new TurnCancelled({ turnId: TURN, reason: "client" }))), context()))
        .toEqual({ _tag: "Cancelled", reason: "client" })
    })

    it("is an internal failure when the events end before the turn does", () => {
      for (const events of [[], [started(), attached(), text("half an answ")]]) {
        const result = completionOf(stored(events), context())
        expect("_tag" in result && result._tag).toBe("Failed")
        const error = "_tag" in result && result._tag === "Failed" ? result.error : null
        expect(error).toBeInstanceOf(InternalFailure)
        expect(error?.message).toBe("the turn's events end before the turn does")
      }
    })
  })
})

describe("chunksOf", () => {
  /** The chunk every frame of the default turn has around its choice. */
  const frame = (
    delta: ChatCompletionChunk["choices"][number]["delta"],
    finish: ChatCompletionChunk["choices"][number]["finish_reason"] = null
  ): StreamFrame => ({
    _tag: "Chunk",
    chunk: {
      id: "chatcmpl-01HZX5",
      object: "chat.completion.chunk",
      created: CREATED,
      model: MODEL,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
    }
  })

  it("streams a plain turn: role first, one chunk per delta, an empty finishing chunk, then Done", () => {
    expect(stream(turn(["Hello", ", world"]))).toEqual([
      frame({ role: "assistant", content: "" }),
      frame({ content: "Hello" }),
      frame({ content: ", world" }),
      frame({}, "stop"),
      { _tag: "Done" }
    ])
  })

  it("gives every chunk the same id, created and model", () => {
    const chunks = chunksIn(
      stream(
        [started(), attached(), thinking("hm"), text("a"), text("b"), completed()],
        context({ includeUsage: true })
      )
    )
    expect(chunks.length).toBe(6)
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({
        id: "chatcmpl-01HZX5",
        created: CREATED,
        model: MODEL,
        object: "chat.completion.chunk"
      })
    }
  })

  it("adds a usage chunk without choices before Done only when include_usage was asked", () => {
    const frames = stream(turn(["Hi"]), context({ includeUsage: true }))
    expect(frames.slice(-2)).toEqual([
      {
        _tag: "Chunk",
        chunk: {
          id: "chatcmpl-01HZX5",
          object: "chat.completion.chunk",
          created: CREATED,
          model: MODEL,
          system_fingerprint: null,
          choices: [],
          usage: EXPECTED_USAGE
        }
      },
      { _tag: "Done" }
    ])
    expect(chunksIn(stream(turn(["Hi"]))).some((chunk) => "usage" in chunk)).toBe(false)
  })

  it("ends with the finish reason of the stop reason", () => {
    expect(finishOf(stream(turn(["x"], completed({ stopReason: "max_tokens" }))))).toEqual(["length"])
    expect(finishOf(stream(turn(["x"], completed({ stopReason: "refusal" }))))).toEqual(["content_filter"])
  })

  it("streams thinking and Claude Code's tool traffic as extension deltas", () => {
    expect(stream([
      started(),
      attached(),
      thinking("Listing."),
      toolUse("tu_1", "Bash", { command: "ls" }),
      toolResult("tu_1", "a.txt", false),
      text("One file."),
      completed()
    ])).toEqual([
      frame({ role: "assistant", content: "" }),
      frame({ reasoning_content: "Listing." }),
      frame({ claude_code_tool_use: { id: "tu_1", name: "Bash", input: { command: "ls" } } }),
      frame({ claude_code_tool_result: { id: "tu_1", output: "a.txt", is_error: false } }),
      frame({ content: "One file." }),
      frame({}, "stop"),
      { _tag: "Done" }
    ])
  })

  it("sends the role once, before the first delta even without TurnAttached", () => {
    expect(stream([started(), text("a"), text("b"), completed()])).toEqual([
      frame({ role: "assistant", content: "" }),
      frame({ content: "a" }),
      frame({ content: "b" }),
      frame({}, "stop"),
      { _tag: "Done" }
    ])
  })

  it("emits nothing for TurnStarted or the CLI's retries and fallbacks", () => {
    expect(stream([
      started(),
      new UpstreamRetry({ turnId: TURN, attempt: 1, status: 529, kind: "overloaded", delayMs: 1000 }),
      new ModelFallback({ turnId: TURN, fromModel: "a", toModel: "b", reason: "rejected" })
    ])).toEqual([])
  })

  it("takes its id and created from TurnStarted and its model from TurnStarted, then TurnAttached", () => {
    const [afterStart] = chunksOf(initialChunkState, one(started(), 42_999), context())
    expect(afterStart).toMatchObject({ id: "chatcmpl-01HZX5", created: 42, model: MODEL, roleSent: false })
    const [fromRequested] = chunksOf(initialChunkState, one(started({ resolvedModel: null })), context())
    expect(fromRequested.model).toBe("sonnet")
    const [fromDefault] = chunksOf(
      initialChunkState,
      one(started({ resolvedModel: null, requestedModel: null })),
      context()
    )
    expect(fromDefault.model).toBe("claude-code")
    const [afterAttach, frames] = chunksOf(afterStart, one(attached("claude-opus-4-8")), context())
    expect(afterAttach.model).toBe("claude-opus-4-8")
    expect(frames).toEqual([{
      _tag: "Chunk",
      chunk: expect.objectContaining({
        model: "claude-opus-4-8",
        choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]
      })
    }])
  })

  describe("stop sequences", () => {
    it("sends nothing past a stop sequence and finishes with stop", () => {
      const frames = stream(
        turn(["Hello ST", "O", "P world", " more"], completed({ stopReason: "max_tokens" })),
        context({ stop: ["STOP"] })
      )
      expect(streamedText(frames)).toBe("Hello ")
      expect(finishOf(frames)).toEqual(["stop"])
      expect(frames).toEqual([
        frame({ role: "assistant", content: "" }),
        frame({ content: "Hello " }),
        frame({}, "stop"),
        { _tag: "Done" }
      ])
    })

    it("sends a held partial stop sequence just before the finishing chunk when none matched", () => {
      const frames = stream(turn(["Hello ST", "O"]), context({ stop: ["STOP"] }))
      expect(frames).toEqual([
        frame({ role: "assistant", content: "" }),
        frame({ content: "Hello " }),
        frame({ content: "STO" }),
        frame({}, "stop"),
        { _tag: "Done" }
      ])
    })

    it("streams the same text as the completion", () => {
      const cases: ReadonlyArray<[ReadonlyArray<string>, ReadonlyArray<string>]> = [
        [["Hello", " world"], []],
        [["a, b; c"], [";", ","]],
        [["Hello ST", "O", "P world"], ["STOP"]],
        [["Hello ST", "O"], ["STOP"]]
      ]
      for (const [pieces, stop] of cases) {
        const ctx = context({ stop })
        expect(streamedText(stream(turn(pieces), ctx))).toBe(complete(turn(pieces), ctx).choices[0]!.message.content)
      }
    })
  })

  describe("structured output", () => {
    it("holds the text back and sends the structured output once at the end", () => {
      const output = { answer: 42 }
      expect(
        stream(turn(["Let me ", "think."], completed({ structuredOutput: output })), context({ structured: true }))
      )
        .toEqual([
          frame({ role: "assistant", content: "" }),
          frame({ content: "{\"answer\":42}" }),
          frame({}, "stop"),
          { _tag: "Done" }
        ])
    })

    it("sends the held text at the end when there is no structured output", () => {
      expect(stream(turn(["{\"a\":", "1}"]), context({ structured: true }))).toEqual([
        frame({ role: "assistant", content: "" }),
        frame({ content: "{\"a\":1}" }),
        frame({}, "stop"),
        { _tag: "Done" }
      ])
    })

    // Stop sequences never cut a structured answer, so both modes answer the same text.
    it("answers a structured turn's fallback text the same way streamed and not", () => {
      const ctx = context({ structured: true, stop: ["END"] })
      const events = turn(["{\"a\":1}", " END trailing"])
      expect(streamedText(stream(events, ctx))).toBe(complete(events, ctx).choices[0]!.message.content)
    })

    // Text said on the way to a structured output does not decide the finish reason.
    it("finishes a structured turn with the same reason streamed and not", () => {
      const ctx = context({ structured: true, stop: ["END"] })
      const events = turn(["thinking END aloud"], completed({ stopReason: "max_tokens", structuredOutput: { a: 1 } }))
      expect(finishOf(stream(events, ctx))).toEqual([complete(events, ctx).choices[0]!.finish_reason])
    })
  })

  describe("turns that did not complete", () => {
    it("sends an Error frame then Done for a failed turn", () => {
      const error = new CliTimeout({ idleSeconds: 300 })
      const frames = stream(turn(["partial"], new TurnFailed({ turnId: TURN, error })))
      expect(frames.slice(-2)).toEqual([{ _tag: "Error", failure: { _tag: "Failed", error } }, { _tag: "Done" }])
      expect(finishOf(frames)).toEqual([])
    })

    it("sends an Error frame then Done for a cancelled turn", () => {
      expect(stream(turn([], new TurnCancelled({ turnId: TURN, reason: "timeout" })))).toEqual([
        frame({ role: "assistant", content: "" }),
        { _tag: "Error", failure: { _tag: "Cancelled", reason: "timeout" } },
        { _tag: "Done" }
      ])
    })

    it("sends no role chunk for a turn that fails before the model answers", () => {
      const error = new UpstreamFailure({ status: 401, kind: null, message: "bad key", retryAfterSeconds: null })
      expect(stream([started(), new TurnFailed({ turnId: TURN, error })])).toEqual([
        { _tag: "Error", failure: { _tag: "Failed", error } },
        { _tag: "Done" }
      ])
    })
  })
})

describe("settlesStatus (TurnAnswer)", () => {
  const error = new InternalFailure({ message: "x" })
  it.each(
    [
      ["TurnAttached", attached(), true],
      ["TextDelta", text("a"), true],
      ["ThinkingDelta", thinking("a"), true],
      ["ToolUse", toolUse("tu", "Bash", {}), true],
      ["ToolCallStarted", new ToolCallStarted({ turnId: TURN, index: 0, callId: "toolu_1", name: "f" }), true],
      ["TurnCompleted", completed(), true],
      ["TurnFailed", new TurnFailed({ turnId: TURN, error }), true],
      ["TurnCancelled", new TurnCancelled({ turnId: TURN, reason: "client" }), true],
      ["TurnStarted", started(), false],
      ["ToolResult", toolResult("tu", "out"), false],
      ["ToolCallDelta", new ToolCallDelta({ turnId: TURN, index: 0, arguments: "{}" }), false],
      ["UpstreamRetry", new UpstreamRetry({ turnId: TURN, attempt: 1, status: 429, kind: null, delayMs: null }), false],
      ["ModelFallback", new ModelFallback({ turnId: TURN, fromModel: "a", toModel: "b", reason: "r" }), false]
    ] as const
  )("%s settles the status: %s", (_name, event, settles) => {
    expect(settlesStatus(one(event))).toBe(settles)
  })
})
