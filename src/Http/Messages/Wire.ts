/**
 * Anthropic's Messages API wire format: the request (every field of Anthropic's schema is
 * accepted; see the README for which are honoured), the message, and its stream events.
 * Transport only: nothing here knows about sessions or the CLI.
 */
import { Schema } from "effect"
import { EndUser, ModelName } from "../Limits.js"

// ---------------------------------------------------------------------------
// Request

const Base64Source = Schema.Struct({ type: Schema.Literal("base64"), media_type: Schema.String, data: Schema.String })
const UrlSource = Schema.Struct({ type: Schema.Literal("url"), url: Schema.String })

export const TextBlockParam = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })
export const ImageBlockParam = Schema.Struct({
  type: Schema.Literal("image"),
  source: Schema.Union(Base64Source, UrlSource, Schema.Struct({ type: Schema.String }))
})
export const ToolUseBlockParam = Schema.Struct({
  type: Schema.Literal("tool_use"),
  id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
})
const OtherBlockParam = Schema.Struct({ type: Schema.String })
export const ToolResultBlockParam = Schema.Struct({
  type: Schema.Literal("tool_result"),
  tool_use_id: Schema.String,
  content: Schema.optional(
    Schema.Union(Schema.String, Schema.Array(Schema.Union(TextBlockParam, ImageBlockParam, OtherBlockParam)))
  ),
  is_error: Schema.optional(Schema.Boolean)
})
export const ThinkingBlockParam = Schema.Struct({
  type: Schema.Literal("thinking", "redacted_thinking"),
  thinking: Schema.optional(Schema.String),
  signature: Schema.optional(Schema.String),
  data: Schema.optional(Schema.String)
})

export const ContentBlockParam = Schema.Union(
  TextBlockParam,
  ImageBlockParam,
  ToolUseBlockParam,
  ToolResultBlockParam,
  ThinkingBlockParam,
  OtherBlockParam.annotations({ description: "document, search_result and other block types answer 400" })
)
export type ContentBlockParam = typeof ContentBlockParam.Type

export const MessageParam = Schema.Struct({
  role: Schema.Literal("user", "assistant", "system").annotations({
    description:
      "system messages between the others (as Claude Code sends them) are context for the nearest user message"
  }),
  content: Schema.Union(Schema.String, Schema.Array(ContentBlockParam))
})
export type MessageParam = typeof MessageParam.Type

export const ToolParam = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  input_schema: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  type: Schema.optional(Schema.NullOr(Schema.String)).annotations({
    description: "custom (or absent) for the client's own tools; Anthropic's server tools answer 400"
  })
})
export type ToolParam = typeof ToolParam.Type

export const ToolChoiceParam = Schema.Struct({
  type: Schema.Literal("auto", "any", "tool", "none"),
  name: Schema.optional(Schema.String),
  disable_parallel_tool_use: Schema.optional(Schema.Boolean)
})

const PositiveInt = Schema.Int.pipe(Schema.positive())

export const MessagesRequest = Schema.Struct({
  model: ModelName,
  max_tokens: Schema.optional(PositiveInt),
  messages: Schema.Array(MessageParam).pipe(
    Schema.minItems(1, { message: () => "empty array: expected at least one message" })
  ),
  system: Schema.optional(Schema.Union(Schema.String, Schema.Array(TextBlockParam))),
  stop_sequences: Schema.optional(Schema.Array(Schema.String)),
  stream: Schema.optional(Schema.Boolean),
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  top_p: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  top_k: Schema.optional(PositiveInt),
  metadata: Schema.optional(Schema.Struct({ user_id: Schema.optional(Schema.NullOr(EndUser)) })),
  tools: Schema.optional(Schema.Array(ToolParam)),
  tool_choice: Schema.optional(ToolChoiceParam),
  thinking: Schema.optional(Schema.Unknown),
  service_tier: Schema.optional(Schema.String)
}).annotations({ identifier: "MessagesRequest" })
export type MessagesRequest = typeof MessagesRequest.Type

// ---------------------------------------------------------------------------
// Responses

export const AnthropicUsage = Schema.Struct({
  input_tokens: Schema.Number,
  output_tokens: Schema.Number,
  cache_creation_input_tokens: Schema.Number,
  cache_read_input_tokens: Schema.Number
}).annotations({ identifier: "AnthropicUsage" })
export type AnthropicUsage = typeof AnthropicUsage.Type

export const ContentBlock = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("thinking"), thinking: Schema.String, signature: Schema.String }),
  Schema.Struct({ type: Schema.Literal("tool_use"), id: Schema.String, name: Schema.String, input: Schema.Unknown })
).annotations({ identifier: "AnthropicContentBlock" })
export type ContentBlock = typeof ContentBlock.Type

export const AnthropicMessage = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("message"),
  role: Schema.Literal("assistant"),
  model: Schema.String,
  content: Schema.Array(ContentBlock),
  stop_reason: Schema.NullOr(Schema.String),
  stop_sequence: Schema.NullOr(Schema.String),
  usage: AnthropicUsage
}).annotations({ identifier: "AnthropicMessage" })
export type AnthropicMessage = typeof AnthropicMessage.Type

export const TokenCount = Schema.Struct({ input_tokens: Schema.Number }).annotations({
  identifier: "AnthropicTokenCount"
})
