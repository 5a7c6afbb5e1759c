/**
 * The Claude Code CLI's `stream-json` output, one line at a time, as a typed union.
 *
 * Decoding is tolerant by construction: unknown fields are ignored, and a line whose
 * `type` (or shape) is not one we model becomes `CliUnknown` instead of failing, so a
 * newer CLI that adds line types never breaks a turn.
 */
import { Either, Schema } from "effect"

const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))
const OptionalString = Schema.optional(Schema.NullOr(Schema.String))

/** Token usage as the CLI reports it (summed over a turn's API calls on `result`). */
export const CliUsage = Schema.Struct({
  input_tokens: OptionalNumber,
  output_tokens: OptionalNumber,
  cache_creation_input_tokens: OptionalNumber,
  cache_read_input_tokens: OptionalNumber
})
export type CliUsage = typeof CliUsage.Type

// ---------------------------------------------------------------------------
// Content blocks (assistant and user messages)

export const CliTextBlock = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })
export const CliThinkingBlock = Schema.Struct({
  type: Schema.Literal("thinking"),
  thinking: Schema.String,
  signature: Schema.optional(Schema.String)
})
export const CliToolUseBlock = Schema.Struct({
  type: Schema.Literal("tool_use"),
  id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
})
export const CliToolResultBlock = Schema.Struct({
  type: Schema.Literal("tool_result"),
  tool_use_id: Schema.String,
  content: Schema.optional(Schema.Unknown),
  is_error: Schema.optional(Schema.NullOr(Schema.Boolean))
})
export const CliOtherBlock = Schema.Struct({ type: Schema.String })

export const CliContentBlock = Schema.Union(
  CliTextBlock,
  CliThinkingBlock,
  CliToolUseBlock,
  CliToolResultBlock,
  CliOtherBlock
)
export type CliContentBlock = typeof CliContentBlock.Type

// ---------------------------------------------------------------------------
// Raw Anthropic streaming events, forwarded by `--include-partial-messages`

export const AnthropicMessageStart = Schema.Struct({
  type: Schema.Literal("message_start"),
  message: Schema.Struct({ id: Schema.String, model: Schema.optional(Schema.String), usage: Schema.optional(CliUsage) })
})
export const AnthropicContentBlockStart = Schema.Struct({
  type: Schema.Literal("content_block_start"),
  index: Schema.Number,
  content_block: CliContentBlock
})
export const AnthropicDelta = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text_delta"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("thinking_delta"), thinking: Schema.String }),
  Schema.Struct({ type: Schema.Literal("input_json_delta"), partial_json: Schema.String }),
  Schema.Struct({ type: Schema.String })
)
export const AnthropicContentBlockDelta = Schema.Struct({
  type: Schema.Literal("content_block_delta"),
  index: Schema.Number,
  delta: AnthropicDelta
})
export const AnthropicContentBlockStop = Schema.Struct({
  type: Schema.Literal("content_block_stop"),
  index: Schema.Number
})
export const AnthropicMessageDelta = Schema.Struct({
  type: Schema.Literal("message_delta"),
  delta: Schema.Struct({ stop_reason: OptionalString }),
  usage: Schema.optional(CliUsage)
})
export const AnthropicOtherEvent = Schema.Struct({ type: Schema.String })

export const AnthropicStreamEvent = Schema.Union(
  AnthropicMessageStart,
  AnthropicContentBlockStart,
  AnthropicContentBlockDelta,
  AnthropicContentBlockStop,
  AnthropicMessageDelta,
  AnthropicOtherEvent
)
export type AnthropicStreamEvent = typeof AnthropicStreamEvent.Type

// ---------------------------------------------------------------------------
// Lines

const lineCommon = {
  session_id: Schema.optional(Schema.String),
  uuid: Schema.optional(Schema.String),
  parent_tool_use_id: OptionalString
}

/** First line of every turn: the resolved model, cwd and the CLI's session id. */
export const CliInit = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("init"),
  ...lineCommon,
  session_id: Schema.String,
  model: Schema.String,
  cwd: Schema.optional(Schema.String),
  permissionMode: Schema.optional(Schema.String),
  claude_code_version: Schema.optional(Schema.String),
  tools: Schema.optional(Schema.Array(Schema.String))
})
export type CliInit = typeof CliInit.Type

/** The CLI is about to retry an upstream call. */
export const CliApiRetry = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("api_retry"),
  ...lineCommon,
  attempt: Schema.Number,
  max_retries: Schema.optional(Schema.Number),
  retry_delay_ms: Schema.optional(Schema.Number),
  error_status: OptionalNumber,
  error: Schema.optional(Schema.String)
})
export type CliApiRetry = typeof CliApiRetry.Type

/** The CLI switched to its `--fallback-model`. */
export const CliModelFallback = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("model_fallback"),
  ...lineCommon,
  trigger: Schema.optional(Schema.String),
  original_model: Schema.String,
  fallback_model: Schema.String
})
export type CliModelFallback = typeof CliModelFallback.Type

const modelledSystemSubtypes: ReadonlyArray<string> = ["init", "api_retry", "model_fallback"]

/**
 * Any other `system` line (`status`, `thinking_tokens`, …). It must refuse the modelled
 * subtypes: a union tries members by their literal fields, not in order, and would
 * otherwise take an `api_retry` line here and drop its fields.
 */
export const CliSystemOther = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.String.pipe(Schema.filter((subtype) => !modelledSystemSubtypes.includes(subtype))),
  ...lineCommon
})

export const CliStreamEvent = Schema.Struct({
  type: Schema.Literal("stream_event"),
  ...lineCommon,
  event: AnthropicStreamEvent
})
export type CliStreamEvent = typeof CliStreamEvent.Type

/** One content block of an assistant message; `error` marks the CLI's synthetic error messages. */
export const CliAssistant = Schema.Struct({
  type: Schema.Literal("assistant"),
  ...lineCommon,
  message: Schema.Struct({
    id: Schema.String,
    model: Schema.optional(Schema.String),
    content: Schema.Array(CliContentBlock),
    usage: Schema.optional(CliUsage),
    /** Set only when the answer came whole (a non-streaming retry); streamed answers print none. */
    stop_reason: OptionalString
  }),
  error: Schema.optional(Schema.String)
})
export type CliAssistant = typeof CliAssistant.Type

/** Tool results, replays and interruption markers. */
export const CliUser = Schema.Struct({
  type: Schema.Literal("user"),
  ...lineCommon,
  message: Schema.Struct({
    role: Schema.optional(Schema.String),
    content: Schema.Union(Schema.String, Schema.Array(CliContentBlock))
  }),
  isReplay: Schema.optional(Schema.Boolean)
})
export type CliUser = typeof CliUser.Type

/** Last line of every turn. `is_error` (not `subtype`) tells success from failure. */
export const CliResult = Schema.Struct({
  type: Schema.Literal("result"),
  ...lineCommon,
  subtype: Schema.String,
  is_error: Schema.Boolean,
  api_error_status: OptionalNumber,
  result: Schema.optional(Schema.String),
  stop_reason: OptionalString,
  total_cost_usd: OptionalNumber,
  duration_ms: OptionalNumber,
  num_turns: OptionalNumber,
  usage: Schema.optional(CliUsage),
  errors: Schema.optional(Schema.Array(Schema.String)),
  terminal_reason: Schema.optional(Schema.String),
  structured_output: Schema.optional(Schema.Unknown)
})
export type CliResult = typeof CliResult.Type

/** Answer to a control request written on stdin (`interrupt`, `set_model`). */
export const CliControlResponse = Schema.Struct({
  type: Schema.Literal("control_response"),
  response: Schema.Struct({
    subtype: Schema.String,
    request_id: Schema.optional(Schema.String),
    error: Schema.optional(Schema.String)
  })
})
export type CliControlResponse = typeof CliControlResponse.Type

/** A request the CLI makes of its host (`mcp_message` for the gateway's tool server, …); it must be answered. */
export const CliControlRequest = Schema.Struct({
  type: Schema.Literal("control_request"),
  request_id: Schema.String,
  request: Schema.Struct({
    subtype: Schema.String,
    server_name: Schema.optional(Schema.String),
    message: Schema.optional(Schema.Unknown)
  })
})
export type CliControlRequest = typeof CliControlRequest.Type

/** The CLI withdraws a control request it made. */
export const CliControlCancel = Schema.Struct({
  type: Schema.Literal("control_cancel_request"),
  request_id: Schema.String
})
export type CliControlCancel = typeof CliControlCancel.Type

/** A line we do not model (or could not decode); kept whole for diagnostics. */
export interface CliUnknown {
  readonly type: "unknown"
  readonly lineType: string
  readonly raw: string
}

const KnownCliEvent = Schema.Union(
  CliInit,
  CliApiRetry,
  CliModelFallback,
  CliSystemOther,
  CliStreamEvent,
  CliAssistant,
  CliUser,
  CliResult,
  CliControlResponse,
  CliControlRequest,
  CliControlCancel
)

export type CliEvent = typeof KnownCliEvent.Type | CliUnknown

const decodeKnown = Schema.decodeUnknownEither(KnownCliEvent)

/** Decodes one stdout line. Never fails: anything unrecognised becomes `CliUnknown`. */
export const decodeCliLine = (line: string): CliEvent => {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return { type: "unknown", lineType: "unparsable", raw: line }
  }
  return Either.getOrElse(decodeKnown(json), (): CliEvent => ({
    type: "unknown",
    lineType: typeof json === "object" && json !== null && typeof (json as { type?: unknown }).type === "string"
      ? (json as { type: string }).type
      : "unknown",
    raw: line
  }))
}

export const isInit = (event: CliEvent): event is CliInit => event.type === "system" && event.subtype === "init"
export const isApiRetry = (event: CliEvent): event is CliApiRetry =>
  event.type === "system" && event.subtype === "api_retry"
export const isModelFallback = (event: CliEvent): event is CliModelFallback =>
  event.type === "system" && event.subtype === "model_fallback"
export const isControlFrame = (event: CliEvent): event is CliControlRequest | CliControlCancel =>
  event.type === "control_request" || event.type === "control_cancel_request"
