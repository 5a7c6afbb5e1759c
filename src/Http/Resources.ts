/**
 * Wire formats of the gateway's own resources (sessions, projects, turn status), in the
 * same style as OpenAI's objects: snake_case, `object` tags, Unix seconds.
 */
import { Schema } from "effect"
import type { SessionSummary, SessionTotals } from "../Domain/Session.js"
import type { Project as ProjectRecord } from "../Projects.js"
import type { SessionActivity } from "../SessionRunner.js"

export const Session = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("session"),
  project_id: Schema.String,
  created_at: Schema.Number,
  updated_at: Schema.Number,
  status: Schema.Literal("running", "idle", "closed"),
  model: Schema.NullOr(Schema.String),
  turn_count: Schema.Number,
  completed_turns: Schema.Number,
  total_tokens: Schema.Number,
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  cached_tokens: Schema.Number,
  total_cost_usd: Schema.Number,
  warm: Schema.Boolean.annotations({ description: "Whether a live CLI process holds the conversation" }),
  last_event_id: Schema.Number
}).annotations({ identifier: "Session" })
export type Session = typeof Session.Type

export const SessionList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Session),
  total: Schema.Number,
  limit: Schema.Number,
  offset: Schema.Number,
  has_more: Schema.Boolean
}).annotations({ identifier: "SessionList" })

export const CreateSession = Schema.Struct({
  project_id: Schema.optional(Schema.String)
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
  total_cost_usd: Schema.Number
}).annotations({ identifier: "SessionStats" })

export const Deleted = Schema.Struct({
  id: Schema.String,
  object: Schema.String,
  deleted: Schema.Boolean,
  purged: Schema.Boolean
}).annotations({ identifier: "Deleted" })

export const TurnStatus = Schema.Struct({
  session_id: Schema.String,
  object: Schema.Literal("chat.completion.status"),
  status: Schema.Literal("running", "idle", "closed"),
  is_running: Schema.Boolean,
  turn_id: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Schema.Number),
  project_id: Schema.String,
  warm: Schema.Boolean
}).annotations({ identifier: "TurnStatus" })

export const CancelResult = Schema.Struct({
  session_id: Schema.String,
  object: Schema.Literal("chat.completion.cancellation"),
  cancelled: Schema.Boolean,
  status: Schema.Literal("cancelled", "not_running")
}).annotations({ identifier: "CancelResult" })

export const MessageList = Schema.Struct({
  object: Schema.Literal("list"),
  session_id: Schema.String,
  data: Schema.Array(Schema.Struct({
    role: Schema.Literal("user", "assistant"),
    content: Schema.Union(
      Schema.String,
      Schema.Array(Schema.Union(
        Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
        Schema.Struct({ type: Schema.Literal("image_url"), image_url: Schema.Struct({ url: Schema.String }) })
      ))
    )
  }))
}).annotations({ identifier: "MessageList" })

export const Project = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("project"),
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  path: Schema.String,
  created_at: Schema.Number
}).annotations({ identifier: "Project" })

export const ProjectList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Project),
  total: Schema.Number,
  limit: Schema.Number,
  offset: Schema.Number,
  has_more: Schema.Boolean
}).annotations({ identifier: "ProjectList" })

export const CreateProject = Schema.Struct({
  id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String).annotations({
    description: "Directory name under PROJECT_ROOT (defaults to the id); nothing outside the root is accepted"
  })
}).annotations({ identifier: "CreateProject" })

export const Pagination = Schema.Struct({
  limit: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100)), { default: () => 20 }),
  offset: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()), { default: () => 0 })
})

const seconds = (millis: number) => Math.floor(millis / 1000)

export const sessionOf = (summary: SessionSummary, activity: SessionActivity): Session => ({
  id: summary.sessionId,
  object: "session",
  project_id: summary.projectId,
  created_at: seconds(summary.createdAt),
  updated_at: seconds(summary.updatedAt),
  status: summary.closed ? "closed" : activity.running ? "running" : "idle",
  model: summary.lastModel,
  turn_count: summary.turns,
  completed_turns: summary.completedTurns,
  total_tokens: summary.promptTokens + summary.completionTokens,
  prompt_tokens: summary.promptTokens,
  completion_tokens: summary.completionTokens,
  cached_tokens: summary.cachedTokens,
  total_cost_usd: summary.costUsd,
  warm: activity.warm,
  last_event_id: summary.lastSequence
})

export const statsOf = (totals: SessionTotals, running: number, warm: number): typeof SessionStats.Type => ({
  object: "session.stats",
  total_sessions: totals.sessions,
  active_sessions: totals.sessions - totals.closedSessions,
  closed_sessions: totals.closedSessions,
  running_turns: running,
  warm_processes: warm,
  total_turns: totals.turns,
  completed_turns: totals.completedTurns,
  failed_turns: totals.failedTurns,
  cancelled_turns: totals.cancelledTurns,
  total_tokens: totals.promptTokens + totals.completionTokens,
  prompt_tokens: totals.promptTokens,
  completion_tokens: totals.completionTokens,
  total_cost_usd: totals.costUsd
})

export const projectOf = (project: ProjectRecord): typeof Project.Type => ({
  id: project.id,
  object: "project",
  name: project.name,
  description: project.description,
  path: project.path,
  created_at: seconds(project.createdAt)
})
