/**
 * Folding `translate` over recorded CLI runs: the log events each run means.
 */
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { type CliEvent, decodeCliLine } from "../../src/Domain/CliEvent.js"
import type {
  ModelFallback,
  SessionEvent,
  TextDelta,
  ThinkingDelta,
  ToolResult,
  ToolUse,
  TurnAttached,
  TurnCompleted,
  UpstreamRetry
} from "../../src/Domain/SessionEvent.js"
import {
  initialTranslatorState,
  toolResultText,
  translate,
  type TranslatorState
} from "../../src/SessionRunner/translate.js"

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "cli")
const TURN = "turn-1"

const fixtureLines = (name: string): ReadonlyArray<string> =>
  readFileSync(join(FIXTURES, `${name}.jsonl`), "utf8").split("\n").filter((line) => line.length > 0)

const fold = (events: ReadonlyArray<CliEvent>, state: TranslatorState = initialTranslatorState(TURN)) => {
  const out: Array<SessionEvent> = []
  let current = state
  for (const event of events) {
    const [next, emitted] = translate(current, event)
    for (const event of emitted) out.push(event)
    current = next
  }
  return { state: current, events: out }
}

const run = (name: string) => fold(fixtureLines(name).map(decodeCliLine))
const runLines = (lines: ReadonlyArray<unknown>) => fold(lines.map((line) => decodeCliLine(JSON.stringify(line))))

const ofTag = <T extends SessionEvent["_tag"]>(events: ReadonlyArray<SessionEvent>, tag: T) =>
  events.filter((event): event is Extract<SessionEvent, { _tag: T }> => event._tag === tag)

const text = (events: ReadonlyArray<SessionEvent>): string =>
  ofTag(events, "TextDelta").map((event: TextDelta) => event.text).join("")

/** The `result` text of a recording's last result line. */
const resultText = (name: string): string => {
  const results = fixtureLines(name).map((line) => JSON.parse(line) as { type: string; result?: string })
    .filter((line) => line.type === "result")
  return results[results.length - 1]!.result!
}

/** The text blocks of a recording's top-level assistant lines, in order. */
const assistantTexts = (name: string): ReadonlyArray<string> =>
  fixtureLines(name).map((line) =>
    JSON.parse(line) as { type: string; message?: { content: Array<{ type: string; text?: string }> } }
  )
    .filter((line) => line.type === "assistant")
    .flatMap((line) => line.message!.content.flatMap((block) => (block.type === "text" ? [block.text!] : [])))

const init = {
  type: "system",
  subtype: "init",
  session_id: "cli-session-1",
  model: "claude-opus-4-8[1m]",
  claude_code_version: "2.1.197",
  uuid: "u0"
}
const result = (extra: Record<string, unknown> = {}) => ({
  type: "result",
  subtype: "success",
  is_error: false,
  api_error_status: null,
  result: "done",
  stop_reason: "end_turn",
  session_id: "cli-session-1",
  usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 7, cache_creation_input_tokens: 11 },
  total_cost_usd: 0.5,
  duration_ms: 99,
  num_turns: 1,
  ...extra
})
const textDeltaLine = (text: string, parent: string | null = null) => ({
  type: "stream_event",
  event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } },
  session_id: "cli-session-1",
  parent_tool_use_id: parent
})
const messageStart = (model: string, parent: string | null = null) => ({
  type: "stream_event",
  event: { type: "message_start", message: { id: "msg_1", model, usage: { input_tokens: 1, output_tokens: 1 } } },
  session_id: "cli-session-1",
  parent_tool_use_id: parent
})
const assistantText = (text: string, parent: string | null = null, model = "claude-opus-4-8") => ({
  type: "assistant",
  message: { id: "msg_1", model, content: [{ type: "text", text }] },
  session_id: "cli-session-1",
  parent_tool_use_id: parent
})

describe("translate: partial.jsonl", () => {
  const { events } = run("partial")

  it("emits TurnAttached first, before any TextDelta, with the model and the CLI session", () => {
    const first = events[0]!
    expect(first._tag).toBe("TurnAttached")
    expect(ofTag(events, "TurnAttached")).toHaveLength(1)
    expect(first).toMatchObject({
      turnId: TURN,
      model: "claude-opus-4-8",
      cliSessionId: "afb242f9-4429-4308-9d80-02d436d7d8c8",
      cliVersion: "2.1.197"
    })
  })

  it("streams TextDeltas that concatenate exactly to the final text", () => {
    const deltas = ofTag(events, "TextDelta")
    expect(deltas.length).toBe(7)
    expect(deltas.every((delta) => delta.turnId === TURN && delta.text.length > 0)).toBe(true)
    expect(text(events)).toBe(resultText("partial"))
  })

  it("ends with exactly one TurnCompleted carrying the result's usage and the CLI session id", () => {
    const completed = ofTag(events, "TurnCompleted")
    expect(completed).toHaveLength(1)
    expect(events[events.length - 1]).toBe(completed[0])
    expect(completed[0]).toMatchObject({
      turnId: TURN,
      model: "claude-opus-4-8",
      cliSessionId: "afb242f9-4429-4308-9d80-02d436d7d8c8",
      stopReason: "end_turn",
      usage: { inputTokens: 18980, outputTokens: 20, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
      costUsd: 0.0954,
      durationMs: 154,
      numTurns: 1
    })
  })

  it("emits nothing but TurnAttached, TextDelta and TurnCompleted", () => {
    expect(new Set(events.map((event) => event._tag))).toEqual(new Set(["TurnAttached", "TextDelta", "TurnCompleted"]))
  })
})

describe("translate: usage and session id", () => {
  it("maps every usage field of the result, cache fields included", () => {
    const { events } = runLines([init, messageStart("claude-opus-4-8"), assistantText("done"), result()])
    const completed = ofTag(events, "TurnCompleted")[0]! as TurnCompleted
    expect(completed.usage).toEqual({
      inputTokens: 10,
      outputTokens: 5,
      cacheReadInputTokens: 7,
      cacheCreationInputTokens: 11
    })
    expect(completed.cliSessionId).toBe("cli-session-1")
    expect(completed.costUsd).toBe(0.5)
  })

  it("reports missing usage as zeros and missing numbers as null", () => {
    const { events } = runLines([
      init,
      assistantText("done"),
      { type: "result", subtype: "success", is_error: false, result: "done" }
    ])
    expect(ofTag(events, "TurnCompleted")[0]).toMatchObject({
      cliSessionId: "cli-session-1",
      stopReason: null,
      usage: { inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
      costUsd: null,
      durationMs: null,
      numTurns: null
    })
  })
})

describe("translate: thinking_partial.jsonl", () => {
  const { events } = run("thinking_partial")

  it("emits ThinkingDeltas, then the text", () => {
    const thinking = ofTag(events, "ThinkingDelta")
    expect(thinking.length).toBe(4)
    expect(thinking.map((event: ThinkingDelta) => event.text).join("")).toBe(
      "The user wants a short answer. I will think briefly."
    )
    expect(text(events)).toBe("Answer after thinking.")
    const lastThinking = events.lastIndexOf(thinking[thinking.length - 1]!)
    const firstText = events.findIndex((event) => event._tag === "TextDelta")
    expect(lastThinking).toBeLessThan(firstText)
    expect(events[0]!._tag).toBe("TurnAttached")
    expect(ofTag(events, "TurnCompleted")).toHaveLength(1)
  })
})

describe("translate: tool use", () => {
  it("tool_use_partial.jsonl → ToolUse (Bash, with its command) and ToolResult with its content", () => {
    const { events } = run("tool_use_partial")
    const uses = ofTag(events, "ToolUse")
    expect(uses).toHaveLength(1)
    const use = uses[0]! as ToolUse
    expect(use.name).toBe("Bash")
    expect(use.toolUseId).toBe("toolu_fake_0001")
    expect(use.input).toMatchObject({ command: "touch tool_touch.txt && echo touched" })
    const results = ofTag(events, "ToolResult")
    expect(results).toHaveLength(1)
    expect(results[0]).toMatchObject<Partial<ToolResult>>({
      toolUseId: "toolu_fake_0001",
      content: "touched",
      isError: false
    })
    expect(events.indexOf(use)).toBeLessThan(events.indexOf(results[0]!))
    // Text before and after the tool call, each once.
    expect(text(events)).toBe("I will use the Bash tool.Tool result was: touched")
    expect(ofTag(events, "TurnAttached")).toHaveLength(1)
    expect(ofTag(events, "TurnCompleted")).toHaveLength(1)
  })

  it("tool_use.jsonl (no partial messages) → the same events, text reconciled from the assistant lines", () => {
    const { events } = run("tool_use")
    expect(events.map((event) => event._tag)).toEqual([
      "TurnAttached",
      "TextDelta",
      "ToolUse",
      "ToolResult",
      "TextDelta",
      "TurnCompleted"
    ])
    expect(text(events)).toBe(assistantTexts("tool_use").join(""))
  })

  it("tool results given as blocks or errors keep their text and error flag", () => {
    const { events } = runLines([
      init,
      {
        type: "user",
        message: {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "t1",
              content: [{ type: "text", text: "a" }, { type: "text", text: "b" }]
            },
            { type: "tool_result", tool_use_id: "t2", content: "<tool_use_error>no</tool_use_error>", is_error: true }
          ]
        },
        parent_tool_use_id: null
      }
    ])
    expect(ofTag(events, "ToolResult").map((event) => [event.toolUseId, event.content, event.isError])).toEqual([
      ["t1", "ab", false],
      ["t2", "<tool_use_error>no</tool_use_error>", true]
    ])
  })

  it("toolResultText handles strings, block lists, images and absent content", () => {
    expect(toolResultText("plain")).toBe("plain")
    expect(toolResultText([{ type: "text", text: "x" }, { type: "image", source: {} }])).toBe("x[image]")
    expect(toolResultText(undefined)).toBe("")
    expect(toolResultText(null)).toBe("")
    expect(toolResultText({ a: 1 })).toBe("{\"a\":1}")
  })
})

describe("translate: reconciliation of streamed and final text", () => {
  it("stream_error.jsonl → the text is not duplicated by the retried final assistant", () => {
    const { events } = run("stream_error")
    expect(text(events)).toBe(assistantTexts("stream_error").join(""))
    expect(text(events)).toBe("This stream will break")
    expect(ofTag(events, "TurnCompleted")).toHaveLength(1)
  })

  it("simple.jsonl (no partial messages) → one TextDelta with the whole answer", () => {
    const { events } = run("simple")
    expect(events.map((event) => event._tag)).toEqual(["TurnAttached", "TextDelta", "TurnCompleted"])
    expect(text(events)).toBe(resultText("simple"))
  })

  it("text carried by an assistant block but never streamed is emitted once, as one delta", () => {
    const { events } = runLines([init, messageStart("claude-opus-4-8"), assistantText("Never streamed."), result()])
    const deltas = ofTag(events, "TextDelta")
    expect(deltas).toHaveLength(1)
    expect(deltas[0]!.text).toBe("Never streamed.")
  })

  it("only the part the deltas did not carry is emitted", () => {
    const { events } = runLines([
      init,
      messageStart("claude-opus-4-8"),
      textDeltaLine("Hello wor"),
      assistantText("Hello world"),
      result()
    ])
    expect(ofTag(events, "TextDelta").map((event) => event.text)).toEqual(["Hello wor", "ld"])
  })

  it("streamed text is not carried over into the next block's reconciliation", () => {
    const { events } = runLines([
      init,
      messageStart("claude-opus-4-8"),
      textDeltaLine("First."),
      assistantText("First."),
      assistantText("Second, never streamed."),
      result()
    ])
    expect(text(events)).toBe("First.Second, never streamed.")
  })
})

describe("translate: failures and fallbacks", () => {
  it("bad_model.jsonl → no TurnAttached, no TextDelta, no TurnCompleted", () => {
    const { events } = run("bad_model")
    expect(ofTag(events, "TurnAttached")).toHaveLength(0)
    expect(ofTag(events, "TextDelta")).toHaveLength(0)
    expect(ofTag(events, "TurnCompleted")).toHaveLength(0)
  })

  it("no_key.jsonl and error500_max_retries_0.jsonl → nothing that looks like an answer", () => {
    for (const name of ["no_key", "error500_max_retries_0"]) {
      expect(run(name).events, name).toEqual([])
    }
  })

  it("rate_limited_max_retries_2.jsonl → one UpstreamRetry per api_retry line, with its fields", () => {
    const { events } = run("rate_limited_max_retries_2")
    expect(events.map((event) => event._tag)).toEqual(["UpstreamRetry", "UpstreamRetry"])
    const retries = ofTag(events, "UpstreamRetry") as ReadonlyArray<UpstreamRetry>
    expect(retries[0]).toMatchObject({ turnId: TURN, attempt: 1, status: 429, kind: "rate_limit", delayMs: 1000 })
    expect(retries[1]!.attempt).toBe(2)
  })

  it("fallback_bogus.jsonl → ModelFallback, then TurnAttached on the fallback model", () => {
    const { events } = run("fallback_bogus")
    expect(events.map((event) => event._tag)).toEqual(["ModelFallback", "TurnAttached", "TextDelta", "TurnCompleted"])
    expect(events[0]).toMatchObject<Partial<ModelFallback>>({
      turnId: TURN,
      fromModel: "bogus-model",
      toModel: "claude-sonnet-4-5-20250929",
      reason: "model_not_found"
    })
    expect((events[1] as TurnAttached).model).toBe("claude-sonnet-4-5-20250929")
    expect((events[3] as TurnCompleted).model).toBe("claude-sonnet-4-5-20250929")
  })

  it("cancel_sigint.jsonl → the streamed text once, and no TurnCompleted", () => {
    const { events } = run("cancel_sigint")
    expect(text(events)).toBe("w1 w2 w3 w4 w5 w6 ")
    expect(ofTag(events, "TurnCompleted")).toHaveLength(0)
  })
})

describe("translate: sub-agent and synthetic lines", () => {
  it("ignores lines with parent_tool_use_id set", () => {
    const { events, state } = runLines([
      init,
      messageStart("claude-haiku-4-5", "toolu_task_1"),
      textDeltaLine("sub-agent text", "toolu_task_1"),
      assistantText("sub-agent text", "toolu_task_1", "claude-haiku-4-5"),
      {
        type: "assistant",
        message: {
          id: "m2",
          model: "claude-haiku-4-5",
          content: [{ type: "tool_use", id: "t9", name: "Read", input: {} }]
        },
        parent_tool_use_id: "toolu_task_1"
      },
      {
        type: "user",
        message: { role: "user", content: [{ type: "tool_result", tool_use_id: "t9", content: "secret" }] },
        parent_tool_use_id: "toolu_task_1"
      }
    ])
    expect(events).toEqual([])
    expect(state.attachedModel).toBeNull()
    expect(state.pendingText).toBe("")
  })

  it("sub-agent lines between top-level lines do not disturb the answer", () => {
    const { events } = runLines([
      init,
      messageStart("claude-opus-4-8"),
      textDeltaLine("Top "),
      textDeltaLine("sub", "toolu_task_1"),
      textDeltaLine("level."),
      assistantText("Top level."),
      result()
    ])
    expect(text(events)).toBe("Top level.")
    expect(ofTag(events, "TurnAttached")).toHaveLength(1)
    expect((ofTag(events, "TurnAttached")[0] as TurnAttached).model).toBe("claude-opus-4-8")
  })

  it("ignores the CLI's synthetic error assistant and replayed user lines", () => {
    const { events } = runLines([
      init,
      { ...assistantText("There's an issue with the selected model.", null, "<synthetic>"), error: "model_not_found" },
      {
        type: "user",
        message: { role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: "old" }] },
        isReplay: true
      },
      { type: "user", message: { role: "user", content: "[Request interrupted by user]" } }
    ])
    expect(events).toEqual([])
  })

  it("ignores unknown lines", () => {
    const { events, state } = fold([
      decodeCliLine("not json"),
      decodeCliLine(JSON.stringify({ type: "brand_new", x: 1 }))
    ])
    expect(events).toEqual([])
    expect(state).toEqual(initialTranslatorState(TURN))
  })
})
