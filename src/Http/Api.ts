/**
 * The HTTP API as data: its groups (each defined in its own folder with its resources),
 * the error every endpoint may answer, and documentation. `HttpApiBuilder` serves it and
 * `OpenApi` documents it (`schemas/openapi.json`).
 */
import { HttpApi, OpenApi, OpenApiJsonSchema } from "@effect/platform"
import { gatewayVersion } from "../version.js"
import { ChatApi } from "./Chat/Api.js"
import { ChatCompletionChunk } from "./Chat/Wire.js"
import { AnthropicErrorEnvelope, ErrorEnvelope, HttpError } from "./Edge/Errors.js"
import { MessagesApi } from "./Messages/Api.js"
import { ModelsApi } from "./Models/Api.js"
import { ProjectsApi } from "./Projects/Api.js"
import { ResponsesApi } from "./Responses/Api.js"
import { ResponseStreamEvent } from "./Responses/Wire.js"
import { SessionsApi } from "./Sessions/Api.js"
import { SystemApi } from "./System/Api.js"

export class GatewayApi extends HttpApi.make("claude-code-api")
  .add(ChatApi)
  .add(MessagesApi)
  .add(ResponsesApi)
  .add(SessionsApi)
  .add(ProjectsApi)
  .add(ModelsApi)
  .add(SystemApi)
  .addError(HttpError)
  .annotate(OpenApi.Title, "Claude Code API")
  .annotate(OpenApi.Version, gatewayVersion)
  .annotate(
    OpenApi.Description,
    "OpenAI-compatible API gateway for the Claude Code CLI. Errors use OpenAI's envelope `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`."
  )
  .annotate(OpenApi.Servers, [{ url: "/", description: "this server" }])
  .annotateContext(OpenApi.annotations({
    transform: (spec) => documentErrors(spec)
  }))
{}

/**
 * Every error leaves the gateway as an envelope (the HTTP edge renders `HttpError` that
 * way): OpenAI's, or Anthropic's on the Messages API's routes. The document shows the
 * envelope for error statuses.
 */
const documentErrors = (spec: Record<string, any>): Record<string, any> => {
  const paths: Record<string, any> = {}
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    const envelope = {
      $ref: path.startsWith("/v1/messages")
        ? "#/components/schemas/AnthropicErrorEnvelope"
        : "#/components/schemas/ErrorEnvelope"
    }
    const errorResponse = (description: string) => ({
      description,
      content: { "application/json": { schema: envelope } }
    })
    const methods: Record<string, any> = {}
    for (const [method, operation] of Object.entries(item as Record<string, any>)) {
      const responses: Record<string, any> = {}
      for (const [status, response] of Object.entries((operation as any).responses ?? {})) {
        if (Number(status) < 400 || status === "503" && path === "/health") responses[status] = response
      }
      responses["400"] = errorResponse("Invalid request")
      responses["401"] = errorResponse("Missing or invalid API key")
      responses["404"] = errorResponse("Not found")
      responses["429"] = errorResponse("Rate limited (see Retry-After)")
      responses["500"] = errorResponse("Internal error")
      if (
        path.startsWith("/v1/chat/completions") || path.startsWith("/v1/messages") || path.startsWith("/v1/sessions") ||
        path.startsWith("/v1/projects") || path.startsWith("/v1/responses")
      ) {
        responses["409"] = errorResponse("Session busy")
        responses["502"] = errorResponse("The CLI or the upstream API failed")
        responses["503"] = errorResponse("The CLI is unavailable or the upstream is overloaded")
        responses["504"] = errorResponse("The turn timed out")
      }
      methods[method] = { ...(operation as object), responses }
    }
    paths[path] = methods
  }
  // Decode failures are rendered as envelopes too, so their platform schemas never appear on the wire.
  const { HttpError: _httpError, HttpApiDecodeError: _decode, Issue: _issue, PropertyKey: _key, ...schemas } =
    spec.components?.schemas ?? {}
  const defs: Record<string, any> = {}
  OpenApiJsonSchema.makeWithDefs(ErrorEnvelope, { defs })
  OpenApiJsonSchema.makeWithDefs(AnthropicErrorEnvelope, { defs })
  OpenApiJsonSchema.makeWithDefs(ChatCompletionChunk, { defs })
  OpenApiJsonSchema.makeWithDefs(ResponseStreamEvent, { defs })
  return { ...spec, paths, components: { ...spec.components, schemas: { ...schemas, ...defs } } }
}
