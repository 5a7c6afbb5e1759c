/**
 * The messages group's endpoints: Anthropic's Messages API (JSON or SSE) and its token count,
 * answering in Anthropic's shapes and error envelope.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { AnthropicMessage, MessagesRequest, TokenCount } from "./Wire.js"

export class MessagesApi extends HttpApiGroup.make("messages")
  .add(
    HttpApiEndpoint.post("createMessage", "/v1/messages")
      .setPayload(MessagesRequest)
      .addSuccess(AnthropicMessage)
      .annotate(OpenApi.Summary, "Create a message (Anthropic's Messages API; JSON or SSE)")
      .annotate(
        OpenApi.Description,
        "Anthropic-compatible. Runs one turn of Claude Code on the same sessions as chat completions. With `stream: true`, Anthropic's event stream (`message_start`, content blocks, `message_delta`, `message_stop`, `ping` during silences). Errors use Anthropic's envelope `{\"type\": \"error\", \"error\": {\"type\", \"message\"}}`. `X-Session-ID` and `X-Project-ID` headers name the session."
      )
  )
  .add(
    HttpApiEndpoint.post("countMessageTokens", "/v1/messages/count_tokens")
      .setPayload(MessagesRequest)
      .addSuccess(TokenCount)
      .annotate(OpenApi.Summary, "Estimate the input tokens of a message request")
      .annotate(
        OpenApi.Description,
        "An estimate (about four characters per token over the system prompt, messages and tools): Claude Code offers no way to count tokens without running a turn."
      )
  )
{}
