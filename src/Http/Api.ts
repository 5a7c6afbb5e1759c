/**
 * The HTTP API as data: endpoints, their schemas and documentation. `HttpApiBuilder`
 * serves it and `OpenApi` documents it (`schemas/openapi.json`).
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi, OpenApiJsonSchema } from "@effect/platform"
import { Schema } from "effect"
import { HttpError } from "./Errors.js"
import {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ErrorEnvelope,
  Model,
  ModelCapabilitiesList,
  ModelList
} from "./OpenAI.js"
import {
  CancelResult,
  CreateProject,
  CreateSession,
  Deleted,
  MessageList,
  Pagination,
  Project,
  ProjectList,
  Session,
  SessionList,
  SessionStats,
  TurnStatus
} from "./Resources.js"

const SessionPath = Schema.Struct({ session_id: Schema.String })
const ProjectPath = Schema.Struct({ project_id: Schema.String })
const BooleanParam = Schema.Literal("true", "false", "1", "0").pipe(
  Schema.transform(Schema.Boolean, { decode: (v) => v === "true" || v === "1", encode: (b) => (b ? "true" : "false") })
)
const PurgeParams = Schema.Struct({ purge: Schema.optionalWith(BooleanParam, { default: () => false }) })
export const EventsParams = Schema.Struct({
  after: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())),
  limit: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)), {
    default: () => 100
  }),
  stream: Schema.optionalWith(BooleanParam, { default: () => false }),
  format: Schema.optionalWith(Schema.Literal("events", "chunks"), { default: () => "events" as const }),
  turn_id: Schema.optional(Schema.String)
})

export const EventPage = Schema.Struct({
  object: Schema.Literal("list"),
  session_id: Schema.String,
  data: Schema.Array(Schema.Struct({
    id: Schema.Number,
    type: Schema.String,
    created_at: Schema.Number,
    timestamp_ms: Schema.Number,
    data: Schema.Unknown
  })),
  has_more: Schema.Boolean,
  last_event_id: Schema.Number
}).annotations({ identifier: "EventPage" })

export const ServiceInfo = Schema.Struct({
  name: Schema.String,
  version: Schema.String,
  description: Schema.String,
  endpoints: Schema.Record({ key: Schema.String, value: Schema.String }),
  docs: Schema.String,
  openapi: Schema.String
}).annotations({ identifier: "ServiceInfo" })

export const Health = Schema.Struct({
  status: Schema.Literal("healthy", "unhealthy"),
  version: Schema.String,
  claude_cli: Schema.Struct({ available: Schema.Boolean, version: Schema.NullOr(Schema.String) }),
  database: Schema.Struct({ reachable: Schema.Boolean }),
  turns: Schema.Struct({ running: Schema.Number, limit: Schema.Number })
}).annotations({ identifier: "Health" })

/** The body of `GET /health` when the gateway cannot serve turns (status 503). */
const Unhealthy = Health.annotations({ identifier: "Unhealthy", ...HttpApiSchema.annotations({ status: 503 }) })

/** Adds the SSE variant of the chat completion response to the generated document. */
const documentStreaming = OpenApi.annotations({
  transform: (operation) => {
    const responses = (operation.responses ?? {}) as Record<string, { content?: Record<string, unknown> }>
    const ok = responses["200"] ?? { content: {} }
    return {
      ...operation,
      responses: {
        ...responses,
        "200": {
          ...ok,
          description:
            "A chat.completion (JSON), or with `stream: true` a text/event-stream of chat.completion.chunk objects ending with `data: [DONE]`",
          content: {
            ...ok.content,
            "text/event-stream": {
              schema: {
                type: "string",
                description:
                  "Server-sent events. Each event is `data: <ChatCompletionChunk JSON>`; an error after the stream started is `data: {\"error\": {...}}`; the stream ends with `data: [DONE]`. Lines starting with `:` are keep-alive comments.",
                "x-event-schema": { $ref: "#/components/schemas/ChatCompletionChunk" }
              }
            }
          }
        }
      }
    }
  }
})

export class ChatApi extends HttpApiGroup.make("chat")
  .add(
    HttpApiEndpoint.post("createChatCompletion", "/v1/chat/completions")
      .setPayload(ChatCompletionRequest)
      .addSuccess(ChatCompletion)
      .annotate(OpenApi.Summary, "Create a chat completion (JSON or SSE)")
      .annotate(
        OpenApi.Description,
        "OpenAI-compatible. Runs one turn of Claude Code. Extension fields: `session_id`, `project_id` in the request; `session_id`, `project_id`, `usage.cost_usd`, `message.reasoning_content` and `message.claude_code_tool_uses` in the response; `X-Session-ID` and `X-Project-ID` headers."
      )
      .annotateContext(documentStreaming)
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
      .annotate(OpenApi.Summary, "Whether the session is running a turn")
  )
{}

export class SessionsApi extends HttpApiGroup.make("sessions")
  .add(
    HttpApiEndpoint.post("createSession", "/v1/sessions")
      .setPayload(CreateSession)
      .addSuccess(Session, { status: 201 })
      .annotate(OpenApi.Summary, "Create an empty session (use its id as `session_id` in chat requests)")
  )
  .add(
    HttpApiEndpoint.get("listSessions", "/v1/sessions")
      .setUrlParams(Schema.extend(Pagination, Schema.Struct({ project_id: Schema.optional(Schema.String) })))
      .addSuccess(SessionList)
      .annotate(OpenApi.Summary, "List sessions, most recently active first")
  )
  .add(
    HttpApiEndpoint.get("sessionStats", "/v1/sessions/stats")
      .addSuccess(SessionStats)
      .annotate(OpenApi.Summary, "Totals over all sessions (from the event log)")
  )
  .add(
    HttpApiEndpoint.get("getSession", "/v1/sessions/:session_id")
      .setPath(SessionPath)
      .addSuccess(Session)
      .annotate(OpenApi.Summary, "One session, with token and cost totals")
  )
  .add(
    HttpApiEndpoint.del("deleteSession", "/v1/sessions/:session_id")
      .setPath(SessionPath)
      .setUrlParams(PurgeParams)
      .addSuccess(Deleted)
      .annotate(OpenApi.Summary, "Close a session (stops a running turn); `purge=true` also deletes its history")
  )
  .add(
    HttpApiEndpoint.get("sessionMessages", "/v1/sessions/:session_id/messages")
      .setPath(SessionPath)
      .addSuccess(MessageList)
      .annotate(OpenApi.Summary, "The conversation as OpenAI messages, projected from the log")
  )
  .add(
    HttpApiEndpoint.get("sessionEvents", "/v1/sessions/:session_id/events")
      .setPath(SessionPath)
      .setUrlParams(EventsParams)
      .addSuccess(EventPage)
      .annotate(OpenApi.Summary, "The session's raw events: JSON pages, or SSE that replays then follows live")
      .annotate(
        OpenApi.Description,
        "JSON by default. With `Accept: text/event-stream` or `stream=true`: server-sent events, each with `id: <sequence>`, replaying from `after` (or the `Last-Event-ID` header) and then following live. `format=chunks` sends the turns as the chat.completion.chunk frames their original stream sent (`turn_id` selects one turn and ends with it)."
      )
  )
{}

export class ProjectsApi extends HttpApiGroup.make("projects")
  .add(
    HttpApiEndpoint.post("createProject", "/v1/projects")
      .setPayload(CreateProject)
      .addSuccess(Project, { status: 201 })
      .annotate(OpenApi.Summary, "Create a project: a working directory under PROJECT_ROOT")
  )
  .add(
    HttpApiEndpoint.get("listProjects", "/v1/projects")
      .setUrlParams(Pagination)
      .addSuccess(ProjectList)
      .annotate(OpenApi.Summary, "List projects")
  )
  .add(
    HttpApiEndpoint.get("getProject", "/v1/projects/:project_id")
      .setPath(ProjectPath)
      .addSuccess(Project)
      .annotate(OpenApi.Summary, "One project")
  )
  .add(
    HttpApiEndpoint.del("deleteProject", "/v1/projects/:project_id")
      .setPath(ProjectPath)
      .setUrlParams(PurgeParams)
      .addSuccess(Deleted)
      .annotate(OpenApi.Summary, "Unregister a project; `purge=true` also deletes its directory")
  )
{}

export class ModelsApi extends HttpApiGroup.make("models")
  .add(
    HttpApiEndpoint.get("listModels", "/v1/models").addSuccess(ModelList).annotate(OpenApi.Summary, "List models")
  )
  .add(
    HttpApiEndpoint.get("listCapabilities", "/v1/models/capabilities")
      .addSuccess(ModelCapabilitiesList)
      .annotate(OpenApi.Summary, "Models with their capabilities, pricing, aliases and fallbacks")
  )
  .add(
    HttpApiEndpoint.get("getModel", "/v1/models/:model_id")
      .setPath(Schema.Struct({ model_id: Schema.String }))
      .addSuccess(Model)
      .annotate(OpenApi.Summary, "Retrieve a model by id or alias")
  )
{}

export class SystemApi extends HttpApiGroup.make("system")
  .add(HttpApiEndpoint.get("root", "/").addSuccess(ServiceInfo).annotate(OpenApi.Summary, "Service information"))
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(Health)
      .addError(Unhealthy)
      .annotate(OpenApi.Summary, "Health: CLI, database, running turns (503 when unusable)")
  )
{}

export class GatewayApi extends HttpApi.make("claude-code-api")
  .add(ChatApi)
  .add(SessionsApi)
  .add(ProjectsApi)
  .add(ModelsApi)
  .add(SystemApi)
  .addError(HttpError)
  .annotate(OpenApi.Title, "Claude Code API")
  .annotate(OpenApi.Version, "0.1.0")
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
 * Every error leaves the gateway as an OpenAI envelope (the HTTP edge renders
 * `HttpError` that way), so the document shows the envelope for error statuses.
 */
const documentErrors = (spec: Record<string, any>): Record<string, any> => {
  const envelope = { $ref: "#/components/schemas/ErrorEnvelope" }
  const errorResponse = (description: string) => ({
    description,
    content: { "application/json": { schema: envelope } }
  })
  const paths: Record<string, any> = {}
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
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
        path.startsWith("/v1/chat/completions") || path.startsWith("/v1/sessions") || path.startsWith("/v1/projects")
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
  OpenApiJsonSchema.makeWithDefs(ChatCompletionChunk, { defs })
  return { ...spec, paths, components: { ...spec.components, schemas: { ...schemas, ...defs } } }
}
