/**
 * From a Responses API request to a turn: decoding with errors that name `input[i]…`, the
 * input items as conversation messages (a Codex-shaped history digests as the conversation
 * the session recorded), content parts, references, the tools (function tools checked,
 * Codex's other tools left out), `tool_choice`, the output format and the recorded parameters.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { TurnCompleted } from "../../../src/Domain/SessionEvent.js"
import type { HttpError } from "../../../src/Http/Edge/Errors.js"
import {
  decodeResponsesRequest,
  entryOfOutput,
  inputEntriesOf,
  isResponsesTurn,
  isStored,
  outputSchemaOf,
  parametersOf,
  refuseUnsupported,
  type ResolvedEntry,
  turnInputOf
} from "../../../src/Http/Responses/Request.js"
import { clientToolsOf } from "../../../src/Http/Responses/Tools.js"
import type { ResponsesRequest } from "../../../src/Http/Responses/Wire.js"
import { afterLastAssistant, answerMessage, digestOf } from "../../../src/SessionRunner/history.js"

const decoded = (body: Record<string, unknown>): ResponsesRequest =>
  Either.getOrThrow(decodeResponsesRequest({ model: "sonnet", ...body }))

const refused = (body: unknown): HttpError => {
  const result = decodeResponsesRequest(body)
  if (Either.isRight(result)) throw new Error("expected a 400")
  return result.left
}

const entries = (input: ReadonlyArray<Record<string, unknown>>) => Either.getOrThrow(inputEntriesOf(decoded({ input })))

const inputError = (input: ReadonlyArray<Record<string, unknown>>): HttpError => {
  const result = inputEntriesOf(decoded({ input }))
  if (Either.isRight(result)) throw new Error("expected a 400")
  return result.left
}

const resolved = (input: ReadonlyArray<Record<string, unknown>>) =>
  entries(input).filter((entry): entry is ResolvedEntry => entry._tag !== "Reference")

const user = (text: string) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] })

describe("decoding", () => {
  it("names the offending parameter, down to the input item's field", () => {
    expect(refused([1])).toMatchObject({ status: 400, message: "The request body must be a JSON object." })
    expect(refused({ model: "sonnet" })).toMatchObject({ param: "input", code: "missing_required_parameter" })
    expect(refused({ input: "x", temperature: 3 })).toMatchObject({ param: "temperature", code: "invalid_value" })
    expect(inputError([user("a"), { type: "function_call", name: "f", arguments: "{}" }])).toMatchObject({
      param: "input[1].call_id",
      code: "missing_required_parameter"
    })
    expect(inputError([{ role: "robot", content: "x" }])).toMatchObject({ param: "input[0].role" })
    expect(inputError([{ type: "computer_call_output", call_id: "c" }])).toMatchObject({
      param: "input[0].type",
      code: "invalid_value"
    })
  })

  it("refuses background responses and conversations", () => {
    expect(refuseUnsupported(decoded({ input: "x", background: true }))).toMatchObject({ param: "background" })
    expect(refuseUnsupported(decoded({ input: "x", conversation: "conv_1" }))).toMatchObject({ param: "conversation" })
    expect(refuseUnsupported(decoded({ input: "x", background: false }))).toBeNull()
  })
})

describe("input items", () => {
  it("a string is one user message", () => {
    expect(turnInputOf(null, resolved([]))).toEqual({ systemPrompt: null, messages: [] })
    const input = Either.getOrThrow(inputEntriesOf(decoded({ input: "Hello" })))
    expect(input).toEqual([{ _tag: "Message", role: "user", content: [{ _tag: "text", text: "Hello" }] }])
  })

  it("instructions, then system and developer messages, are the system prompt", () => {
    const turn = turnInputOf(
      "Be Codex.",
      resolved([
        { role: "developer", content: "Sandbox: none." },
        user("hi"),
        { type: "message", role: "system", content: [{ type: "input_text", text: "Be brief." }] }
      ])
    )
    expect(turn.systemPrompt).toBe("Be Codex.\n\nSandbox: none.\n\nBe brief.")
    expect(turn.messages).toEqual([{ role: "user", content: [{ _tag: "text", text: "hi" }] }])
  })

  it("a Codex-shaped history has the digest of the conversation the session recorded", () => {
    const calls = [
      { id: "toolu_1", name: "shell", arguments: "{\"command\":[\"ls\"]}" },
      { id: "toolu_2", name: "shell", arguments: "{\"command\":[\"pwd\"]}" }
    ]
    const turn = turnInputOf(
      "Be Codex.",
      resolved([
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Sandbox." }] },
        user("<environment_context/>"),
        user("list files"),
        { type: "reasoning", summary: [], encrypted_content: null },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Let me look." }] },
        { type: "function_call", name: "shell", arguments: calls[0]!.arguments, call_id: "toolu_1" },
        { type: "function_call", id: "fc_x_1", name: "shell", arguments: calls[1]!.arguments, call_id: "toolu_2" },
        { type: "function_call_output", call_id: "toolu_1", output: "a.txt" },
        { type: "function_call_output", call_id: "toolu_2", output: [{ type: "input_text", text: "/w" }] }
      ])
    )
    expect(turn.messages).toEqual([
      { role: "user", content: [{ _tag: "text", text: "<environment_context/>" }] },
      { role: "user", content: [{ _tag: "text", text: "list files" }] },
      { role: "assistant", content: [{ _tag: "text", text: "Let me look." }], toolCalls: calls },
      { role: "tool", content: [{ _tag: "text", text: "a.txt" }], toolCallId: "toolu_1" },
      { role: "tool", content: [{ _tag: "text", text: "/w" }], toolCallId: "toolu_2" }
    ])
    // What the session recorded: the turn's messages, then its answer.
    const answer = answerMessage(
      new TurnCompleted({
        turnId: "turn_1",
        model: "m",
        cliSessionId: "c",
        stopReason: "tool_use",
        usage: { inputTokens: 1, outputTokens: 1, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
        costUsd: null,
        durationMs: null,
        numTurns: null,
        toolCalls: calls
      }),
      "Let me look."
    )
    const held = turn.messages.slice(0, afterLastAssistant(turn.messages))
    expect(digestOf(held)).toBe(digestOf([...turn.messages.slice(0, 2), answer]))
  })

  it("calls without a message before them are an assistant message of their own; answer text items are joined", () => {
    const turn = turnInputOf(
      null,
      resolved([
        user("go"),
        { type: "function_call", name: "f", arguments: "{}", call_id: "c1" },
        { type: "function_call_output", call_id: "c1", output: "ok" },
        { role: "assistant", content: "Part one, " },
        { role: "assistant", content: [{ type: "output_text", text: "part two." }, { type: "refusal", refusal: "!" }] },
        user("thanks")
      ])
    )
    expect(turn.messages.map((message) => [message.role, message.content, message.toolCalls])).toEqual([
      ["user", [{ _tag: "text", text: "go" }], undefined],
      ["assistant", [], [{ id: "c1", name: "f", arguments: "{}" }]],
      ["tool", [{ _tag: "text", text: "ok" }], undefined],
      ["assistant", [{ _tag: "text", text: "Part one, part two.!" }], undefined],
      ["user", [{ _tag: "text", text: "thanks" }], undefined]
    ])
  })

  it("inline images in user messages; remote images, images elsewhere and files are refused", () => {
    const [image] = resolved([{
      role: "user",
      content: [{ type: "input_image", image_url: "data:image/jpg;base64,AAAA" }]
    }])
    expect(image).toEqual({
      _tag: "Message",
      role: "user",
      content: [{ _tag: "image", mediaType: "image/jpeg", data: "AAAA" }]
    })
    expect(inputError([{ role: "user", content: [{ type: "input_image", image_url: "https://x/y.png" }] }]))
      .toMatchObject({ param: "input[0].content[0].image_url", code: "unsupported_image_url" })
    expect(inputError([{ role: "user", content: [{ type: "input_image", file_id: "file_1" }] }]))
      .toMatchObject({ param: "input[0].content[0].image_url", code: "unsupported_image_url" })
    expect(inputError([user("a"), { type: "function_call_output", call_id: "c", output: [{ type: "input_image" }] }]))
      .toMatchObject({ param: "input[1].output[0].type" })
    expect(inputError([{ role: "user", content: [{ type: "input_file", file_id: "f" }] }]))
      .toMatchObject({ param: "input[0].content[0].type" })
  })

  it("an item reference is kept for the handler to resolve, naming where it sits", () => {
    expect(entries([user("a"), { type: "item_reference", id: "msg_1" }])[1]).toEqual({
      _tag: "Reference",
      id: "msg_1",
      param: "input[1].id"
    })
    expect(entryOfOutput({ type: "reasoning", id: "rs_1", summary: [] })).toBeNull()
    expect(entryOfOutput({
      type: "function_call",
      id: "fc_1_0",
      call_id: "toolu_1",
      name: "f",
      arguments: "{}",
      status: "completed"
    })).toEqual({ _tag: "Call", call: { id: "toolu_1", name: "f", arguments: "{}" } })
    expect(entryOfOutput({
      type: "message",
      id: "msg_1",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "hi", annotations: [], logprobs: [] }]
    })).toEqual({ _tag: "Message", role: "assistant", content: [{ _tag: "text", text: "hi" }] })
  })
})

describe("tools", () => {
  const weather = { type: "function", name: "get_weather", parameters: { type: "object", properties: {} } }
  const tools = (body: Record<string, unknown>) => clientToolsOf(decoded({ input: "x", ...body }))

  it("function tools are offered; Codex's custom, local_shell and hosted tools are left out", () => {
    const result = Either.getOrThrow(tools({
      tools: [
        weather,
        { type: "custom", name: "apply_patch", format: { type: "grammar", syntax: "lark", definition: "start: x" } },
        { type: "local_shell" },
        { type: "web_search" }
      ],
      parallel_tool_calls: false
    }))
    expect(result).toEqual({
      tools: [{ name: "get_weather", description: null, parameters: { type: "object", properties: {} } }],
      choice: { _tag: "auto" },
      parallel: false
    })
    expect(Either.getOrThrow(tools({ tools: [{ type: "web_search" }] }))).toBeNull()
  })

  it("a tool the model could not take is a 400 naming it", () => {
    expect(tools({ tools: [weather, { type: "function", name: "bad name" }] })).toEqual(
      Either.left(expect.objectContaining({ param: "tools[1].name" }))
    )
    expect(tools({ tools: [{ type: "function", name: "f", parameters: { type: "string" } }] })).toEqual(
      Either.left(expect.objectContaining({ param: "tools[0].parameters" }))
    )
    expect(tools({ tools: [{ type: "function" }] })).toEqual(
      Either.left(expect.objectContaining({ param: "tools[0].name", code: "missing_required_parameter" }))
    )
  })

  it("tool_choice: modes and a named function; what cannot be honoured is a 400", () => {
    expect(Either.getOrThrow(tools({ tools: [weather], tool_choice: "required" }))?.choice).toEqual({
      _tag: "required"
    })
    expect(
      Either.getOrThrow(tools({ tools: [weather], tool_choice: { type: "function", name: "get_weather" } }))?.choice
    )
      .toEqual({ _tag: "named", name: "get_weather" })
    expect(Either.getOrThrow(tools({ tool_choice: "none" }))).toBeNull()
    for (
      const [body, code] of [
        [{ tool_choice: "required", tools: [{ type: "custom", name: "apply_patch" }] }, "invalid_value"],
        [{ tools: [weather], tool_choice: { type: "function", name: "other" } }, "invalid_value"],
        [{ tools: [weather], tool_choice: { type: "custom", name: "apply_patch" } }, "unsupported_value"],
        [{ tools: [weather], tool_choice: "sometimes" }, "invalid_value"]
      ] as const
    ) {
      expect(tools(body)).toEqual(Either.left(expect.objectContaining({ param: "tool_choice", code })))
    }
  })
})

describe("format and parameters", () => {
  it("text.format gives the structured-output schema", () => {
    expect(outputSchemaOf(decoded({ input: "x" }))).toBeNull()
    expect(outputSchemaOf(decoded({ input: "x", text: { format: { type: "text" } } }))).toBeNull()
    expect(outputSchemaOf(decoded({ input: "x", text: { format: { type: "json_object" } } }))).toBe(
      "{\"type\":\"object\"}"
    )
    expect(outputSchemaOf(decoded({
      input: "x",
      text: { format: { type: "json_schema", name: "n", schema: { type: "object", required: ["a"] }, strict: true } }
    }))).toBe("{\"type\":\"object\",\"required\":[\"a\"]}")
    expect(refused({ input: "x", text: { format: { type: "json_schema", name: "n" } } })).toMatchObject({
      param: "text.format.schema"
    })
  })

  it("the recorded parameters: everything but the input and the extensions, marked as a Responses turn", () => {
    const parameters = parametersOf(decoded({
      input: "x",
      instructions: "i",
      store: false,
      session_id: "s",
      project_id: "p",
      metadata: { k: "v" }
    }))
    expect(parameters).toEqual({
      model: "sonnet",
      instructions: "i",
      store: false,
      metadata: { k: "v" },
      surface: "responses"
    })
    expect(isResponsesTurn(parameters)).toBe(true)
    expect(isStored(parameters)).toBe(false)
    expect(isResponsesTurn({ model: "sonnet" })).toBe(false)
    expect(isStored({})).toBe(true)
  })
})
