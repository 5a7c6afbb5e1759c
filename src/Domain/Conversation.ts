/**
 * Provider-neutral conversation content: what a turn is asked, independent of the
 * OpenAI wire format that usually carries it.
 */
import { Schema } from "effect"
import { ToolCall } from "./Tools.js"

export const TextPart = Schema.TaggedStruct("text", { text: Schema.String })
export type TextPart = typeof TextPart.Type

/** An inline image (base64); remote URLs never reach the domain. */
export const ImagePart = Schema.TaggedStruct("image", {
  mediaType: Schema.String,
  data: Schema.String
})
export type ImagePart = typeof ImagePart.Type

export const ContentPart = Schema.Union(TextPart, ImagePart)
export type ContentPart = typeof ContentPart.Type

/**
 * One message of a conversation. An assistant message may carry calls of the client's tools;
 * a `tool` message is the client's result of one call (`toolCallId`), failed when `isError`.
 */
export const ConversationMessage = Schema.Struct({
  role: Schema.Literal("user", "assistant", "tool"),
  content: Schema.Array(ContentPart),
  toolCalls: Schema.optional(Schema.Array(ToolCall)),
  toolCallId: Schema.optional(Schema.String),
  isError: Schema.optional(Schema.Boolean)
})
export type ConversationMessage = typeof ConversationMessage.Type

/** The plain text of a message's parts (images are left out). */
export const textOf = (parts: ReadonlyArray<ContentPart>): string =>
  parts.flatMap((part) => (part._tag === "text" ? [part.text] : [])).join("")
