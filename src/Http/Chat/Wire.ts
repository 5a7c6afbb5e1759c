/**
 * OpenAI's chat completions wire format: the request (every field of OpenAI's schema is
 * accepted; see the README for which are honoured), the completion and its chunks.
 * Transport only: nothing here knows about sessions or the CLI.
 */
import { Schema } from "effect"
import { EndUser, Id, Metadata, ModelName } from "../Limits.js"
import { toolNamePattern } from "../ToolDefinitions.js"

// ---------------------------------------------------------------------------
// Request

const TextContentPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })
const ImageContentPart = Schema.Struct({
  type: Schema.Literal("image_url"),
  image_url: Schema.Struct({
    url: Schema.String,
    detail: Schema.optional(Schema.Literal("auto", "low", "high"))
  })
})
const RefusalContentPart = Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String })
const OtherContentPart = Schema.Struct({ type: Schema.String }).annotations({
  description:
    "input_audio, file and other part types are not supported and answer 400 (a refusal only in assistant messages)"
})
export const ContentPart = Schema.Union(TextContentPart, ImageContentPart, RefusalContentPart, OtherContentPart)
export type ContentPart = typeof ContentPart.Type

const MessageContent = Schema.NullOr(Schema.Union(Schema.String, Schema.Array(ContentPart)))

/** A function call as OpenAI spells it: the function's name and its arguments as JSON text. */
const FunctionCall = Schema.Struct({ name: Schema.String, arguments: Schema.String })

/** A call of one of the client's tools, in an assistant message of the history. */
const MessageToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.optional(Schema.String),
  function: FunctionCall
})

export const ChatMessage = Schema.Struct({
  role: Schema.Literal("system", "developer", "user", "assistant", "tool", "function"),
  content: Schema.optional(MessageContent),
  name: Schema.optional(Schema.String),
  tool_calls: Schema.optional(Schema.NullOr(Schema.Array(MessageToolCall))),
  function_call: Schema.optional(Schema.NullOr(FunctionCall)).annotations({
    description: "Deprecated: an assistant's call of a legacy function (its result follows as a function message)"
  }),
  tool_call_id: Schema.optional(Schema.String),
  is_error: Schema.optional(Schema.NullOr(Schema.Boolean)).annotations({
    description: "Extension: in a tool message, the tool failed and the content is its error"
  }),
  refusal: Schema.optional(Schema.NullOr(Schema.String))
})
export type ChatMessage = typeof ChatMessage.Type

/** The name of a client's function: what OpenAI allows, and what Claude Code can offer the model. */
const FunctionName = Schema.String.pipe(
  Schema.pattern(toolNamePattern, {
    message: () => "a function name is 1 to 64 letters, digits, underscores or dashes"
  })
)

/** A function the client offers the model (`tools[].function`, or an item of legacy `functions`). */
export const FunctionDefinition = Schema.Struct({
  name: FunctionName,
  description: Schema.optional(Schema.NullOr(Schema.String)),
  parameters: Schema.optional(Schema.NullOr(
    Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
      message: () => "expected a JSON Schema object"
    })
  )).annotations({
    description: "A JSON Schema with type object and no top-level anyOf, oneOf or allOf; absent means no arguments"
  }),
  strict: Schema.optional(Schema.NullOr(Schema.Boolean)).annotations({
    description: "Accepted; Claude Code cannot enforce it"
  })
}).annotations({ identifier: "FunctionDefinition" })
export type FunctionDefinition = typeof FunctionDefinition.Type

/** A tool of the request; only function tools are supported. */
export const ChatTool = Schema.Struct({
  type: Schema.String.annotations({ description: "function (other tool types answer 400)" }),
  function: Schema.optional(FunctionDefinition)
}).annotations({ identifier: "ChatCompletionTool" })
export type ChatTool = typeof ChatTool.Type

const Probability = Schema.Number.pipe(Schema.between(0, 2))
const Penalty = Schema.Number.pipe(Schema.between(-2, 2))
const PositiveInt = Schema.Int.pipe(Schema.positive())

export const ChatCompletionRequest = Schema.Struct({
  model: Schema.optional(Schema.NullOr(ModelName)),
  messages: Schema.Array(ChatMessage).pipe(
    Schema.minItems(1, { message: () => "empty array: expected at least one message" })
  ),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({
    include_usage: Schema.optional(Schema.Boolean),
    include_obfuscation: Schema.optional(Schema.Boolean)
  }))),
  n: Schema.optional(Schema.NullOr(PositiveInt)),
  stop: Schema.optional(
    Schema.NullOr(Schema.Union(Schema.String, Schema.Array(Schema.String).pipe(Schema.maxItems(4))))
  ),
  temperature: Schema.optional(Schema.NullOr(Probability)),
  top_p: Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.between(0, 1)))),
  max_tokens: Schema.optional(Schema.NullOr(PositiveInt)),
  max_completion_tokens: Schema.optional(Schema.NullOr(PositiveInt)),
  presence_penalty: Schema.optional(Schema.NullOr(Penalty)),
  frequency_penalty: Schema.optional(Schema.NullOr(Penalty)),
  logit_bias: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Number }))),
  logprobs: Schema.optional(Schema.NullOr(Schema.Boolean)),
  top_logprobs: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.between(0, 20)))),
  seed: Schema.optional(Schema.NullOr(Schema.Int)),
  user: Schema.optional(EndUser),
  tools: Schema.optional(Schema.NullOr(Schema.Array(ChatTool))).annotations({
    description: "The client's functions the model may call; the client runs them and sends their results back"
  }),
  tool_choice: Schema.optional(Schema.NullOr(Schema.Unknown)).annotations({
    description:
      "none, auto (default), required, or {type: function, function: {name}}; best effort, as Claude Code cannot force a call"
  }),
  parallel_tool_calls: Schema.optional(Schema.NullOr(Schema.Boolean)).annotations({
    description: "Whether the model may call several tools in one answer (default true); best effort"
  }),
  functions: Schema.optional(Schema.NullOr(Schema.Array(FunctionDefinition))).annotations({
    description: "Deprecated form of tools: calls are answered as function_call, one per answer"
  }),
  function_call: Schema.optional(Schema.NullOr(Schema.Unknown)).annotations({
    description: "Deprecated form of tool_choice: none, auto or {name}"
  }),
  response_format: Schema.optional(Schema.NullOr(Schema.Struct({
    type: Schema.Literal("text", "json_object", "json_schema"),
    json_schema: Schema.optional(Schema.Struct({
      name: Schema.optional(Schema.String),
      description: Schema.optional(Schema.String),
      schema: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
      strict: Schema.optional(Schema.NullOr(Schema.Boolean))
    }))
  }))),
  reasoning_effort: Schema.optional(Schema.NullOr(Schema.String)),
  verbosity: Schema.optional(Schema.NullOr(Schema.String)),
  service_tier: Schema.optional(Schema.NullOr(Schema.String)),
  store: Schema.optional(Schema.NullOr(Schema.Boolean)),
  metadata: Schema.optional(Schema.NullOr(Metadata)),
  modalities: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  audio: Schema.optional(Schema.NullOr(Schema.Unknown)),
  prediction: Schema.optional(Schema.NullOr(Schema.Unknown)),
  web_search_options: Schema.optional(Schema.NullOr(Schema.Unknown)),
  prompt_cache_key: Schema.optional(Schema.NullOr(Schema.String)),
  safety_identifier: Schema.optional(Schema.NullOr(Schema.String)),
  // Extensions (seed parity)
  session_id: Schema.optional(Schema.NullOr(Id)).annotations({
    description: "Extension: continue this gateway session"
  }),
  project_id: Schema.optional(Schema.NullOr(Schema.String)).annotations({
    description: "Extension: run the turn in this project's directory under PROJECT_ROOT"
  }),
  system_prompt: Schema.optional(Schema.NullOr(Schema.String)).annotations({
    description: "Extension: the system prompt, when the request has no system or developer message"
  })
}).annotations({ identifier: "ChatCompletionRequest" })
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

// ---------------------------------------------------------------------------
// Responses

export const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number,
  prompt_tokens_details: Schema.Struct({ cached_tokens: Schema.Number }),
  completion_tokens_details: Schema.Struct({ reasoning_tokens: Schema.Number }),
  cost_usd: Schema.optional(Schema.NullOr(Schema.Number)).annotations({
    description: "Extension: the turn's cost as Claude Code computed it"
  })
}).annotations({ identifier: "CompletionUsage" })
export type Usage = typeof Usage.Type

/** One of Claude Code's own tool uses, reported for information only (never an OpenAI tool call). */
export const ClaudeCodeToolUse = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown,
  output: Schema.NullOr(Schema.String),
  is_error: Schema.Boolean
}).annotations({ identifier: "ClaudeCodeToolUse" })
export type ClaudeCodeToolUse = typeof ClaudeCodeToolUse.Type

export const FinishReason = Schema.Literal("stop", "length", "content_filter", "tool_calls", "function_call")
export type FinishReason = typeof FinishReason.Type

/** A call of one of the client's tools: the client runs it and sends the result in a tool message. */
export const ChatToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("function"),
  function: FunctionCall
}).annotations({ identifier: "ChatCompletionMessageToolCall" })
export type ChatToolCall = typeof ChatToolCall.Type

/** A piece of a streamed tool call: the first names it (`id`, `type`, `function.name`), the rest add arguments. */
export const ChatToolCallDelta = Schema.Struct({
  index: Schema.Number,
  id: Schema.optional(Schema.String),
  type: Schema.optional(Schema.Literal("function")),
  function: Schema.Struct({ name: Schema.optional(Schema.String), arguments: Schema.optional(Schema.String) })
}).annotations({ identifier: "ChatCompletionChunkToolCall" })
export type ChatToolCallDelta = typeof ChatToolCallDelta.Type

export const ChatCompletion = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    message: Schema.Struct({
      role: Schema.Literal("assistant"),
      content: Schema.NullOr(Schema.String).annotations({
        description: "The answer's text; null when the model only called tools"
      }),
      refusal: Schema.Null,
      reasoning_content: Schema.optional(Schema.String).annotations({
        description: "Extension: the model's visible thinking, when there was any"
      }),
      claude_code_tool_uses: Schema.optional(Schema.Array(ClaudeCodeToolUse)).annotations({
        description: "Extension: tools Claude Code ran itself during the turn; informational, never to be executed"
      }),
      tool_calls: Schema.optional(Schema.Array(ChatToolCall)),
      function_call: Schema.optional(FunctionCall).annotations({
        description: "Deprecated: the call of a request that offered legacy functions"
      })
    }),
    logprobs: Schema.Null,
    finish_reason: FinishReason
  })),
  usage: Usage,
  system_fingerprint: Schema.Null,
  session_id: Schema.String,
  project_id: Schema.String
}).annotations({ identifier: "ChatCompletion" })
export type ChatCompletion = typeof ChatCompletion.Type

export const ChatCompletionChunk = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion.chunk"),
  created: Schema.Number,
  model: Schema.String,
  system_fingerprint: Schema.Null,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    delta: Schema.Struct({
      role: Schema.optional(Schema.Literal("assistant")),
      content: Schema.optional(Schema.String),
      reasoning_content: Schema.optional(Schema.String),
      claude_code_tool_use: Schema.optional(Schema.Struct({
        id: Schema.String,
        name: Schema.String,
        input: Schema.Unknown
      })),
      claude_code_tool_result: Schema.optional(Schema.Struct({
        id: Schema.String,
        output: Schema.String,
        is_error: Schema.Boolean
      })),
      tool_calls: Schema.optional(Schema.Array(ChatToolCallDelta)),
      function_call: Schema.optional(
        Schema.Struct({ name: Schema.optional(Schema.String), arguments: Schema.optional(Schema.String) })
      ).annotations({ description: "Deprecated: the call of a request that offered legacy functions" })
    }),
    logprobs: Schema.Null,
    finish_reason: Schema.NullOr(FinishReason)
  })),
  usage: Schema.optional(Usage)
}).annotations({ identifier: "ChatCompletionChunk" })
export type ChatCompletionChunk = typeof ChatCompletionChunk.Type
