/**
 * The client's tools on the Responses edge: function tools, `tool_choice` and
 * `parallel_tool_calls`, decoded into the domain's `ClientTools` (checked as on every
 * surface, see `ToolDefinitions`). Tools of other types (Codex's `custom` apply_patch,
 * `local_shell`, `web_search` and the other hosted tools) are left out of what the model
 * sees: Claude Code can only answer a call with a function call, which Codex refuses for a
 * custom tool (it aborts the turn), and the hosted ones would need OpenAI's servers. Left
 * out, Codex edits files through its shell tool instead.
 */
import { Either } from "effect"
import type { ClientTools, ToolChoice } from "../../Domain/Tools.js"
import { partDecoder } from "../Decode.js"
import { type HttpError, invalidRequest } from "../Edge/Errors.js"
import { checkedTools, type ToolDefinition } from "../ToolDefinitions.js"
import { FunctionTool, type ResponsesRequest } from "./Wire.js"

const decodeFunctionTool = partDecoder(FunctionTool)

/** The function tools of the request, each with the request paths that name its parts. */
const definitionsOf = (request: ResponsesRequest): Either.Either<ReadonlyArray<ToolDefinition>, HttpError> =>
  Either.all(
    (request.tools ?? []).flatMap((tool, index) =>
      tool.type === "function"
        ? [Either.map(decodeFunctionTool(tool, ["tools", index]), (fn) => ({
          name: fn.name,
          description: fn.description ?? null,
          schema: fn.parameters ?? undefined,
          nameParam: `tools[${index}].name`,
          schemaParam: `tools[${index}].parameters`
        }))]
        : []
    )
  )

/** `tool_choice`: a mode, or `{type: "function", name}`. */
const toolChoiceOf = (value: unknown): Either.Either<ToolChoice, HttpError> => {
  if (value === undefined || value === null) return Either.right({ _tag: "auto" })
  if (value === "none" || value === "auto" || value === "required") return Either.right({ _tag: value })
  if (typeof value === "object" && "type" in value) {
    if (value.type !== "function") {
      return Either.left(invalidRequest(
        `tool_choice of type '${String(value.type)}' is not supported: use none, auto, required or a function.`,
        "tool_choice",
        "unsupported_value"
      ))
    }
    if ("name" in value && typeof value.name === "string") return Either.right({ _tag: "named", name: value.name })
  }
  return Either.left(invalidRequest(
    "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {\"type\": \"function\", \"name\": ...}.",
    "tool_choice",
    "invalid_value"
  ))
}

/**
 * The client's tools for the turn, or null when the request offers no function. A choice
 * of `none` or `auto` without functions is accepted; `required` or a named function without
 * functions, or naming one that is not offered, is a 400 on `tool_choice`.
 */
export const clientToolsOf = (
  request: ResponsesRequest,
  options: {
    /** Names no client tool may take (Claude Code's own, when they are kept next to the client's). */
    readonly reservedNames?: ReadonlySet<string>
  } = {}
): Either.Either<ClientTools | null, HttpError> =>
  Either.gen(function*() {
    const tools = yield* checkedTools(yield* definitionsOf(request), options)
    const choice = yield* toolChoiceOf(request.tool_choice)
    if (choice._tag === "required" && tools.length === 0) {
      return yield* Either.left(invalidRequest(
        "tool_choice 'required' needs function tools to call.",
        "tool_choice",
        "invalid_value"
      ))
    }
    if (choice._tag === "named" && !tools.some((tool) => tool.name === choice.name)) {
      return yield* Either.left(invalidRequest(
        `Invalid value for 'tool_choice': '${choice.name}' is not one of the request's function tools.`,
        "tool_choice",
        "invalid_value"
      ))
    }
    if (tools.length === 0) return null
    return { tools, choice, parallel: request.parallel_tool_calls !== false }
  })
