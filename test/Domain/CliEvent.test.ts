/**
 * Decoding the CLI's stream-json stdout: every recorded line decodes into the modelled variant
 * with the fields the gateway relies on, and lines we do not model never break decoding.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import {
  type CliApiRetry,
  type CliAssistant,
  type CliEvent,
  type CliInit,
  type CliModelFallback,
  type CliResult,
  type CliStreamEvent,
  type CliUnknown,
  type CliUser,
  decodeCliLine,
  isApiRetry,
  isInit,
  isModelFallback
} from "../../src/Domain/CliEvent.js"

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "cli")

const rawLines = (name: string): ReadonlyArray<string> =>
  readFileSync(join(FIXTURES, `${name}.jsonl`), "utf8").split("\n").filter((line) => line.trim().length > 0)

const decoded = (name: string): ReadonlyArray<CliEvent> => rawLines(name).map(decodeCliLine)

const fixtureNames = readdirSync(FIXTURES)
  .filter((file) => file.endsWith(".jsonl") && !file.endsWith(".requests.jsonl"))
  .map((file) => file.slice(0, -".jsonl".length))
  .sort()

const isResult = (event: CliEvent): event is CliResult => event.type === "result"
const isAssistant = (event: CliEvent): event is CliAssistant => event.type === "assistant"
const isUser = (event: CliEvent): event is CliUser => event.type === "user"
const isStreamEvent = (event: CliEvent): event is CliStreamEvent => event.type === "stream_event"

const only = <A>(items: ReadonlyArray<A>): A => {
  expect(items).toHaveLength(1)
  return items[0]!
}

const textDeltas = (events: ReadonlyArray<CliEvent>): ReadonlyArray<string> =>
  events.filter(isStreamEvent).flatMap((event) => {
    const inner = event.event
    return inner.type === "content_block_delta" && "delta" in inner && inner.delta.type === "text_delta" &&
        "text" in inner.delta
      ? [inner.delta.text]
      : []
  })

describe("decodeCliLine on the recorded fixtures", () => {
  it("has the fixtures the suite relies on", () => {
    for (
      const name of [
        "partial",
        "thinking_partial",
        "tool_use_partial",
        "tool_use",
        "bad_model",
        "overloaded",
        "overloaded_max_retries_1",
        "rate_limited_max_retries_2",
        "error500_max_retries_0",
        "stream_error",
        "stream_input_interrupt",
        "resume",
        "simple",
        "max_turns",
        "json_schema",
        "fallback_bogus",
        "cancel_sigint",
        "no_key"
      ]
    ) {
      expect(fixtureNames).toContain(name)
    }
  })

  it("decodes every line of every fixture into a modelled variant (no unknowns)", () => {
    const known = new Set(["system", "stream_event", "assistant", "user", "result", "control_response"])
    let total = 0
    for (const name of fixtureNames) {
      const lines = rawLines(name)
      expect(lines.length, name).toBeGreaterThan(0)
      for (const line of lines) {
        const rawType = (JSON.parse(line) as { type: string }).type
        expect(known.has(rawType), `${name}: unexpected line type ${rawType}`).toBe(true)
        let event: CliEvent | undefined
        expect(() => {
          event = decodeCliLine(line)
        }).not.toThrow()
        expect(event?.type, `${name}: ${line.slice(0, 120)}`).toBe(rawType)
        total++
      }
    }
    expect(total).toBeGreaterThan(150)
  })

  it("every fixture starts with system/init and every turn ends with a result", () => {
    for (const name of fixtureNames) {
      const events = decoded(name)
      const first = events[0]!
      expect(isInit(first), name).toBe(true)
      expect(events.filter(isInit).length, name).toBe(events.filter(isResult).length)
      expect(isResult(events[events.length - 1]!), name).toBe(true)
    }
  })
})

describe("modelled variants carry the right fields", () => {
  it("system/init: session id, model, cwd, version, tools", () => {
    const init = decoded("simple")[0] as CliInit
    expect(isInit(init)).toBe(true)
    expect(init.session_id).toBe("121b9f0c-bce4-44e4-b7cb-6615619ff08b")
    expect(init.model.length).toBeGreaterThan(0)
    expect(init.cwd).toBe("<CWD>")
    expect(init.claude_code_version).toBe("2.1.197")
    expect(init.tools).toContain("Bash")
    expect(init.permissionMode).toBeTypeOf("string")
  })

  it("partial: text deltas concatenate to the result text and the assistant text", () => {
    const events = decoded("partial")
    const result = only(events.filter(isResult))
    const deltas = textDeltas(events)
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.join("")).toBe(result.result)
    expect(result.result).toBe("Hello from fake-anthropic. You said: hello. [user_msgs=1 model=claude-opus-4-8]")
    const assistant = only(events.filter(isAssistant))
    expect(assistant.message.content).toEqual([{ type: "text", text: result.result }])
  })

  it("partial: message_start, content_block_start/stop, message_delta, message_stop are modelled", () => {
    const inner = decoded("partial").filter(isStreamEvent).map((event) => event.event)
    const start = inner.find((event) => event.type === "message_start")
    expect(start).toMatchObject({ type: "message_start", message: { id: "msg_fake_000001", model: "claude-opus-4-8" } })
    expect(start && "message" in start ? start.message.usage?.input_tokens : undefined).toBe(18980)
    expect(inner.find((event) => event.type === "content_block_start")).toEqual({
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" }
    })
    expect(inner.find((event) => event.type === "content_block_stop")).toEqual({ type: "content_block_stop", index: 0 })
    const messageDelta = inner.find((event) => event.type === "message_delta")
    expect(messageDelta).toMatchObject({ delta: { stop_reason: "end_turn" }, usage: { output_tokens: 20 } })
    expect(inner.map((event) => event.type)).toContain("message_stop")
  })

  it("partial: the result carries usage, cost, duration, stop reason and session id", () => {
    const result = only(decoded("partial").filter(isResult))
    expect(result).toMatchObject({
      subtype: "success",
      is_error: false,
      api_error_status: null,
      stop_reason: "end_turn",
      session_id: "afb242f9-4429-4308-9d80-02d436d7d8c8",
      total_cost_usd: 0.0954,
      duration_ms: 154,
      num_turns: 1,
      usage: { input_tokens: 18980, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
    })
  })

  it("thinking_partial: thinking deltas, a thinking block with signature, then text", () => {
    const events = decoded("thinking_partial")
    const thinkingDeltas = events.filter(isStreamEvent).flatMap((event) => {
      const inner = event.event
      return inner.type === "content_block_delta" && "delta" in inner && inner.delta.type === "thinking_delta" &&
          "thinking" in inner.delta
        ? [inner.delta.thinking]
        : []
    })
    const blocks = events.filter(isAssistant).flatMap((event) => event.message.content)
    expect(blocks.map((block) => block.type)).toEqual(["thinking", "text"])
    expect(blocks[0]).toEqual({
      type: "thinking",
      thinking: "The user wants a short answer. I will think briefly.",
      signature: "fake-signature-0001"
    })
    expect(thinkingDeltas.join("")).toBe("The user wants a short answer. I will think briefly.")
    expect(textDeltas(events).join("")).toBe("Answer after thinking.")
    const thinkingTokens = events.filter((event) => event.type === "system" && event.subtype === "thinking_tokens")
    expect(thinkingTokens.length).toBeGreaterThan(0)
    const signature = events.filter(isStreamEvent).find((event) =>
      event.event.type === "content_block_delta" && "delta" in event.event &&
      event.event.delta.type === "signature_delta"
    )
    expect(signature).toBeDefined()
  })

  it("tool_use: assistant text and tool_use blocks, then a user tool_result", () => {
    const events = decoded("tool_use")
    const blocks = events.filter(isAssistant).flatMap((event) => event.message.content)
    expect(blocks.map((block) => block.type)).toEqual(["text", "tool_use", "text"])
    expect(blocks[1]).toEqual({
      type: "tool_use",
      id: "toolu_fake_0001",
      name: "Bash",
      input: { command: "touch tool_touch.txt && echo touched", description: "Create a file" }
    })
    const user = only(events.filter(isUser))
    expect(user.message.content).toEqual([
      { type: "tool_result", tool_use_id: "toolu_fake_0001", content: "touched", is_error: false }
    ])
    expect(user.parent_tool_use_id).toBeNull()
  })

  it("tool_use_partial: content_block_start for tool_use and input_json_delta pieces form the input", () => {
    const events = decoded("tool_use_partial")
    const inner = events.filter(isStreamEvent).map((event) => event.event)
    const toolStart = inner.find((event) =>
      event.type === "content_block_start" && "content_block" in event && event.content_block.type === "tool_use"
    )
    expect(toolStart).toEqual({
      type: "content_block_start",
      index: 1,
      content_block: { type: "tool_use", id: "toolu_fake_0001", name: "Bash", input: {} }
    })
    const json = inner.flatMap((event) =>
      event.type === "content_block_delta" && "delta" in event && event.delta.type === "input_json_delta" &&
        "partial_json" in event.delta
        ? [event.delta.partial_json]
        : []
    ).join("")
    expect(JSON.parse(json)).toEqual({ command: "touch tool_touch.txt && echo touched", description: "Create a file" })
  })

  it("bad_model: synthetic assistant with error model_not_found, result is_error with status 404", () => {
    const events = decoded("bad_model")
    const assistant = only(events.filter(isAssistant))
    expect(assistant.error).toBe("model_not_found")
    expect(assistant.message.model).toBe("<synthetic>")
    expect(assistant.message.content[0]).toMatchObject({ type: "text" })
    const result = only(events.filter(isResult))
    expect(result.is_error).toBe(true)
    expect(result.subtype).toBe("success")
    expect(result.api_error_status).toBe(404)
    expect(result.result).toContain("bogus-model")
  })

  it("rate_limited_max_retries_2: api_retry lines with attempt, delay, status and kind", () => {
    const events = decoded("rate_limited_max_retries_2")
    const retries = events.filter(isApiRetry) as ReadonlyArray<CliApiRetry>
    expect(retries).toHaveLength(2)
    expect(retries[0]).toMatchObject({
      type: "system",
      subtype: "api_retry",
      attempt: 1,
      max_retries: 2,
      retry_delay_ms: 1000,
      error_status: 429,
      error: "rate_limit"
    })
    expect(retries[1]!.attempt).toBe(2)
    expect(retries[1]!.retry_delay_ms).toBeGreaterThan(1000)
    expect(only(events.filter(isAssistant)).error).toBe("rate_limit")
    expect(only(events.filter(isResult)).api_error_status).toBe(429)
  })

  it("overloaded: api_error_status is null, the 529 is on the api_retry lines", () => {
    const events = decoded("overloaded")
    const retries = events.filter(isApiRetry) as ReadonlyArray<CliApiRetry>
    expect(retries.map((retry) => retry.error_status)).toEqual([529, 529])
    expect(retries.map((retry) => retry.error)).toEqual(["overloaded", "overloaded"])
    expect(only(events.filter(isResult)).api_error_status).toBeNull()
  })

  it("fallback_bogus: model_fallback with trigger, original and fallback model", () => {
    const events = decoded("fallback_bogus")
    const fallback = only(events.filter(isModelFallback)) as CliModelFallback
    expect(fallback).toMatchObject({
      type: "system",
      subtype: "model_fallback",
      trigger: "model_not_found",
      original_model: "bogus-model",
      fallback_model: "claude-sonnet-4-5-20250929"
    })
    expect(only(events.filter(isAssistant)).message.model).toBe("claude-sonnet-4-5-20250929")
  })

  it("max_turns: error_max_turns result with errors and no result text", () => {
    const result = only(decoded("max_turns").filter(isResult))
    expect(result.subtype).toBe("error_max_turns")
    expect(result.is_error).toBe(true)
    expect(result.result).toBeUndefined()
    expect(result.errors).toEqual(["Reached maximum number of turns (1)"])
    expect(result.terminal_reason).toBe("max_turns")
  })

  it("json_schema: structured_output is kept on the result", () => {
    const result = only(decoded("json_schema").filter(isResult))
    expect(result.structured_output).toEqual({ answer: 42 })
  })

  it("stream_input_interrupt: control_response and the interrupt marker user line", () => {
    const events = decoded("stream_input_interrupt")
    const control = only(events.filter((event) => event.type === "control_response"))
    expect(control).toEqual({ type: "control_response", response: { subtype: "success", request_id: "ctl-1" } })
    const user = only(events.filter(isUser))
    expect(user.message.content).toEqual([{ type: "text", text: "[Request interrupted by user]" }])
    const results = events.filter(isResult)
    expect(results.map((result) => [result.subtype, result.is_error])).toEqual([
      ["error_during_execution", true],
      ["success", false]
    ])
    expect(events.filter(isInit)).toHaveLength(2)
  })
})

describe("decodeCliLine tolerance", () => {
  it("a line with an unknown type becomes unknown, keeping the raw line and its type", () => {
    const line = JSON.stringify({ type: "brand_new_line", payload: { a: 1 } })
    expect(decodeCliLine(line)).toEqual<CliUnknown>({ type: "unknown", lineType: "brand_new_line", raw: line })
  })

  it("a non-JSON line becomes unknown (unparsable), keeping the raw line", () => {
    const line = "Warning: something went to stdout {"
    expect(decodeCliLine(line)).toEqual<CliUnknown>({ type: "unknown", lineType: "unparsable", raw: line })
  })

  it("JSON that is not an object with a type becomes unknown", () => {
    for (const line of ["42", "null", "[]", "\"text\"", "{\"no_type\":true}", "{\"type\":7}"]) {
      expect(decodeCliLine(line)).toEqual<CliUnknown>({ type: "unknown", lineType: "unknown", raw: line })
    }
  })

  it("a known type with a shape we cannot read becomes unknown, named after its type", () => {
    const line = JSON.stringify({ type: "result", subtype: "success" })
    expect(decodeCliLine(line)).toEqual<CliUnknown>({ type: "unknown", lineType: "result", raw: line })
  })

  it("a known type with extra fields decodes into its variant", () => {
    const line = JSON.stringify({
      type: "result",
      subtype: "success",
      is_error: false,
      result: "ok",
      brand_new_field: { nested: [1, 2, 3] },
      usage: { input_tokens: 3, output_tokens: 4, brand_new_usage: "x" }
    })
    const event = decodeCliLine(line)
    expect(isResult(event)).toBe(true)
    expect(event).toMatchObject({
      type: "result",
      is_error: false,
      result: "ok",
      usage: { input_tokens: 3, output_tokens: 4 }
    })
  })

  it("a system line with a new subtype decodes as a system line (not unknown)", () => {
    const line = JSON.stringify({ type: "system", subtype: "hook_started", hook: "x", session_id: "s", uuid: "u" })
    const event = decodeCliLine(line)
    expect(event).toEqual({ type: "system", subtype: "hook_started", session_id: "s", uuid: "u" })
    expect(isInit(event) || isApiRetry(event) || isModelFallback(event)).toBe(false)
  })

  it("a system line with a modelled subtype but missing fields is never presented as that variant", () => {
    const lines = [
      { type: "system", subtype: "init", uuid: "u" },
      { type: "system", subtype: "api_retry", session_id: "s" },
      { type: "system", subtype: "model_fallback", trigger: "overloaded" }
    ].map((json) => JSON.stringify(json))
    for (const line of lines) {
      const event = decodeCliLine(line)
      expect(["system", "unknown"]).toContain(event.type)
      if (isInit(event)) {
        expect(typeof event.session_id === "string" && typeof event.model === "string", line).toBe(true)
      }
      if (isApiRetry(event)) expect(event.attempt, line).toBeTypeOf("number")
      if (isModelFallback(event)) {
        expect(typeof event.original_model === "string" && typeof event.fallback_model === "string", line).toBe(true)
      }
    }
  })

  it("a stream_event with a new inner event type or delta type still decodes", () => {
    const newEvent = decodeCliLine(JSON.stringify({ type: "stream_event", event: { type: "brand_new_event", x: 1 } }))
    expect(newEvent).toEqual({ type: "stream_event", event: { type: "brand_new_event" } })
    const newDelta = decodeCliLine(JSON.stringify({
      type: "stream_event",
      event: { type: "content_block_delta", index: 2, delta: { type: "citations_delta", citation: {} } }
    }))
    expect(newDelta).toEqual({
      type: "stream_event",
      event: { type: "content_block_delta", index: 2, delta: { type: "citations_delta" } }
    })
  })

  it("an assistant line with a new content block type still decodes", () => {
    const event = decodeCliLine(JSON.stringify({
      type: "assistant",
      message: { id: "m", content: [{ type: "server_tool_use", id: "x" }, { type: "text", text: "hi" }] }
    }))
    expect(isAssistant(event)).toBe(true)
    expect(isAssistant(event) ? event.message.content : null).toEqual([{ type: "server_tool_use" }, {
      type: "text",
      text: "hi"
    }])
  })

  it("never throws, whatever the line", () => {
    for (const line of ["", " ", "{", "}", "\u0000", "{\"type\":\"assistant\"}", "{\"type\":\"user\",\"message\":1}"]) {
      expect(() => decodeCliLine(line)).not.toThrow()
      expect(decodeCliLine(line).type).toBe("unknown")
    }
  })
})
