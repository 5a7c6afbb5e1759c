/**
 * Function calling on the request side: `tools`, `tool_choice` and `parallel_tool_calls`
 * (and legacy `functions` / `function_call`) decoded into `ClientTools`, each refusal naming
 * its parameter, and the tool traffic of the history (assistant calls, tool and function
 * results) converted into structured conversation messages.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { claudeCodeToolNames } from "../../../src/Domain/Tools.js"
import type { ClientTools } from "../../../src/Domain/Tools.js"
import { decodeChatRequest, turnInputOf } from "../../../src/Http/Chat/Request.js"
import { clientToolsOf } from "../../../src/Http/Chat/Tools.js"
import type { HttpError } from "../../../src/Http/Edge/Errors.js"

// ---------------------------------------------------------------------------
// Builders

const user = [{ role: "user", content: "What is the weather in Paris?" }]

const WEATHER_SCHEMA = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }

const fn = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  description: `The ${name} function`,
  parameters: WEATHER_SCHEMA,
  ...extra
})
const tool = (name: string, extra: Record<string, unknown> = {}) => ({ type: "function", function: fn(name, extra) })

/** Decodes a body and its tools, in the order the endpoint does: a 400 from either step, or the tools. */
const toolsOf = (
  body: Record<string, unknown>,
  options: Parameters<typeof clientToolsOf>[1] = {}
): Either.Either<ClientTools | null, HttpError> =>
  Either.flatMap(
    decodeChatRequest({ model: "sonnet", messages: user, ...body }),
    (request) => clientToolsOf(request, options)
  )

const accepted = (body: Record<string, unknown>): ClientTools | null => {
  const result = toolsOf(body)
  if (Either.isLeft(result)) throw new Error(`expected the tools to be accepted: ${result.left.message}`)
  return result.right
}

const refused = (body: Record<string, unknown>): HttpError => {
  const result = toolsOf(body)
  if (Either.isRight(result)) throw new Error("expected the tools to be refused")
  return result.left
}

/** The conversation messages of a request of these messages. */
const messagesOf = (...messages: ReadonlyArray<Record<string, unknown>>) => {
  const result = Either.flatMap(decodeChatRequest({ messages }), turnInputOf)
  if (Either.isLeft(result)) throw new Error(`expected the messages to convert: ${result.left.message}`)
  return result.right.messages
}

const messagesError = (...messages: ReadonlyArray<Record<string, unknown>>): HttpError => {
  const result = Either.flatMap(decodeChatRequest({ messages }), turnInputOf)
  if (Either.isRight(result)) throw new Error("expected the messages to be refused")
  return result.left
}

// ---------------------------------------------------------------------------

describe("clientToolsOf", () => {
  it("refuses the name of one of Claude Code's own tools only when those are kept", () => {
    const body = { tools: [tool("get_weather"), tool("Read")] }
    const result = toolsOf(body, { reservedNames: claudeCodeToolNames })
    expect(Either.isLeft(result) && result.left.envelope.error.param).toBe("tools[1].function.name")
    expect(accepted(body)?.tools.map((each) => each.name)).toEqual(["get_weather", "Read"])
  })

  it("has no tools without tools or functions, or with empty lists", () => {
    expect(accepted({})).toBeNull()
    expect(accepted({ tools: null, functions: null })).toBeNull()
    expect(accepted({ tools: [] })).toBeNull()
    expect(accepted({ functions: [] })).toBeNull()
  })

  it("decodes function tools with auto choice and parallel calls by default", () => {
    expect(accepted({ tools: [tool("get_weather"), tool("get-time_2", { strict: true })] })).toEqual({
      tools: [
        { name: "get_weather", description: "The get_weather function", parameters: WEATHER_SCHEMA },
        { name: "get-time_2", description: "The get-time_2 function", parameters: WEATHER_SCHEMA }
      ],
      choice: { _tag: "auto" },
      parallel: true
    })
  })

  it("gives a function without parameters an empty object schema and no description", () => {
    expect(accepted({ tools: [{ type: "function", function: { name: "now" } }] })?.tools).toEqual([
      { name: "now", description: null, parameters: { type: "object", properties: {} } }
    ])
    expect(accepted({ tools: [{ type: "function", function: { name: "now", parameters: null } }] })?.tools)
      .toEqual([{ name: "now", description: null, parameters: { type: "object", properties: {} } }])
  })

  it("passes a long description on as it is", () => {
    const description = "x".repeat(5000)
    expect(accepted({ tools: [tool("f", { description })] })?.tools[0]?.description).toBe(description)
  })

  it("reads parallel_tool_calls", () => {
    expect(accepted({ tools: [tool("f")], parallel_tool_calls: false })?.parallel).toBe(false)
    expect(accepted({ tools: [tool("f")], parallel_tool_calls: true })?.parallel).toBe(true)
    expect(accepted({ tools: [tool("f")], parallel_tool_calls: null })?.parallel).toBe(true)
  })

  describe("tool_choice", () => {
    it.each(
      [
        ["none", { _tag: "none" }],
        ["auto", { _tag: "auto" }],
        ["required", { _tag: "required" }],
        [{ type: "function", function: { name: "g" } }, { _tag: "named", name: "g" }]
      ] as const
    )("decodes %j", (tool_choice, choice) => {
      expect(accepted({ tools: [tool("f"), tool("g")], tool_choice })?.choice).toEqual(choice)
    })

    it("accepts none and auto without tools", () => {
      expect(accepted({ tool_choice: "none" })).toBeNull()
      expect(accepted({ tool_choice: "auto", tools: [] })).toBeNull()
      expect(accepted({ function_call: "none" })).toBeNull()
    })

    it.each(
      [
        ["required without tools", { tool_choice: "required" }],
        ["a named function without tools", { tool_choice: { type: "function", function: { name: "f" } } }],
        ["a function that is not offered", {
          tools: [tool("f")],
          tool_choice: { type: "function", function: { name: "g" } }
        }],
        ["an unknown mode", { tools: [tool("f")], tool_choice: "always" }],
        ["a function choice without a name", { tools: [tool("f")], tool_choice: { type: "function", function: {} } }],
        ["a choice of another shape", { tools: [tool("f")], tool_choice: 3 }]
      ]
    )("refuses %s, naming tool_choice", (_name, body) => {
      expect(refused(body)).toMatchObject({
        status: 400,
        type: "invalid_request_error",
        param: "tool_choice",
        code: "invalid_value"
      })
    })

    it("refuses other choice types as unsupported", () => {
      const error = refused({
        tools: [tool("f")],
        tool_choice: { type: "allowed_tools", allowed_tools: { mode: "auto", tools: [] } }
      })
      expect(error).toMatchObject({ status: 400, param: "tool_choice", code: "unsupported_value" })
      expect(error.message).toContain("'allowed_tools'")
    })

    it("names the function that is not offered", () => {
      expect(refused({ tools: [tool("f")], tool_choice: { type: "function", function: { name: "g" } } }).message)
        .toBe("Invalid value for 'tool_choice': 'g' is not one of the request's functions.")
    })
  })

  describe("validation of tools", () => {
    it.each(
      [
        ["a name with a dot", [tool("a"), tool("b"), tool("get.weather")], "tools[2].function.name"],
        ["an empty name", [tool("")], "tools[0].function.name"],
        ["a name of 65 characters", [tool("a".repeat(65))], "tools[0].function.name"],
        ["a duplicate name", [tool("f"), tool("g"), tool("f")], "tools[2].function.name"],
        [
          "parameters without type object",
          [tool("f", { parameters: { properties: {} } })],
          "tools[0].function.parameters"
        ],
        [
          "parameters of type string",
          [tool("f"), tool("g", { parameters: { type: "string" } })],
          "tools[1].function.parameters"
        ],
        ["parameters that are an array", [tool("f", { parameters: [] })], "tools[0].function.parameters"],
        ["parameters that are a string", [tool("f", { parameters: "{}" })], "tools[0].function.parameters"]
      ]
    )("refuses %s as an invalid value of its param", (_name, tools, param) => {
      const error = refused({ tools })
      expect(error).toMatchObject({ status: 400, type: "invalid_request_error", param, code: "invalid_value" })
      expect(error.message).toContain(`'${param}'`)
    })

    it.each(["anyOf", "oneOf", "allOf"])("refuses a top-level %s in parameters", (keyword) => {
      const parameters = { type: "object", [keyword]: [{ required: ["a"] }, { required: ["b"] }] }
      const error = refused({ tools: [tool("f", { parameters })] })
      expect(error).toMatchObject({ status: 400, param: "tools[0].function.parameters", code: "invalid_value" })
      expect(error.message).toContain(`'${keyword}'`)
    })

    it("accepts combinators below the top level", () => {
      const parameters = { type: "object", properties: { v: { anyOf: [{ type: "string" }, { type: "number" }] } } }
      expect(accepted({ tools: [tool("f", { parameters })] })?.tools[0]?.parameters).toEqual(parameters)
    })

    it("refuses tool types other than function", () => {
      const error = refused({ tools: [tool("f"), { type: "custom", custom: { name: "g" } }] })
      expect(error).toMatchObject({ status: 400, param: "tools[1].type", code: "unsupported_value" })
      expect(error.message).toBe("Tools of type 'custom' are not supported: only function tools are.")
    })

    it("refuses a function tool without its function, or a function without a name", () => {
      expect(refused({ tools: [{ type: "function" }] })).toMatchObject({
        param: "tools[0].function",
        code: "missing_required_parameter"
      })
      expect(refused({ tools: [{ type: "function", function: { description: "x" } }] })).toMatchObject({
        param: "tools[0].function.name",
        code: "missing_required_parameter"
      })
    })

    it("refuses tools and functions together, naming functions", () => {
      expect(refused({ tools: [tool("f")], functions: [fn("g")] })).toMatchObject({
        status: 400,
        param: "functions",
        code: "invalid_value"
      })
    })
  })

  describe("legacy functions", () => {
    it("decodes functions, one call per answer", () => {
      expect(accepted({ functions: [fn("get_weather")], parallel_tool_calls: true })).toEqual({
        tools: [{ name: "get_weather", description: "The get_weather function", parameters: WEATHER_SCHEMA }],
        choice: { _tag: "auto" },
        parallel: false
      })
    })

    it.each(
      [
        ["none", { _tag: "none" }],
        ["auto", { _tag: "auto" }],
        [{ name: "f" }, { _tag: "named", name: "f" }]
      ] as const
    )("decodes function_call %j", (function_call, choice) => {
      expect(accepted({ functions: [fn("f")], function_call })?.choice).toEqual(choice)
    })

    it("names the function in its errors", () => {
      expect(refused({ functions: [fn("f"), fn("f")] })).toMatchObject({ param: "functions[1].name" })
      expect(refused({ functions: [fn("a b")] })).toMatchObject({ param: "functions[0].name" })
      expect(refused({ functions: [fn("f", { parameters: { type: "array" } })] }))
        .toMatchObject({ param: "functions[0].parameters", code: "invalid_value" })
    })

    it.each([["required"], [{ name: "g" }], [{ type: "function" }]])(
      "refuses function_call %j, naming function_call",
      (function_call) => {
        expect(refused({ functions: [fn("f")], function_call })).toMatchObject({
          status: 400,
          param: "function_call",
          code: "invalid_value"
        })
      }
    )
  })
})

describe("turnInputOf: tool traffic", () => {
  const weatherCall = {
    id: "call_1",
    type: "function",
    function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
  }

  it("keeps an assistant's tool calls with its text", () => {
    expect(
      messagesOf(
        { role: "user", content: "Weather and time?" },
        {
          role: "assistant",
          content: "Let me check.",
          tool_calls: [weatherCall, { id: "call_2", function: { name: "get_time", arguments: "{}" } }]
        }
      )[1]
    ).toEqual({
      role: "assistant",
      content: [{ _tag: "text", text: "Let me check." }],
      toolCalls: [
        { id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "call_2", name: "get_time", arguments: "{}" }
      ]
    })
  })

  it("accepts an assistant's tool calls with null or absent content", () => {
    const expected = {
      role: "assistant",
      content: [],
      toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }]
    }
    expect(messagesOf({ role: "assistant", content: null, tool_calls: [weatherCall] })).toEqual([expected])
    expect(messagesOf({ role: "assistant", tool_calls: [weatherCall] })).toEqual([expected])
  })

  it("has no toolCalls on an assistant message without calls", () => {
    expect(messagesOf({ role: "assistant", content: "Hi", tool_calls: [] })).toEqual([
      { role: "assistant", content: [{ _tag: "text", text: "Hi" }] }
    ])
    expect(messagesOf({ role: "assistant", content: "Hi", tool_calls: null })[0]).not.toHaveProperty("toolCalls")
  })

  it("turns tool messages into results of their call, with string or text-part content", () => {
    expect(messagesOf(
      { role: "tool", tool_call_id: "call_1", content: "18°C" },
      { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: "12:" }, { type: "text", text: "00" }] },
      { role: "tool", tool_call_id: "call_3", content: "" }
    )).toEqual([
      { role: "tool", content: [{ _tag: "text", text: "18°C" }], toolCallId: "call_1" },
      {
        role: "tool",
        content: [{ _tag: "text", text: "12:" }, { _tag: "text", text: "00" }],
        toolCallId: "call_2"
      },
      { role: "tool", content: [], toolCallId: "call_3" }
    ])
  })

  it("marks a tool message with the is_error extension as failed", () => {
    expect(messagesOf(
      { role: "tool", tool_call_id: "call_1", content: "city not found", is_error: true },
      { role: "tool", tool_call_id: "call_2", content: "ok", is_error: false }
    )).toEqual([
      { role: "tool", content: [{ _tag: "text", text: "city not found" }], toolCallId: "call_1", isError: true },
      { role: "tool", content: [{ _tag: "text", text: "ok" }], toolCallId: "call_2" }
    ])
  })

  it("refuses a tool message without tool_call_id", () => {
    const error = messagesError({ role: "user", content: "hi" }, { role: "tool", content: "18°C" })
    expect(error).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      param: "messages[1].tool_call_id",
      code: "missing_required_parameter"
    })
  })

  it("converts a legacy function call and its function result, paired by the function's name", () => {
    expect(messagesOf(
      { role: "assistant", content: null, function_call: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } },
      { role: "function", name: "get_weather", content: "18°C" }
    )).toEqual([
      {
        role: "assistant",
        content: [],
        toolCalls: [{ id: "get_weather", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }]
      },
      { role: "tool", content: [{ _tag: "text", text: "18°C" }], toolCallId: "get_weather" }
    ])
  })

  it("refuses a function message without name", () => {
    expect(messagesError({ role: "function", content: "18°C" })).toMatchObject({
      param: "messages[0].name",
      code: "missing_required_parameter"
    })
  })
})
