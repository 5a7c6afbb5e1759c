/**
 * From an OpenAI chat completions request to a turn: body decoding with OpenAI-shaped
 * errors (naming the offending `param`), the fields we refuse, and the conversion of
 * messages (tool calls and results included) into provider-neutral conversation content.
 * The client's tools themselves are decoded in `Tools.ts`.
 */
import { Either } from "effect"
import { type ContentPart, type ConversationMessage, textOf } from "../../Domain/Conversation.js"
import type { ToolCall } from "../../Domain/Tools.js"
import { bodyDecoder } from "../Decode.js"
import { type HttpError, invalidRequest } from "../Edge/Errors.js"
import type { ProjectionContext } from "./Projection.js"
import { usesLegacyFunctions } from "./Tools.js"
import {
  ChatCompletionRequest,
  type ChatCompletionRequest as ChatCompletionRequestType,
  type ChatMessage
} from "./Wire.js"

/** Decodes a parsed JSON body; a schema violation is a 400 that names the parameter. */
export const decodeChatRequest = bodyDecoder(ChatCompletionRequest)

/** The conversation of a turn, with system and developer messages merged into one prompt. */
export interface TurnInput {
  readonly systemPrompt: string | null
  readonly messages: ReadonlyArray<ConversationMessage>
}

const dataUrlPattern = /^data:(image\/(?:png|jpeg|jpg|gif|webp));base64,([A-Za-z0-9+/=\r\n]+)$/

const contentParts = (
  message: ChatMessage,
  index: number
): Either.Either<ReadonlyArray<ContentPart>, HttpError> => {
  const content = message.content
  if (content === undefined || content === null) return Either.right([])
  if (typeof content === "string") return Either.right(content.length > 0 ? [{ _tag: "text", text: content }] : [])
  const parts: Array<ContentPart> = []
  for (const [partIndex, part] of content.entries()) {
    const param = `messages[${index}].content[${partIndex}]`
    if (part.type === "text" && "text" in part) {
      parts.push({ _tag: "text", text: part.text })
    } else if (part.type === "refusal" && "refusal" in part && message.role === "assistant") {
      parts.push({ _tag: "text", text: part.refusal })
    } else if (part.type === "image_url" && "image_url" in part) {
      if (message.role !== "user") {
        return Either.left(invalidRequest("Images are only supported in user messages.", param, "invalid_value"))
      }
      const match = dataUrlPattern.exec(part.image_url.url)
      if (match === null) {
        return Either.left(invalidRequest(
          part.image_url.url.startsWith("data:")
            ? "Only base64 data URLs of PNG, JPEG, GIF or WebP images are supported."
            : "Remote image URLs are not supported: send the image inline as a base64 data URL (data:image/png;base64,...).",
          `${param}.image_url.url`,
          "unsupported_image_url"
        ))
      }
      const mediaType = match[1] === "image/jpg" ? "image/jpeg" : match[1]!
      parts.push({ _tag: "image", mediaType, data: match[2]!.replace(/[\r\n]/g, "") })
    } else {
      return Either.left(
        invalidRequest(`Content parts of type '${part.type}' are not supported.`, `${param}.type`, "invalid_value")
      )
    }
  }
  return Either.right(parts)
}

/** An assistant's calls of the client's tools: `tool_calls`, and a legacy `function_call` (its id is its name). */
const toolCallsOf = (message: ChatMessage): ReadonlyArray<ToolCall> => [
  ...(message.tool_calls ?? []).map((call) => ({
    id: call.id,
    name: call.function.name,
    arguments: call.function.arguments
  })),
  ...(message.function_call ? [{ id: message.function_call.name, ...message.function_call }] : [])
]

/**
 * A tool's result: a `tool` message answers the call `tool_call_id`, a legacy `function`
 * message the call of the function it names. `is_error` (an extension) marks a failed tool.
 */
const toolResultOf = (
  message: ChatMessage,
  index: number,
  content: ReadonlyArray<ContentPart>
): Either.Either<ConversationMessage, HttpError> => {
  const [toolCallId, field] = message.role === "tool"
    ? [message.tool_call_id, "tool_call_id"]
    : [message.name, "name"]
  if (toolCallId === undefined) {
    const param = `messages[${index}].${field}`
    return Either.left(
      invalidRequest(`Missing required parameter: '${param}'.`, param, "missing_required_parameter")
    )
  }
  return Either.right({ role: "tool", content, toolCallId, ...(message.is_error === true ? { isError: true } : {}) })
}

/** Converts OpenAI messages: system text becomes the prompt, tool calls and results stay structured. */
export const turnInputOf = (request: ChatCompletionRequestType): Either.Either<TurnInput, HttpError> => {
  const system: Array<string> = []
  const messages: Array<ConversationMessage> = []
  for (const [index, message] of request.messages.entries()) {
    const parts = contentParts(message, index)
    if (Either.isLeft(parts)) return Either.left(parts.left)
    switch (message.role) {
      case "system":
      case "developer": {
        const text = textOf(parts.right)
        if (text.trim().length > 0) system.push(text)
        break
      }
      case "user":
        messages.push({ role: "user", content: parts.right })
        break
      case "assistant": {
        const text = textOf(parts.right)
        const toolCalls = toolCallsOf(message)
        messages.push({
          role: "assistant",
          content: text.length > 0 ? [{ _tag: "text", text }] : [],
          ...(toolCalls.length > 0 ? { toolCalls } : {})
        })
        break
      }
      case "tool":
      case "function": {
        const result = toolResultOf(message, index, parts.right)
        if (Either.isLeft(result)) return Either.left(result.left)
        messages.push(result.right)
        break
      }
    }
  }
  // The seed's extension: a request-level system prompt, used when no message carries one.
  const systemPrompt = system.length > 0
    ? system.join("\n\n")
    : request.system_prompt?.trim()
    ? request.system_prompt
    : null
  return Either.right({ systemPrompt, messages })
}

/** Refuses what Claude Code cannot do at all (rather than silently doing something else). */
export const refuseUnsupported = (request: ChatCompletionRequestType): HttpError | null => {
  if (request.n !== undefined && request.n !== null && request.n !== 1) {
    return invalidRequest("Only n=1 is supported: Claude Code produces one answer per turn.", "n", "unsupported_value")
  }
  return null
}

/**
 * The JSON Schema an answer must follow (`response_format`), as the CLI's `--json-schema`
 * takes it: the given schema for `json_schema`, any object for `json_object`, none for text.
 */
export const outputSchemaOf = (request: ChatCompletionRequestType): Either.Either<string | null, HttpError> => {
  const format = request.response_format
  if (format === undefined || format === null || format.type === "text") return Either.right(null)
  if (format.type === "json_object") return Either.right(JSON.stringify({ type: "object" }))
  const schema = format.json_schema?.schema
  if (schema === undefined) {
    return Either.left(invalidRequest(
      "response_format of type json_schema needs json_schema.schema",
      "response_format.json_schema.schema",
      "missing_required_parameter"
    ))
  }
  return Either.right(JSON.stringify(schema))
}

/** Whether the answer is structured output (JSON) rather than text. */
const isStructured = (responseFormat: unknown): boolean =>
  typeof responseFormat === "object" && responseFormat !== null && "type" in responseFormat &&
  (responseFormat.type === "json_schema" || responseFormat.type === "json_object")

/**
 * How a turn's answer is projected, from the request parameters recorded with the turn:
 * the live stream and any later replay use this one definition, so they send the same bytes.
 */
export const projectionContextOf = (
  sessionId: string,
  projectId: string,
  parameters: Readonly<Record<string, unknown>>
): ProjectionContext => {
  const stop = parameters.stop
  const streamOptions = parameters.stream_options as { readonly include_usage?: unknown } | null | undefined
  return {
    sessionId,
    projectId,
    stop: typeof stop === "string"
      ? [stop].filter((s) => s.length > 0)
      : Array.isArray(stop)
      ? stop.filter((s): s is string => typeof s === "string" && s.length > 0)
      : [],
    includeUsage: streamOptions?.include_usage === true,
    structured: isStructured(parameters.response_format),
    legacyFunctions: usesLegacyFunctions(parameters)
  }
}

/** The request minus its messages and extensions: recorded with the turn for audit and replay. */
export const parametersOf = (request: ChatCompletionRequestType): Record<string, unknown> => {
  const { messages: _messages, project_id: _project, session_id: _session, system_prompt: _system, ...rest } = request
  return rest
}
