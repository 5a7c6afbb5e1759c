/**
 * The client's tools on the chat completions edge (function calling): `tools`, `tool_choice`
 * and `parallel_tool_calls`, and their legacy forms `functions` and `function_call`, decoded
 * into the domain's `ClientTools`. Whatever Claude Code would silently mishandle (a schema it
 * drops, a name it cannot offer) is refused here with a 400 that names the exact parameter.
 */
import { Either } from "effect"
import type { ClientTools, ToolChoice } from "../../Domain/Tools.js"
import { type HttpError, invalidRequest } from "../Edge/Errors.js"
import { checkedTools } from "../ToolDefinitions.js"
import type { ChatCompletionRequest, FunctionDefinition } from "./Wire.js"

const isNonEmptyArray = (value: unknown): boolean => Array.isArray(value) && value.length > 0

/**
 * Whether a request (or the parameters recorded with its turn) offers legacy `functions`
 * rather than `tools`: its calls are then answered as one `function_call`, not `tool_calls`.
 */
export const usesLegacyFunctions = (parameters: Readonly<Record<string, unknown>>): boolean =>
  isNonEmptyArray(parameters.functions) && !isNonEmptyArray(parameters.tools)

/** The functions of `tools`, or of legacy `functions`, each with the request path that names it. */
const definitionsOf = (
  request: ChatCompletionRequest
): Either.Either<ReadonlyArray<[FunctionDefinition, string]>, HttpError> => {
  if (usesLegacyFunctions(request)) {
    return Either.right((request.functions ?? []).map((definition, index) => [definition, `functions[${index}]`]))
  }
  const definitions: Array<[FunctionDefinition, string]> = []
  for (const [index, tool] of (request.tools ?? []).entries()) {
    if (tool.type !== "function") {
      return Either.left(invalidRequest(
        `Tools of type '${tool.type}' are not supported: only function tools are.`,
        `tools[${index}].type`,
        "unsupported_value"
      ))
    }
    if (tool.function === undefined) {
      return Either.left(invalidRequest(
        `Missing required parameter: 'tools[${index}].function'.`,
        `tools[${index}].function`,
        "missing_required_parameter"
      ))
    }
    definitions.push([tool.function, `tools[${index}].function`])
  }
  return Either.right(definitions)
}

const namedIn = (value: unknown): string | null =>
  typeof value === "object" && value !== null && "name" in value && typeof value.name === "string" ? value.name : null

/** `tool_choice`: a mode, or `{type: "function", function: {name}}`. */
const toolChoiceOf = (value: unknown): Either.Either<ToolChoice, HttpError> => {
  if (value === "none" || value === "auto" || value === "required") return Either.right({ _tag: value })
  if (typeof value === "object" && value !== null && "type" in value) {
    if (value.type !== "function") {
      return Either.left(invalidRequest(
        `tool_choice of type '${String(value.type)}' is not supported: use none, auto, required or a function.`,
        "tool_choice",
        "unsupported_value"
      ))
    }
    const name = "function" in value ? namedIn(value.function) : null
    if (name !== null) return Either.right({ _tag: "named", name })
  }
  return Either.left(invalidRequest(
    "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or " +
      "{\"type\": \"function\", \"function\": {\"name\": ...}}.",
    "tool_choice",
    "invalid_value"
  ))
}

/** Legacy `function_call`: `none`, `auto` or `{name}`. */
const functionCallChoiceOf = (value: unknown): Either.Either<ToolChoice, HttpError> => {
  if (value === "none" || value === "auto") return Either.right({ _tag: value })
  const name = namedIn(value)
  return name !== null
    ? Either.right({ _tag: "named", name })
    : Either.left(invalidRequest(
      "Invalid value for 'function_call': expected 'none', 'auto' or {\"name\": ...}.",
      "function_call",
      "invalid_value"
    ))
}

/** The choice of `tool_choice`, else of legacy `function_call`, else `auto`; with the param it came from. */
const choiceOf = (request: ChatCompletionRequest): Either.Either<[ToolChoice, string], HttpError> => {
  if (request.tool_choice !== undefined && request.tool_choice !== null) {
    return Either.map(toolChoiceOf(request.tool_choice), (choice) => [choice, "tool_choice"])
  }
  if (request.function_call !== undefined && request.function_call !== null) {
    return Either.map(functionCallChoiceOf(request.function_call), (choice) => [choice, "function_call"])
  }
  return Either.right([{ _tag: "auto" }, "tool_choice"])
}

/**
 * The client's tools for the turn, or null when the request offers none. A choice of `none` or
 * `auto` without tools is accepted (clients send defaults); `required` or a named function
 * without tools, or naming a function that is not offered, is a 400 on the choice's param.
 */
export const clientToolsOf = (
  request: ChatCompletionRequest,
  options: {
    /** Names no client tool may take (Claude Code's own, when they are kept next to the client's). */
    readonly reservedNames?: ReadonlySet<string>
  } = {}
): Either.Either<ClientTools | null, HttpError> =>
  Either.gen(function*() {
    if (isNonEmptyArray(request.tools) && isNonEmptyArray(request.functions)) {
      return yield* Either.left(invalidRequest(
        "Send either tools or the deprecated functions, not both.",
        "functions",
        "invalid_value"
      ))
    }
    const tools = yield* checkedTools(
      (yield* definitionsOf(request)).map(([definition, param]) => ({
        name: definition.name,
        description: definition.description ?? null,
        schema: definition.parameters ?? undefined,
        nameParam: `${param}.name`,
        schemaParam: `${param}.parameters`
      })),
      options
    )
    const [choice, choiceParam] = yield* choiceOf(request)
    if (choice._tag === "required" && tools.length === 0) {
      return yield* Either.left(
        invalidRequest(`${choiceParam} 'required' needs tools to call.`, choiceParam, "invalid_value")
      )
    }
    if (choice._tag === "named" && !tools.some((tool) => tool.name === choice.name)) {
      return yield* Either.left(invalidRequest(
        `Invalid value for '${choiceParam}': '${choice.name}' is not one of the request's functions.`,
        choiceParam,
        "invalid_value"
      ))
    }
    if (tools.length === 0) return null
    // Legacy function calling has room for one call per answer.
    const parallel = !usesLegacyFunctions(request) && request.parallel_tool_calls !== false
    return { tools, choice, parallel }
  })
