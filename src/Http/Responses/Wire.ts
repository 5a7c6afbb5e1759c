/**
 * OpenAI's Responses API wire format: the request (every field of OpenAI's schema is
 * accepted; see the README for which are honoured), its input items and tools, the
 * `response` object with its output items, and the stream events. Transport only: nothing
 * here knows about sessions or the CLI.
 */
import { Schema } from "effect"
import { EndUser, Id, Metadata, ModelName } from "../Limits.js"

// ---------------------------------------------------------------------------
// Request: input items (each decoded on its own, so a 400 names `input[i]…`)

const InputTextPart = Schema.Struct({ type: Schema.Literal("input_text"), text: Schema.String })
const InputImagePart = Schema.Struct({
  type: Schema.Literal("input_image"),
  image_url: Schema.optional(Schema.NullOr(Schema.String)),
  file_id: Schema.optional(Schema.NullOr(Schema.String)),
  detail: Schema.optional(Schema.NullOr(Schema.String))
})
const OutputTextPart = Schema.Struct({ type: Schema.Literal("output_text"), text: Schema.String })
const RefusalPart = Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String })
const OtherPart = Schema.Struct({ type: Schema.String }).annotations({
  description: "input_file, input_audio and other part types are not supported and answer 400"
})

/** A part of a message's content, or of a function call's output. */
export const InputContentPart = Schema.Union(InputTextPart, InputImagePart, OutputTextPart, RefusalPart, OtherPart)
export type InputContentPart = typeof InputContentPart.Type

const InputContent = Schema.Union(Schema.String, Schema.Array(InputContentPart))

/** A message: `{role, content}`, with or without `type: "message"`. */
export const MessageItem = Schema.Struct({
  type: Schema.optional(Schema.Literal("message")),
  id: Schema.optional(Schema.NullOr(Schema.String)),
  role: Schema.Literal("user", "assistant", "system", "developer"),
  content: InputContent,
  status: Schema.optional(Schema.NullOr(Schema.String))
}).annotations({ identifier: "ResponseInputMessage" })
export type MessageItem = typeof MessageItem.Type

/** A call of one of the client's functions, from an earlier answer. */
export const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  id: Schema.optional(Schema.NullOr(Schema.String)),
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  status: Schema.optional(Schema.NullOr(Schema.String))
}).annotations({ identifier: "ResponseInputFunctionCall" })
export type FunctionCallItem = typeof FunctionCallItem.Type

/** The client's result of a function call. */
export const FunctionCallOutputItem = Schema.Struct({
  type: Schema.Literal("function_call_output"),
  id: Schema.optional(Schema.NullOr(Schema.String)),
  call_id: Schema.String,
  output: InputContent,
  status: Schema.optional(Schema.NullOr(Schema.String))
}).annotations({ identifier: "ResponseInputFunctionCallOutput" })
export type FunctionCallOutputItem = typeof FunctionCallOutputItem.Type

/** An earlier answer's reasoning, sent back by Codex: accepted and ignored. */
export const ReasoningInputItem = Schema.Struct({
  type: Schema.Literal("reasoning"),
  id: Schema.optional(Schema.NullOr(Schema.String)),
  summary: Schema.optional(Schema.Unknown),
  encrypted_content: Schema.optional(Schema.Unknown)
}).annotations({ identifier: "ResponseInputReasoning" })

/** An output item of an earlier stored response, by its id (the AI SDK sends these). */
export const ItemReference = Schema.Struct({
  type: Schema.Literal("item_reference"),
  id: Schema.String
}).annotations({ identifier: "ResponseItemReference" })
export type ItemReference = typeof ItemReference.Type

/** Every input item the gateway takes (other types answer 400). */
export const ResponseInputItem = Schema.Union(
  MessageItem,
  FunctionCallItem,
  FunctionCallOutputItem,
  ReasoningInputItem,
  ItemReference
).annotations({ identifier: "ResponseInputItem" })

// ---------------------------------------------------------------------------
// Request: tools and the request itself

/** A function the client offers the model. Other tool types are accepted and left out. */
export const FunctionTool = Schema.Struct({
  type: Schema.Literal("function"),
  name: Schema.String,
  description: Schema.optional(Schema.NullOr(Schema.String)),
  parameters: Schema.optional(Schema.NullOr(
    Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
      message: () => "expected a JSON Schema object"
    })
  )),
  strict: Schema.optional(Schema.NullOr(Schema.Boolean))
}).annotations({ identifier: "ResponseFunctionTool" })
export type FunctionTool = typeof FunctionTool.Type

/** `text.format`: plain text (default), any JSON object, or JSON following a schema. */
export const TextFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    name: Schema.optional(Schema.String),
    description: Schema.optional(Schema.NullOr(Schema.String)),
    schema: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    strict: Schema.optional(Schema.NullOr(Schema.Boolean))
  })
)

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const ResponsesRequest = Schema.Struct({
  model: Schema.optional(Schema.NullOr(ModelName)),
  input: Schema.Union(Schema.String, Schema.Array(JsonObject)).annotations({
    description:
      "A string (one user message), or input items: message, function_call, function_call_output, reasoning (ignored), item_reference (see ResponseInputItem)"
  }),
  instructions: Schema.optional(Schema.NullOr(Schema.String)),
  tools: Schema.optional(Schema.NullOr(Schema.Array(JsonObject))).annotations({
    description:
      "Function tools (ResponseFunctionTool) are offered to the model; other tool types (custom, web_search, local_shell, …) are left out"
  }),
  tool_choice: Schema.optional(Schema.NullOr(Schema.Unknown)).annotations({
    description: "none, auto (default), required, or {type: function, name}; best effort"
  }),
  parallel_tool_calls: Schema.optional(Schema.NullOr(Schema.Boolean)),
  text: Schema.optional(Schema.NullOr(Schema.Struct({
    format: Schema.optional(Schema.NullOr(TextFormat)),
    verbosity: Schema.optional(Schema.NullOr(Schema.String))
  }))),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Unknown)),
  store: Schema.optional(Schema.NullOr(Schema.Boolean)),
  metadata: Schema.optional(Schema.NullOr(Metadata)),
  previous_response_id: Schema.optional(Schema.NullOr(Id)),
  background: Schema.optional(Schema.NullOr(Schema.Boolean)),
  conversation: Schema.optional(Schema.NullOr(Schema.Unknown)),
  reasoning: Schema.optional(Schema.NullOr(Schema.Unknown)),
  include: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  max_output_tokens: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.positive()))),
  max_tool_calls: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.positive()))),
  temperature: Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.between(0, 2)))),
  top_p: Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.between(0, 1)))),
  top_logprobs: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.between(0, 20)))),
  truncation: Schema.optional(Schema.NullOr(Schema.String)),
  user: Schema.optional(Schema.NullOr(EndUser)),
  service_tier: Schema.optional(Schema.NullOr(Schema.String)),
  prompt: Schema.optional(Schema.NullOr(Schema.Unknown)),
  prompt_cache_key: Schema.optional(Schema.NullOr(Schema.String)),
  safety_identifier: Schema.optional(Schema.NullOr(Schema.String)),
  // Extensions, as on chat completions
  session_id: Schema.optional(Schema.NullOr(Id)).annotations({
    description: "Extension: continue this gateway session"
  }),
  project_id: Schema.optional(Schema.NullOr(Schema.String)).annotations({
    description: "Extension: run the turn in this project's directory under PROJECT_ROOT"
  })
}).annotations({ identifier: "ResponsesRequest" })
export type ResponsesRequest = typeof ResponsesRequest.Type

// ---------------------------------------------------------------------------
// The response and its output items

export const ItemStatus = Schema.Literal("in_progress", "completed", "incomplete")
export type ItemStatus = typeof ItemStatus.Type

export const OutputText = Schema.Struct({
  type: Schema.Literal("output_text"),
  text: Schema.String,
  annotations: Schema.Array(Schema.Unknown),
  logprobs: Schema.Array(Schema.Unknown)
}).annotations({ identifier: "ResponseOutputText" })
export type OutputText = typeof OutputText.Type

/** The answer's text. */
export const OutputMessage = Schema.Struct({
  type: Schema.Literal("message"),
  id: Schema.String,
  status: ItemStatus,
  role: Schema.Literal("assistant"),
  content: Schema.Array(OutputText)
}).annotations({ identifier: "ResponseOutputMessage" })
export type OutputMessage = typeof OutputMessage.Type

export const SummaryText = Schema.Struct({ type: Schema.Literal("summary_text"), text: Schema.String })
export type SummaryText = typeof SummaryText.Type

/** The model's visible thinking, as a reasoning summary. */
export const ReasoningItem = Schema.Struct({
  type: Schema.Literal("reasoning"),
  id: Schema.String,
  summary: Schema.Array(SummaryText)
}).annotations({ identifier: "ResponseReasoningItem" })
export type ReasoningItem = typeof ReasoningItem.Type

/** A call of one of the client's functions: the client runs it and sends a function_call_output. */
export const FunctionToolCall = Schema.Struct({
  type: Schema.Literal("function_call"),
  id: Schema.String,
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  status: ItemStatus
}).annotations({ identifier: "ResponseFunctionToolCall" })
export type FunctionToolCall = typeof FunctionToolCall.Type

export const OutputItem = Schema.Union(OutputMessage, ReasoningItem, FunctionToolCall)
export type OutputItem = typeof OutputItem.Type

export const ResponseUsage = Schema.Struct({
  input_tokens: Schema.Number,
  input_tokens_details: Schema.Struct({ cached_tokens: Schema.Number }),
  output_tokens: Schema.Number,
  output_tokens_details: Schema.Struct({ reasoning_tokens: Schema.Number }),
  total_tokens: Schema.Number,
  cost_usd: Schema.optional(Schema.NullOr(Schema.Number)).annotations({
    description: "Extension: the turn's cost as Claude Code computed it"
  })
}).annotations({ identifier: "ResponseUsage" })
export type ResponseUsage = typeof ResponseUsage.Type

export const ResponseStatus = Schema.Literal("in_progress", "completed", "incomplete", "failed")
export type ResponseStatus = typeof ResponseStatus.Type

export const ResponseObject = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("response"),
  created_at: Schema.Number,
  status: ResponseStatus,
  background: Schema.Boolean,
  error: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String })),
  incomplete_details: Schema.NullOr(Schema.Struct({ reason: Schema.String })),
  instructions: Schema.NullOr(Schema.String),
  max_output_tokens: Schema.NullOr(Schema.Number),
  metadata: Schema.Record({ key: Schema.String, value: Schema.String }),
  model: Schema.String,
  output: Schema.Array(OutputItem),
  parallel_tool_calls: Schema.Boolean,
  previous_response_id: Schema.NullOr(Schema.String),
  reasoning: Schema.NullOr(Schema.Unknown),
  store: Schema.Boolean,
  temperature: Schema.NullOr(Schema.Number),
  text: Schema.Unknown,
  tool_choice: Schema.Unknown,
  tools: Schema.Array(Schema.Unknown),
  top_p: Schema.NullOr(Schema.Number),
  truncation: Schema.NullOr(Schema.String),
  usage: Schema.NullOr(ResponseUsage),
  user: Schema.NullOr(Schema.String),
  session_id: Schema.String.annotations({ description: "Extension: the gateway session of this response" }),
  project_id: Schema.String.annotations({ description: "Extension: the session's project" })
}).annotations({ identifier: "Response" })
export type ResponseObject = typeof ResponseObject.Type

export const DeletedResponse = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("response"),
  deleted: Schema.Literal(true)
}).annotations({ identifier: "DeletedResponse" })

// ---------------------------------------------------------------------------
// Stream events (SSE `event:` equals `type`; `sequence_number` counts from 0)

const Sequence = { sequence_number: Schema.Number }
const AtItem = { ...Sequence, item_id: Schema.String, output_index: Schema.Number }

const lifecycle = <T extends string>(type: T) =>
  Schema.Struct({ type: Schema.Literal(type), ...Sequence, response: ResponseObject })

export const ResponseLifecycleEvent = Schema.Union(
  lifecycle("response.created"),
  lifecycle("response.in_progress"),
  lifecycle("response.completed"),
  lifecycle("response.incomplete"),
  lifecycle("response.failed")
)

export const OutputItemEvent = Schema.Struct({
  type: Schema.Literal("response.output_item.added", "response.output_item.done"),
  ...Sequence,
  output_index: Schema.Number,
  item: OutputItem
})

export const ContentPartEvent = Schema.Struct({
  type: Schema.Literal("response.content_part.added", "response.content_part.done"),
  ...AtItem,
  content_index: Schema.Number,
  part: OutputText
})

export const OutputTextDeltaEvent = Schema.Struct({
  type: Schema.Literal("response.output_text.delta"),
  ...AtItem,
  content_index: Schema.Number,
  delta: Schema.String,
  logprobs: Schema.Array(Schema.Unknown)
})

export const OutputTextDoneEvent = Schema.Struct({
  type: Schema.Literal("response.output_text.done"),
  ...AtItem,
  content_index: Schema.Number,
  text: Schema.String,
  logprobs: Schema.Array(Schema.Unknown)
})

export const SummaryPartEvent = Schema.Struct({
  type: Schema.Literal("response.reasoning_summary_part.added", "response.reasoning_summary_part.done"),
  ...AtItem,
  summary_index: Schema.Number,
  part: SummaryText
})

export const SummaryTextDeltaEvent = Schema.Struct({
  type: Schema.Literal("response.reasoning_summary_text.delta"),
  ...AtItem,
  summary_index: Schema.Number,
  delta: Schema.String
})

export const SummaryTextDoneEvent = Schema.Struct({
  type: Schema.Literal("response.reasoning_summary_text.done"),
  ...AtItem,
  summary_index: Schema.Number,
  text: Schema.String
})

export const ArgumentsDeltaEvent = Schema.Struct({
  type: Schema.Literal("response.function_call_arguments.delta"),
  ...AtItem,
  delta: Schema.String
})

export const ArgumentsDoneEvent = Schema.Struct({
  type: Schema.Literal("response.function_call_arguments.done"),
  ...AtItem,
  name: Schema.String,
  arguments: Schema.String
})

/** Sent during silent stretches, so that clients with an idle timer (Codex) keep waiting. */
export const KeepAliveEvent = Schema.Struct({ type: Schema.Literal("keepalive"), ...Sequence })

export const ResponseStreamEvent = Schema.Union(
  ResponseLifecycleEvent,
  OutputItemEvent,
  ContentPartEvent,
  OutputTextDeltaEvent,
  OutputTextDoneEvent,
  SummaryPartEvent,
  SummaryTextDeltaEvent,
  SummaryTextDoneEvent,
  ArgumentsDeltaEvent,
  ArgumentsDoneEvent,
  KeepAliveEvent
).annotations({ identifier: "ResponseStreamEvent" })
export type ResponseStreamEvent = typeof ResponseStreamEvent.Type
