/**
 * From an Anthropic Messages request to a turn: body decoding (400s naming the parameter),
 * the conversation in provider-neutral form (tool calls and results included, thinking left
 * out: Claude Code thinks afresh), the client's tools and tool choice, and the parameters the
 * projection needs. Errors are the edge's `HttpError`, rendered in Anthropic's envelope.
 */
import { Either } from "effect"
import type { ContentPart, ConversationMessage } from "../../Domain/Conversation.js"
import type { ClientTools, ToolChoice } from "../../Domain/Tools.js"
import { bodyDecoder } from "../Decode.js"
import { type HttpError, invalidRequest } from "../Edge/Errors.js"
import { checkedTools } from "../ToolDefinitions.js"
import { type ContentBlockParam, type MessageParam, MessagesRequest } from "./Wire.js"

/** Decodes a parsed JSON body; a schema violation is a 400 that names the parameter. */
export const decodeMessagesRequest = bodyDecoder(MessagesRequest)

/** The conversation of a turn and its system prompt. */
export interface MessagesInput {
  readonly systemPrompt: string | null
  readonly messages: ReadonlyArray<ConversationMessage>
}

const imageTypes = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"])

/** A block's text or image as a content part, for user messages and tool results. */
const partOf = (block: ContentBlockParam, param: string): Either.Either<ContentPart, HttpError> => {
  if (block.type === "text" && "text" in block) return Either.right({ _tag: "text", text: block.text })
  if (block.type === "image" && "source" in block) {
    const source = block.source
    if (source.type === "base64" && "data" in source && imageTypes.has(source.media_type)) {
      return Either.right({ _tag: "image", mediaType: source.media_type, data: source.data })
    }
    return Either.left(invalidRequest(
      source.type === "base64"
        ? "Only PNG, JPEG, GIF or WebP images are supported."
        : "Only base64 image sources are supported: send the image inline.",
      `${param}.source`,
      "invalid_value"
    ))
  }
  return Either.left(invalidRequest(`Content blocks of type '${block.type}' are not supported here.`, `${param}.type`))
}

const partsOf = (
  content: string | ReadonlyArray<ContentBlockParam>,
  param: string
): Either.Either<ReadonlyArray<ContentPart>, HttpError> =>
  typeof content === "string"
    ? Either.right(content.length > 0 ? [{ _tag: "text", text: content }] : [])
    : Either.all(content.map((block, index) => partOf(block, `${param}[${index}]`)))

/**
 * One Anthropic message as conversation messages: a user message's `tool_result` blocks
 * become `tool` messages (ahead of its text, as Anthropic orders them); an assistant's
 * `tool_use` blocks become its tool calls, its thinking is left out.
 */
const messagesOf = (
  message: MessageParam & { readonly role: "user" | "assistant" },
  index: number
): Either.Either<ReadonlyArray<ConversationMessage>, HttpError> =>
  Either.gen(function*() {
    const param = `messages[${index}].content`
    if (typeof message.content === "string") {
      return [{
        role: message.role,
        content: message.content.length > 0 ? [{ _tag: "text", text: message.content }] : []
      }]
    }
    if (message.role === "assistant") {
      const content: Array<ContentPart> = []
      const toolCalls: Array<{ id: string; name: string; arguments: string }> = []
      for (const [at, block] of message.content.entries()) {
        if (block.type === "tool_use" && "id" in block && "name" in block) {
          toolCalls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input ?? {}) })
        } else if (block.type === "text" && "text" in block) {
          content.push({ _tag: "text", text: block.text })
        } else if (block.type !== "thinking" && block.type !== "redacted_thinking") {
          return yield* Either.left(
            invalidRequest(`Content blocks of type '${block.type}' are not supported here.`, `${param}[${at}].type`)
          )
        }
      }
      return [{ role: "assistant", content, ...(toolCalls.length > 0 ? { toolCalls } : {}) }]
    }
    const results: Array<ConversationMessage> = []
    const content: Array<ContentPart> = []
    for (const [at, block] of message.content.entries()) {
      if (block.type === "tool_result" && "tool_use_id" in block) {
        const parts = yield* partsOf(block.content ?? "", `${param}[${at}].content`)
        results.push({
          role: "tool",
          content: parts,
          toolCallId: block.tool_use_id,
          ...(block.is_error === true ? { isError: true } : {})
        })
      } else {
        content.push(yield* partOf(block, `${param}[${at}]`))
      }
    }
    return content.length > 0 ? [...results, { role: "user", content }] : results
  })

/**
 * A system message between the others (Claude Code sends its reminders so) as text for the
 * model: it goes with the user message before it (or, at the start, the one after it), so
 * the conversation keeps its shape and the session its settings.
 */
const withSystemMessages = (
  messages: ReadonlyArray<ConversationMessage | { readonly system: string }>
): ReadonlyArray<ConversationMessage> => {
  const merged: Array<ConversationMessage> = []
  let waiting: Array<string> = []
  const note = (text: string): ContentPart => ({
    _tag: "text",
    text: `\n\n<system-reminder>\n${text}\n</system-reminder>`
  })
  for (const message of messages) {
    if ("system" in message) {
      const previous = merged[merged.length - 1]
      if (previous?.role === "user") {
        merged[merged.length - 1] = { ...previous, content: [...previous.content, note(message.system)] }
      } else {
        waiting.push(message.system)
      }
    } else if (message.role === "user" && waiting.length > 0) {
      merged.push({ ...message, content: [...waiting.map(note), ...message.content] })
      waiting = []
    } else {
      merged.push(message)
    }
  }
  return merged
}

/** The system prompt and conversation of a request. */
export const messagesInputOf = (request: MessagesRequest): Either.Either<MessagesInput, HttpError> =>
  Either.gen(function*() {
    const converted: Array<ConversationMessage | { readonly system: string }> = []
    for (const [index, message] of request.messages.entries()) {
      if (message.role === "system") {
        const parts = yield* partsOf(message.content, `messages[${index}].content`)
        converted.push({ system: parts.flatMap((part) => (part._tag === "text" ? [part.text] : [])).join("\n") })
        continue
      }
      for (const each of yield* messagesOf({ ...message, role: message.role }, index)) converted.push(each)
    }
    const messages = withSystemMessages(converted)
    const system = typeof request.system === "string"
      ? request.system
      : (request.system ?? []).map((block) => block.text).join("\n\n")
    return { systemPrompt: system.trim().length > 0 ? system : null, messages }
  })

/** How the model may use the tools: Anthropic's `any` is OpenAI's `required`. */
const choiceOf = (choice: MessagesRequest["tool_choice"]): ToolChoice => {
  switch (choice?.type) {
    case "any":
      return { _tag: "required" }
    case "none":
      return { _tag: "none" }
    case "tool":
      return { _tag: "named", name: choice.name ?? "" }
    default:
      return { _tag: "auto" }
  }
}

/**
 * The client's tools (custom tools only: Anthropic's server tools are not Claude Code's to
 * run for a client), checked as every surface checks them.
 */
export const clientToolsOf = (
  request: MessagesRequest,
  options: { readonly reservedNames?: ReadonlySet<string> | undefined } = {}
): Either.Either<ClientTools | null, HttpError> =>
  Either.gen(function*() {
    const definitions = request.tools ?? []
    for (const [index, tool] of definitions.entries()) {
      if (tool.type != null && tool.type !== "custom") {
        return yield* Either.left(invalidRequest(
          `Tools of type '${tool.type}' (Anthropic's server tools) are not supported: only custom tools are.`,
          `tools[${index}].type`,
          "unsupported_value"
        ))
      }
    }
    const tools = yield* checkedTools(
      definitions.map((tool, index) => ({
        name: tool.name,
        description: tool.description ?? null,
        schema: tool.input_schema,
        nameParam: `tools[${index}].name`,
        schemaParam: `tools[${index}].input_schema`
      })),
      options
    )
    const choice = choiceOf(request.tool_choice)
    if (choice._tag === "named" && !tools.some((tool) => tool.name === choice.name)) {
      return yield* Either.left(
        invalidRequest(
          `tool_choice names '${choice.name}', which is not one of the request's tools.`,
          "tool_choice.name"
        )
      )
    }
    if (choice._tag === "required" && tools.length === 0) {
      return yield* Either.left(invalidRequest("tool_choice 'any' needs tools to call.", "tool_choice"))
    }
    if (tools.length === 0) return null
    return { tools, choice, parallel: request.tool_choice?.disable_parallel_tool_use !== true }
  })

/** The request minus its conversation: recorded with the turn, and read back by the projection. */
export const parametersOf = (request: MessagesRequest): Record<string, unknown> => {
  const { messages: _messages, system: _system, ...rest } = request
  return { ...rest, api: "anthropic.messages" }
}

/** What the projection reads from the recorded parameters: the stop sequences. */
export const stopSequencesOf = (parameters: Readonly<Record<string, unknown>>): ReadonlyArray<string> =>
  Array.isArray(parameters.stop_sequences)
    ? parameters.stop_sequences.filter((stop): stop is string => typeof stop === "string" && stop.length > 0)
    : []
