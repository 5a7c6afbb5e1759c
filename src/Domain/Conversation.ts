/**
 * Provider-neutral conversation content: what a turn is asked, independent of the
 * OpenAI wire format that usually carries it.
 */
import { Schema } from "effect"

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

export const ConversationMessage = Schema.Struct({
  role: Schema.Literal("user", "assistant"),
  content: Schema.Array(ContentPart)
})
export type ConversationMessage = typeof ConversationMessage.Type

/** The plain text of a message's parts (images are left out). */
export const textOf = (parts: ReadonlyArray<ContentPart>): string =>
  parts.flatMap((part) => (part._tag === "text" ? [part.text] : [])).join("")
