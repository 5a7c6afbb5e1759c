/**
 * From an OpenAI chat completions request to a turn: decoding the body into OpenAI-shaped
 * 400s, converting messages (system prompt, images, tool traffic), the options we refuse,
 * the output schema of `response_format`, the projection context and the recorded parameters.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { ConversationMessage } from "../../../src/Domain/Conversation.js"
import {
  decodeChatRequest,
  outputSchemaOf,
  parametersOf,
  projectionContextOf,
  refuseUnsupported,
  type TurnInput,
  turnInputOf
} from "../../../src/Http/Chat/Request.js"
import type { ChatCompletionRequest } from "../../../src/Http/Chat/Wire.js"
import type { HttpError } from "../../../src/Http/Edge/Errors.js"

// ---------------------------------------------------------------------------
// Builders

/** A body that must decode. */
const request = (body: Record<string, unknown>): ChatCompletionRequest => {
  const decoded = decodeChatRequest(body)
  if (Either.isLeft(decoded)) throw new Error(`expected the body to decode: ${decoded.left.message}`)
  return decoded.right
}

/** A request of these messages. */
const chat = (...messages: ReadonlyArray<Record<string, unknown>>) => request({ model: "sonnet", messages })

const decodeError = (body: unknown): HttpError => {
  const decoded = decodeChatRequest(body)
  if (Either.isRight(decoded)) throw new Error("expected the body to be refused")
  return decoded.left
}

const input = (req: ChatCompletionRequest): TurnInput => {
  const converted = turnInputOf(req)
  if (Either.isLeft(converted)) throw new Error(`expected the messages to convert: ${converted.left.message}`)
  return converted.right
}

const inputError = (req: ChatCompletionRequest): HttpError => {
  const converted = turnInputOf(req)
  if (Either.isRight(converted)) throw new Error("expected the messages to be refused")
  return converted.left
}

const userText = (text: string): ConversationMessage => ({ role: "user", content: [{ _tag: "text", text }] })
const assistantText = (text: string): ConversationMessage => ({ role: "assistant", content: [{ _tag: "text", text }] })
const imagePart = (url: string) => ({ type: "image_url", image_url: { url } })

const PNG = "iVBORw0KGgo="

// ---------------------------------------------------------------------------

describe("decodeChatRequest", () => {
  it.each([
    ["null", null],
    ["an array", [{ messages: [] }]],
    ["a string", "hello"],
    ["a number", 42]
  ])("refuses %s as body", (_name, body) => {
    expect(decodeError(body)).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      message: "The request body must be a JSON object.",
      param: null,
      code: null
    })
  })

  it("refuses a body without messages as a missing parameter", () => {
    expect(decodeError({ model: "sonnet" })).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      param: "messages",
      code: "missing_required_parameter",
      retryAfterSeconds: null
    })
  })

  it("refuses an empty messages array", () => {
    const error = decodeError({ messages: [] })
    expect(error).toMatchObject({ status: 400, param: "messages", code: "empty_array" })
    expect(error.message).toContain("'messages'")
  })

  it("names the offending field of a message", () => {
    const error = decodeError({ messages: [{ role: "user", content: "hi" }, { role: "bot", content: "hello" }] })
    expect(error).toMatchObject({ status: 400, param: "messages[1].role", code: "invalid_value" })
    expect(error.message).toMatch(/^Invalid value for 'messages\[1\]\.role': /)
    expect(decodeError({ messages: [{ role: "robot" }] }).param).toBe("messages[0].role")
  })

  it("names an out-of-range parameter", () => {
    expect(decodeError({ messages: [{ role: "user", content: "hi" }], temperature: 3 })).toMatchObject({
      status: 400,
      param: "temperature",
      code: "invalid_value"
    })
    expect(decodeError({ messages: [{ role: "user", content: "hi" }], n: 0 }).param).toBe("n")
  })

  it("accepts unknown extra fields", () => {
    const decoded = decodeChatRequest({
      model: "sonnet",
      messages: [{ role: "user", content: "hi", x_extra: true }],
      some_future_option: { a: 1 },
      temperature: 0.2
    })
    expect(Either.isRight(decoded)).toBe(true)
    expect(Either.getOrThrow(decoded)).toMatchObject({
      model: "sonnet",
      messages: [{ role: "user", content: "hi" }],
      temperature: 0.2
    })
  })
})

describe("turnInputOf", () => {
  it("converts user and assistant text", () => {
    expect(input(chat({ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }))).toEqual({
      systemPrompt: null,
      messages: [userText("Hi"), assistantText("Hello!")]
    })
  })

  it("keeps a user message's text parts and drops empty content", () => {
    expect(
      input(chat(
        { role: "user", content: [{ type: "text", text: "one" }, { type: "text", text: "two" }] },
        { role: "user", content: "" },
        { role: "user", content: null }
      )).messages
    ).toEqual([
      { role: "user", content: [{ _tag: "text", text: "one" }, { _tag: "text", text: "two" }] },
      { role: "user", content: [] },
      { role: "user", content: [] }
    ])
  })

  describe("system prompt", () => {
    it("merges system and developer messages with a blank line, out of the conversation", () => {
      expect(input(chat(
        { role: "system", content: "You are terse." },
        { role: "user", content: "Hi" },
        { role: "developer", content: [{ type: "text", text: "Answer " }, { type: "text", text: "in French." }] },
        { role: "system", content: "   " }
      ))).toEqual({ systemPrompt: "You are terse.\n\nAnswer in French.", messages: [userText("Hi")] })
    })

    it("uses the system_prompt extension only when no system or developer message exists", () => {
      const messages = [{ role: "user", content: "Hi" }]
      expect(input(request({ messages, system_prompt: "Be brief." })).systemPrompt).toBe("Be brief.")
      expect(
        input(
          request({
            messages: [{ role: "system", content: "From messages." }, ...messages],
            system_prompt: "Be brief."
          })
        )
          .systemPrompt
      ).toBe("From messages.")
      expect(
        input(request({ messages: [{ role: "developer", content: "Dev." }, ...messages], system_prompt: "Be brief." }))
          .systemPrompt
      ).toBe("Dev.")
    })

    it("has no system prompt for a blank or null system_prompt", () => {
      const messages = [{ role: "user", content: "Hi" }]
      expect(input(request({ messages, system_prompt: "  \n " })).systemPrompt).toBeNull()
      expect(input(request({ messages, system_prompt: null })).systemPrompt).toBeNull()
      expect(input(request({ messages })).systemPrompt).toBeNull()
    })
  })

  describe("images", () => {
    it("turns base64 data URLs into image parts", () => {
      expect(
        input(chat({
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            imagePart(`data:image/png;base64,${PNG}`),
            imagePart("data:image/webp;base64,UklGRg==")
          ]
        })).messages
      ).toEqual([{
        role: "user",
        content: [
          { _tag: "text", text: "What is this?" },
          { _tag: "image", mediaType: "image/png", data: PNG },
          { _tag: "image", mediaType: "image/webp", data: "UklGRg==" }
        ]
      }])
    })

    it("normalises image/jpg to image/jpeg and strips line breaks from the data", () => {
      expect(input(chat({ role: "user", content: [imagePart("data:image/jpg;base64,/9j/\r\n4AAQ\n")] })).messages)
        .toEqual([{ role: "user", content: [{ _tag: "image", mediaType: "image/jpeg", data: "/9j/4AAQ" }] }])
    })

    it("refuses remote image URLs, naming the url", () => {
      const error = inputError(chat(
        { role: "user", content: "first" },
        { role: "user", content: [{ type: "text", text: "look" }, imagePart("https://example.com/cat.png")] }
      ))
      expect(error).toMatchObject({
        status: 400,
        type: "invalid_request_error",
        param: "messages[1].content[1].image_url.url",
        code: "unsupported_image_url"
      })
      expect(error.message).toContain("Remote image URLs are not supported")
    })

    it("refuses data URLs of other media types or encodings", () => {
      for (const url of ["data:image/svg+xml;base64,PHN2Zz4=", "data:image/png,rawbytes"]) {
        const error = inputError(chat({ role: "user", content: [imagePart(url)] }))
        expect(error).toMatchObject({
          status: 400,
          param: "messages[0].content[0].image_url.url",
          code: "unsupported_image_url"
        })
        expect(error.message).toBe("Only base64 data URLs of PNG, JPEG, GIF or WebP images are supported.")
      }
    })

    it("refuses images outside user messages", () => {
      for (const role of ["system", "assistant", "tool"]) {
        const error = inputError(chat(
          { role: "user", content: "hi" },
          { role, content: [imagePart(`data:image/png;base64,${PNG}`)] }
        ))
        expect(error).toMatchObject({ status: 400, param: "messages[1].content[0]", code: "invalid_value" })
        expect(error.message).toBe("Images are only supported in user messages.")
      }
    })
  })

  it("refuses unsupported content part types, naming the part's type", () => {
    const error = inputError(chat({
      role: "user",
      content: [{ type: "text", text: "listen" }, { type: "input_audio", input_audio: { data: "AAA", format: "wav" } }]
    }))
    expect(error).toMatchObject({ status: 400, param: "messages[0].content[1].type", code: "invalid_value" })
    expect(error.message).toBe("Content parts of type 'input_audio' are not supported.")
    expect(inputError(chat({ role: "user", content: [{ type: "refusal", refusal: "no" }] })).param)
      .toBe("messages[0].content[0].type")
  })

  it("keeps the text of an assistant's refusal part", () => {
    expect(
      input(chat({ role: "assistant", content: [{ type: "refusal", refusal: "I can't help with that." }] })).messages
    )
      .toEqual([assistantText("I can't help with that.")])
  })
})

describe("refuseUnsupported", () => {
  it("accepts n absent, null or 1", () => {
    const messages = [{ role: "user", content: "hi" }]
    expect(refuseUnsupported(request({ messages }))).toBeNull()
    expect(refuseUnsupported(request({ messages, n: null }))).toBeNull()
    expect(refuseUnsupported(request({ messages, n: 1 }))).toBeNull()
  })

  it("refuses n other than 1", () => {
    expect(refuseUnsupported(request({ messages: [{ role: "user", content: "hi" }], n: 3 }))).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      param: "n",
      code: "unsupported_value",
      retryAfterSeconds: null
    })
  })
})

describe("outputSchemaOf", () => {
  const withFormat = (response_format: unknown) =>
    outputSchemaOf(request({ messages: [{ role: "user", content: "hi" }], response_format }))

  it("has no schema for text or no response_format", () => {
    expect(outputSchemaOf(request({ messages: [{ role: "user", content: "hi" }] }))).toEqual(Either.right(null))
    expect(withFormat(null)).toEqual(Either.right(null))
    expect(withFormat({ type: "text" })).toEqual(Either.right(null))
  })

  it("asks for any object for json_object", () => {
    expect(withFormat({ type: "json_object" })).toEqual(Either.right("{\"type\":\"object\"}"))
  })

  it("passes the schema of json_schema on as JSON", () => {
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
    const result = withFormat({ type: "json_schema", json_schema: { name: "weather", schema, strict: true } })
    expect(result).toEqual(Either.right(JSON.stringify(schema)))
  })

  it("refuses json_schema without a schema", () => {
    for (const format of [{ type: "json_schema" }, { type: "json_schema", json_schema: { name: "x" } }]) {
      const result = withFormat(format)
      expect(Either.isLeft(result)).toBe(true)
      expect(Either.isLeft(result) ? result.left : null).toMatchObject({
        status: 400,
        type: "invalid_request_error",
        param: "response_format.json_schema.schema",
        code: "missing_required_parameter"
      })
    }
  })
})

describe("projectionContextOf", () => {
  it("passes the session and project through with defaults for empty parameters", () => {
    expect(projectionContextOf("s-1", "p-1", {})).toEqual({
      sessionId: "s-1",
      projectId: "p-1",
      stop: [],
      includeUsage: false,
      structured: false,
      legacyFunctions: false
    })
  })

  it("reads stop as a string or an array, dropping empty strings", () => {
    expect(projectionContextOf("s", "p", { stop: "END" }).stop).toEqual(["END"])
    expect(projectionContextOf("s", "p", { stop: "" }).stop).toEqual([])
    expect(projectionContextOf("s", "p", { stop: ["a", "", "b"] }).stop).toEqual(["a", "b"])
    expect(projectionContextOf("s", "p", { stop: ["a", 3, null] }).stop).toEqual(["a"])
    expect(projectionContextOf("s", "p", { stop: null }).stop).toEqual([])
  })

  it("includes usage only when stream_options.include_usage is true", () => {
    expect(projectionContextOf("s", "p", { stream_options: { include_usage: true } }).includeUsage).toBe(true)
    expect(projectionContextOf("s", "p", { stream_options: { include_usage: false } }).includeUsage).toBe(false)
    expect(projectionContextOf("s", "p", { stream_options: { include_usage: "true" } }).includeUsage).toBe(false)
    expect(projectionContextOf("s", "p", { stream_options: null }).includeUsage).toBe(false)
  })

  it("is structured for json_schema and json_object response formats", () => {
    const structured = (response_format: unknown) => projectionContextOf("s", "p", { response_format }).structured
    expect(structured({ type: "json_schema", json_schema: { schema: {} } })).toBe(true)
    expect(structured({ type: "json_object" })).toBe(true)
    expect(structured({ type: "text" })).toBe(false)
    expect(structured(null)).toBe(false)
    expect(structured("json_object")).toBe(false)
  })

  it("answers in the legacy function_call format only for functions without tools", () => {
    const fn = { name: "f", parameters: { type: "object" } }
    const tool = { type: "function", function: fn }
    const legacy = (parameters: Record<string, unknown>) => projectionContextOf("s", "p", parameters).legacyFunctions
    expect(legacy({ functions: [fn] })).toBe(true)
    expect(legacy({ functions: [fn], tools: [] })).toBe(true)
    expect(legacy({ functions: [fn], tools: null })).toBe(true)
    expect(legacy({ functions: [] })).toBe(false)
    expect(legacy({ tools: [tool] })).toBe(false)
    expect(legacy({ functions: [fn], tools: [tool] })).toBe(false)
    expect(legacy({})).toBe(false)
  })

  it("reads the parameters recorded by parametersOf", () => {
    const req = request({
      messages: [{ role: "user", content: "hi" }],
      stop: ["\n\n"],
      stream: true,
      stream_options: { include_usage: true },
      response_format: { type: "json_object" }
    })
    expect(projectionContextOf("s", "p", parametersOf(req))).toEqual({
      sessionId: "s",
      projectId: "p",
      stop: ["\n\n"],
      includeUsage: true,
      structured: true,
      legacyFunctions: false
    })
  })
})

describe("parametersOf", () => {
  it("drops the messages and the extensions, keeping everything else", () => {
    expect(parametersOf(request({
      model: "sonnet",
      messages: [{ role: "user", content: "hi" }],
      session_id: "s-1",
      project_id: "p-1",
      system_prompt: "Be brief.",
      stream: true,
      temperature: 0.5,
      stop: "END",
      max_tokens: 100,
      metadata: { team: "a" }
    }))).toEqual({
      model: "sonnet",
      stream: true,
      temperature: 0.5,
      stop: "END",
      max_tokens: 100,
      metadata: { team: "a" }
    })
  })

  it("is empty for a request of messages only", () => {
    expect(parametersOf(request({ messages: [{ role: "user", content: "hi" }] }))).toEqual({})
  })
})
