/**
 * From a Responses API request to a turn: body decoding with OpenAI-shaped errors (naming
 * the offending `param`, down to `input[i]…`), the fields we refuse, the input items as
 * entries of a conversation (references to stored items are resolved by the handler), their
 * merge into provider-neutral messages, the structured-output schema, the parameters
 * recorded with the turn and, back from those, how the turn's response is projected.
 */
import { Either } from "effect"
import { type ContentPart, type ConversationMessage, textOf } from "../../Domain/Conversation.js"
import type { ToolCall } from "../../Domain/Tools.js"
import { bodyDecoder, partDecoder } from "../Decode.js"
import { type HttpError, invalidRequest } from "../Edge/Errors.js"
import type { ResponseContext } from "./Projection.js"
import {
  FunctionCallItem,
  FunctionCallOutputItem,
  type InputContentPart,
  ItemReference,
  MessageItem,
  type OutputItem,
  ResponsesRequest
} from "./Wire.js"

/** Decodes a parsed JSON body. */
export const decodeResponsesRequest = bodyDecoder(ResponsesRequest)

/** Refuses what the gateway cannot do at all (rather than silently doing something else). */
export const refuseUnsupported = (request: ResponsesRequest): HttpError | null => {
  if (request.background === true) {
    return invalidRequest(
      "Background responses are not supported: send the request without background, streamed or not.",
      "background",
      "unsupported_value"
    )
  }
  if (request.conversation !== undefined && request.conversation !== null) {
    return invalidRequest(
      "Conversations are not supported: use previous_response_id, or send the whole input.",
      "conversation",
      "unsupported_value"
    )
  }
  return null
}

// ---------------------------------------------------------------------------
// Input items

/** One input item, as the conversation sees it. */
export type InputEntry =
  | {
    readonly _tag: "Message"
    readonly role: "user" | "assistant" | "system" | "developer"
    readonly content: ReadonlyArray<ContentPart>
  }
  | { readonly _tag: "Call"; readonly call: ToolCall }
  | { readonly _tag: "Output"; readonly callId: string; readonly content: ReadonlyArray<ContentPart> }
  /** An output item of a stored response, by id; `param` names it in the request. */
  | { readonly _tag: "Reference"; readonly id: string; readonly param: string }

/** An entry whose references are resolved. */
export type ResolvedEntry = Exclude<InputEntry, { readonly _tag: "Reference" }>

const decodeMessage = partDecoder(MessageItem)
const decodeCall = partDecoder(FunctionCallItem)
const decodeCallOutput = partDecoder(FunctionCallOutputItem)
const decodeReference = partDecoder(ItemReference)

const dataUrlPattern = /^data:(image\/(?:png|jpeg|jpg|gif|webp));base64,([A-Za-z0-9+/=\r\n]+)$/

/** An `input_image` part: only inline base64 images reach the model. */
const imagePart = (imageUrl: string | null | undefined, param: string): Either.Either<ContentPart, HttpError> => {
  const url = imageUrl ?? ""
  const match = dataUrlPattern.exec(url)
  if (match === null) {
    return Either.left(invalidRequest(
      url.startsWith("data:")
        ? "Only base64 data URLs of PNG, JPEG, GIF or WebP images are supported."
        : "Only inline images are supported: send the image as a base64 data URL (data:image/png;base64,...) in image_url.",
      `${param}.image_url`,
      "unsupported_image_url"
    ))
  }
  const mediaType = match[1] === "image/jpg" ? "image/jpeg" : match[1]!
  return Either.right({ _tag: "image", mediaType, data: match[2]!.replace(/[\r\n]/g, "") })
}

/** Content as parts; images only where `images` allows them (user messages). */
const contentOf = (
  content: string | ReadonlyArray<InputContentPart>,
  param: string,
  images: boolean
): Either.Either<ReadonlyArray<ContentPart>, HttpError> => {
  if (typeof content === "string") return Either.right(content.length > 0 ? [{ _tag: "text", text: content }] : [])
  return Either.all(content.map((part, index): Either.Either<ContentPart, HttpError> => {
    const partParam = `${param}[${index}]`
    if ((part.type === "input_text" || part.type === "output_text") && "text" in part) {
      return Either.right({ _tag: "text", text: part.text })
    }
    if (part.type === "refusal" && "refusal" in part) return Either.right({ _tag: "text", text: part.refusal })
    if (part.type === "input_image" && images) return imagePart("image_url" in part ? part.image_url : null, partParam)
    return Either.left(invalidRequest(
      part.type === "input_image"
        ? "Images are only supported in user messages."
        : `Content parts of type '${part.type}' are not supported.`,
      `${partParam}.type`,
      "invalid_value"
    ))
  }))
}

/** One input item as an entry; null for items that carry nothing for the model (reasoning). */
const entryOf = (
  item: Readonly<Record<string, unknown>>,
  index: number
): Either.Either<InputEntry | null, HttpError> => {
  const param = `input[${index}]`
  const path = ["input", index]
  switch (item.type ?? "message") {
    case "message":
      return Either.flatMap(decodeMessage(item, path), (message) =>
        Either.map(
          contentOf(message.content, `${param}.content`, message.role === "user"),
          (content) => ({ _tag: "Message", role: message.role, content })
        ))
    case "function_call":
      return Either.map(decodeCall(item, path), (call) => ({
        _tag: "Call",
        call: { id: call.call_id, name: call.name, arguments: call.arguments }
      }))
    case "function_call_output":
      return Either.flatMap(decodeCallOutput(item, path), (output) =>
        Either.map(
          contentOf(output.output, `${param}.output`, false),
          (content) => ({ _tag: "Output", callId: output.call_id, content })
        ))
    case "reasoning":
      return Either.right(null)
    case "item_reference":
      return Either.map(
        decodeReference(item, path),
        (reference) => ({ _tag: "Reference", id: reference.id, param: `${param}.id` })
      )
    default:
      return Either.left(invalidRequest(
        `Input items of type '${
          String(item.type)
        }' are not supported: send message, function_call, function_call_output, reasoning or item_reference items.`,
        `${param}.type`,
        "invalid_value"
      ))
  }
}

/** The request's input as entries, in order (a string is one user message). */
export const inputEntriesOf = (request: ResponsesRequest): Either.Either<ReadonlyArray<InputEntry>, HttpError> => {
  if (typeof request.input === "string") {
    return Either.right([{ _tag: "Message", role: "user", content: [{ _tag: "text", text: request.input }] }])
  }
  return Either.map(
    Either.all(request.input.map(entryOf)),
    (entries) => entries.filter((entry): entry is InputEntry => entry !== null)
  )
}

/** What a stored output item says to the model when an input refers to it; null for reasoning. */
export const entryOfOutput = (item: OutputItem): ResolvedEntry | null => {
  switch (item.type) {
    case "message":
      return {
        _tag: "Message",
        role: "assistant",
        content: item.content.map((part) => ({ _tag: "text", text: part.text }))
      }
    case "function_call":
      return { _tag: "Call", call: { id: item.call_id, name: item.name, arguments: item.arguments } }
    case "reasoning":
      return null
  }
}

/** The conversation of a turn, with the instructions and system/developer messages merged into one prompt. */
export interface TurnInput {
  readonly systemPrompt: string | null
  readonly messages: ReadonlyArray<ConversationMessage>
}

/**
 * Merges entries into messages. An answer comes back as several items (its text, then its
 * calls, one item each): consecutive assistant messages and calls become one assistant
 * message (text joined, calls in order), as the session recorded that answer, so that a
 * resent history has the digest of the conversation it continues.
 */
export const turnInputOf = (
  instructions: string | null | undefined,
  entries: ReadonlyArray<ResolvedEntry>
): TurnInput => {
  const system: Array<string> = instructions?.trim() ? [instructions] : []
  const messages: Array<ConversationMessage> = []
  /** The assistant message the next assistant entry joins, if the last message is one. */
  const openAnswer = (): ConversationMessage | undefined => {
    const last = messages[messages.length - 1]
    return last?.role === "assistant" ? last : undefined
  }
  const replaceLast = (message: ConversationMessage) => {
    messages[messages.length - 1] = message
  }
  for (const entry of entries) {
    switch (entry._tag) {
      case "Message": {
        if (entry.role === "system" || entry.role === "developer") {
          const text = textOf(entry.content)
          if (text.trim().length > 0) system.push(text)
        } else if (entry.role === "user") {
          messages.push({ role: "user", content: entry.content })
        } else {
          const answer = openAnswer()
          const text = textOf(answer?.content ?? []) + textOf(entry.content)
          const content: ReadonlyArray<ContentPart> = text.length > 0 ? [{ _tag: "text", text }] : []
          if (answer === undefined) messages.push({ role: "assistant", content })
          else replaceLast({ ...answer, content })
        }
        break
      }
      case "Call": {
        const answer = openAnswer()
        if (answer === undefined) messages.push({ role: "assistant", content: [], toolCalls: [entry.call] })
        else replaceLast({ ...answer, toolCalls: [...(answer.toolCalls ?? []), entry.call] })
        break
      }
      case "Output":
        messages.push({ role: "tool", content: entry.content, toolCallId: entry.callId })
        break
    }
  }
  return { systemPrompt: system.length > 0 ? system.join("\n\n") : null, messages }
}

// ---------------------------------------------------------------------------
// Output format, parameters, projection

/**
 * The JSON Schema an answer must follow (`text.format`), as chat's `response_format`: the
 * given schema for `json_schema`, any object for `json_object`, none for text.
 */
export const outputSchemaOf = (request: ResponsesRequest): string | null => {
  const format = request.text?.format
  if (format === undefined || format === null || format.type === "text") return null
  return JSON.stringify(format.type === "json_object" ? { type: "object" } : format.schema)
}

/** Marks the parameters of a turn that answered a Responses API request. */
export const surfaceKey = "surface"
export const surfaceName = "responses"

/**
 * The request minus its input and extensions, recorded with the turn: what a stored
 * response echoes, and the mark (`surface: "responses"`) that makes it one.
 */
export const parametersOf = (request: ResponsesRequest): Record<string, unknown> => {
  const { input: _input, project_id: _project, session_id: _session, ...rest } = request
  return { ...rest, [surfaceKey]: surfaceName }
}

/** Whether a turn's recorded parameters are those of a Responses API request. */
export const isResponsesTurn = (parameters: Readonly<Record<string, unknown>>): boolean =>
  parameters[surfaceKey] === surfaceName

/** Whether the client asked for its response to be kept (`store`, default true). */
export const isStored = (parameters: Readonly<Record<string, unknown>>): boolean => parameters.store !== false

const orNull = <A>(value: A | undefined): A | null => value ?? null
const numberOrNull = (value: unknown): number | null => (typeof value === "number" ? value : null)
const stringOrNull = (value: unknown): string | null => (typeof value === "string" ? value : null)

const isStructured = (text: unknown): boolean => {
  const format = (text as { readonly format?: { readonly type?: unknown } | null } | null | undefined)?.format
  return format?.type === "json_schema" || format?.type === "json_object"
}

/**
 * How a turn's response is projected, from the parameters recorded with it: the live
 * stream, its JSON twin and every later read use this one definition.
 */
export const responseContextOf = (
  sessionId: string,
  projectId: string,
  parameters: Readonly<Record<string, unknown>>
): ResponseContext => ({
  sessionId,
  projectId,
  structured: isStructured(parameters.text),
  echo: {
    instructions: stringOrNull(parameters.instructions),
    max_output_tokens: numberOrNull(parameters.max_output_tokens),
    metadata: (parameters.metadata ?? {}) as Record<string, string>,
    parallel_tool_calls: parameters.parallel_tool_calls !== false,
    previous_response_id: stringOrNull(parameters.previous_response_id),
    reasoning: orNull(parameters.reasoning),
    store: isStored(parameters),
    temperature: numberOrNull(parameters.temperature),
    text: parameters.text ?? { format: { type: "text" } },
    tool_choice: parameters.tool_choice ?? "auto",
    tools: Array.isArray(parameters.tools) ? parameters.tools : [],
    top_p: numberOrNull(parameters.top_p),
    truncation: stringOrNull(parameters.truncation) ?? "disabled",
    user: stringOrNull(parameters.user)
  }
})
