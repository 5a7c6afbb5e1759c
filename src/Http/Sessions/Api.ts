/**
 * The sessions group's endpoints and resources: sessions (in our shape and the original
 * project's, side by side), their statistics, conversation and raw events.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { SessionPath } from "../Chat/Api.js"
import { ModelName, Title } from "../Limits.js"
import { BooleanParam, pageFields, PageParams, PurgeParams } from "../Params.js"

export const Session = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("session"),
  project_id: Schema.String,
  title: Schema.String,
  created_at: Schema.Number,
  updated_at: Schema.Number,
  status: Schema.Literal("running", "idle", "closed"),
  is_active: Schema.Boolean.annotations({ description: "The session takes turns (it is not closed)" }),
  model: Schema.NullOr(Schema.String),
  system_prompt: Schema.NullOr(Schema.String),
  turn_count: Schema.Number,
  completed_turns: Schema.Number,
  message_count: Schema.Number,
  total_tokens: Schema.Number,
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  cached_tokens: Schema.Number,
  total_cost_usd: Schema.Number,
  total_cost: Schema.Number.annotations({ description: "The same as total_cost_usd (the original project's name)" }),
  warm: Schema.Boolean.annotations({ description: "Whether a live CLI process holds the conversation" }),
  last_event_id: Schema.Number
}).annotations({ identifier: "Session" })
export type Session = typeof Session.Type

export const SessionList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Session),
  ...pageFields
}).annotations({ identifier: "SessionList" })

export const CreateSession = Schema.Struct({
  project_id: Schema.optional(Schema.String),
  title: Schema.optional(Schema.NullOr(Title)),
  model: Schema.optional(Schema.NullOr(ModelName)).annotations({
    description: "The model of the session's turns whose request names none"
  }),
  system_prompt: Schema.optional(Schema.NullOr(Schema.String)).annotations({
    description: "The system prompt of the session's turns whose request brings none"
  })
}).annotations({ identifier: "CreateSession" })

export const SessionStats = Schema.Struct({
  object: Schema.Literal("session.stats"),
  total_sessions: Schema.Number,
  active_sessions: Schema.Number,
  closed_sessions: Schema.Number,
  running_turns: Schema.Number,
  warm_processes: Schema.Number,
  total_turns: Schema.Number,
  completed_turns: Schema.Number,
  failed_turns: Schema.Number,
  cancelled_turns: Schema.Number,
  total_tokens: Schema.Number,
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_cost_usd: Schema.Number,
  session_stats: Schema.Struct({
    total_sessions: Schema.Number,
    active_sessions: Schema.Number,
    total_tokens: Schema.Number,
    total_cost: Schema.Number
  }),
  active_claude_sessions: Schema.Number.annotations({
    description: "Live CLI processes (running turns and warm sessions)"
  }),
  claude_sessions: Schema.Array(Schema.String).annotations({
    description: "The caller's sessions that have a live CLI process"
  })
}).annotations({ identifier: "SessionStats" })
export type SessionStats = typeof SessionStats.Type

export const SessionDeleted = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("session"),
  deleted: Schema.Boolean,
  purged: Schema.Boolean,
  session_id: Schema.String,
  status: Schema.Literal("deleted")
}).annotations({ identifier: "SessionDeleted" })

export const MessageList = Schema.Struct({
  object: Schema.Literal("list"),
  session_id: Schema.String,
  data: Schema.Array(Schema.Struct({
    role: Schema.Literal("user", "assistant", "tool"),
    content: Schema.NullOr(Schema.Union(
      Schema.String,
      Schema.Array(Schema.Union(
        Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
        Schema.Struct({ type: Schema.Literal("image_url"), image_url: Schema.Struct({ url: Schema.String }) })
      ))
    )),
    tool_calls: Schema.optional(Schema.Array(Schema.Struct({
      id: Schema.String,
      type: Schema.Literal("function"),
      function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
    }))),
    tool_call_id: Schema.optional(Schema.String)
  }))
}).annotations({ identifier: "MessageList" })

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

export class SessionsApi extends HttpApiGroup.make("sessions")
  .add(
    HttpApiEndpoint.post("createSession", "/v1/sessions")
      .setPayload(CreateSession)
      .addSuccess(Session, { status: 201 })
      .annotate(OpenApi.Summary, "Create an empty session (use its id as `session_id` in chat requests)")
  )
  .add(
    HttpApiEndpoint.get("listSessions", "/v1/sessions")
      .setUrlParams(Schema.extend(PageParams, Schema.Struct({ project_id: Schema.optional(Schema.String) })))
      .addSuccess(SessionList)
      .annotate(OpenApi.Summary, "List sessions, most recently active first")
  )
  .add(
    HttpApiEndpoint.get("sessionStats", "/v1/sessions/stats")
      .addSuccess(SessionStats)
      .annotate(OpenApi.Summary, "Totals over the caller's sessions (from the event log)")
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
      .addSuccess(SessionDeleted)
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
