/**
 * The chat group's endpoints: OpenAI's chat completions (JSON or SSE), and the gateway's
 * cancel and status routes for a session's running turn.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { documentStreaming } from "../StreamingDocs.js"
import { ChatCompletion, ChatCompletionRequest } from "./Wire.js"

export const SessionPath = Schema.Struct({ session_id: Schema.String })

export const TurnStatus = Schema.Struct({
  session_id: Schema.String,
  object: Schema.Literal("chat.completion.status"),
  status: Schema.Literal("running", "idle", "closed"),
  is_running: Schema.Boolean,
  turn_id: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Schema.Number),
  project_id: Schema.String,
  warm: Schema.Boolean,
  model: Schema.NullOr(Schema.String),
  created_at: Schema.Number,
  updated_at: Schema.Number,
  total_tokens: Schema.Number,
  total_cost: Schema.Number,
  message_count: Schema.Number
}).annotations({ identifier: "TurnStatus" })

export const CancelResult = Schema.Struct({
  session_id: Schema.String,
  object: Schema.Literal("chat.completion.cancellation"),
  cancelled: Schema.Boolean,
  status: Schema.Literal("cancelled", "not_running")
}).annotations({ identifier: "CancelResult" })

/** Adds the SSE variant of the answer to the generated document. */
const streamingDocs = documentStreaming({
  description:
    "A chat.completion (JSON), or with `stream: true` a text/event-stream of chat.completion.chunk objects ending with `data: [DONE]`",
  streamDescription:
    "Server-sent events. Each event is `data: <ChatCompletionChunk JSON>`; an error after the stream started is `data: {\"error\": {...}}`; the stream ends with `data: [DONE]`. Lines starting with `:` are keep-alive comments.",
  eventSchema: "ChatCompletionChunk"
})

export class ChatApi extends HttpApiGroup.make("chat")
  .add(
    HttpApiEndpoint.post("createChatCompletion", "/v1/chat/completions")
      .setPayload(ChatCompletionRequest)
      .addSuccess(ChatCompletion)
      .annotate(OpenApi.Summary, "Create a chat completion (JSON or SSE)")
      .annotate(
        OpenApi.Description,
        "OpenAI-compatible. Runs one turn of Claude Code. Extension fields: `session_id`, `project_id`, `system_prompt` in the request; `session_id`, `project_id`, `usage.cost_usd`, `message.reasoning_content` and `message.claude_code_tool_uses` in the response; `X-Session-ID` and `X-Project-ID` headers."
      )
      .annotateContext(streamingDocs)
  )
  .add(
    HttpApiEndpoint.del("cancelChatCompletion", "/v1/chat/completions/:session_id")
      .setPath(SessionPath)
      .addSuccess(CancelResult)
      .annotate(OpenApi.Summary, "Cancel the session's running turn")
      .annotate(
        OpenApi.Description,
        "Stops the turn: the CLI is interrupted (killed if it does not stop within a second) and a TurnCancelled event records it."
      )
  )
  .add(
    HttpApiEndpoint.get("chatCompletionStatus", "/v1/chat/completions/:session_id/status")
      .setPath(SessionPath)
      .addSuccess(TurnStatus)
      .annotate(OpenApi.Summary, "Whether the session is running a turn, with its totals")
  )
{}
