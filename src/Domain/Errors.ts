/**
 * Domain errors. All are `Schema.TaggedError`s so a failed turn can be stored in the
 * event log as it happened; only the HTTP edge turns them into statuses and envelopes.
 */
import { Schema } from "effect"

/** The `claude` executable could not be started (missing, not executable). */
export class CliNotFound extends Schema.TaggedError<CliNotFound>()("CliNotFound", {
  binary: Schema.String,
  message: Schema.String
}) {}

/** The CLI ended without a `result` line (crash, kill, argument error). */
export class CliExitedEarly extends Schema.TaggedError<CliExitedEarly>()("CliExitedEarly", {
  exitCode: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  stderrTail: Schema.String
}) {
  override get message() {
    const how = this.exitCode !== null ? `code ${this.exitCode}` : `signal ${this.signal ?? "unknown"}`
    return `Claude Code CLI exited early (${how})${this.stderrTail ? `: ${this.stderrTail}` : ""}`
  }
}

/** Upstream rejected the model (404 `not_found_error`, surfaced by the CLI as `model_not_found`). */
export class ModelRejected extends Schema.TaggedError<ModelRejected>()("ModelRejected", {
  /** Every model that was attempted, in order. */
  models: Schema.Array(Schema.String),
  message: Schema.String
}) {}

/** The upstream API failed (after the CLI's own retries). */
export class UpstreamFailure extends Schema.TaggedError<UpstreamFailure>()("UpstreamFailure", {
  /** HTTP status the upstream answered, when the CLI reported one. */
  status: Schema.NullOr(Schema.Number),
  /** The CLI's category: `rate_limit`, `overloaded`, `authentication_failed`, `server_error`, … */
  kind: Schema.NullOr(Schema.String),
  message: Schema.String,
  /** Seconds the upstream asked us to wait, when it said so. */
  retryAfterSeconds: Schema.NullOr(Schema.Number)
}) {}

/** The CLI printed nothing for too long. */
export class CliTimeout extends Schema.TaggedError<CliTimeout>()("CliTimeout", {
  idleSeconds: Schema.Number
}) {
  override get message() {
    return `Claude Code CLI produced no output for ${this.idleSeconds} s`
  }
}

/** The CLI finished the turn with an error result that is not an upstream failure (max turns, …). */
export class CliTurnError extends Schema.TaggedError<CliTurnError>()("CliTurnError", {
  subtype: Schema.String,
  message: Schema.String
}) {}

/** Anything that escaped classification; the message is for logs, never for clients. */
export class InternalFailure extends Schema.TaggedError<InternalFailure>()("InternalFailure", {
  message: Schema.String
}) {}

/** Everything that can end a turn unsuccessfully, as stored in `TurnFailed`. */
export const TurnError = Schema.Union(
  CliNotFound,
  CliExitedEarly,
  ModelRejected,
  UpstreamFailure,
  CliTimeout,
  CliTurnError,
  InternalFailure
)
export type TurnError = typeof TurnError.Type

/** Errors of one CLI run (what `ClaudeProcess` can fail with). */
export type CliError = CliNotFound | CliExitedEarly | ModelRejected | UpstreamFailure | CliTimeout | CliTurnError

/** The session already runs a turn. */
export class SessionBusy extends Schema.TaggedError<SessionBusy>()("SessionBusy", {
  sessionId: Schema.String
}) {}

/** The session was closed; it takes no more turns. */
export class SessionIsClosed extends Schema.TaggedError<SessionIsClosed>()("SessionIsClosed", {
  sessionId: Schema.String
}) {}

/** No such session in the log. */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  sessionId: Schema.String
}) {}

/** The global limit on running turns is reached and the short queue did not drain. */
export class CapacityExceeded extends Schema.TaggedError<CapacityExceeded>()("CapacityExceeded", {
  limit: Schema.Number,
  retryAfterSeconds: Schema.Number
}) {}

/** A turn that waited for a free slot was cancelled (or the gateway began shutting down) before it started. */
export class QueuedTurnCancelled extends Schema.TaggedError<QueuedTurnCancelled>()("QueuedTurnCancelled", {
  sessionId: Schema.String,
  reason: Schema.Literal("client", "disconnect", "timeout", "shutdown", "interrupted")
}) {}

/** The gateway is shutting down and starts no more turns. */
export class ShuttingDown extends Schema.TaggedError<ShuttingDown>()("ShuttingDown", {}) {}

/** The event log is unavailable or refused a write. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  /** The store operation that failed (`append`, `read`, …). */
  method: Schema.String,
  message: Schema.String,
  /** The driver's own error, for logs. */
  cause: Schema.optional(Schema.Defect)
}) {}

/** A write raced another writer of the same session. */
export class SequenceConflict extends Schema.TaggedError<SequenceConflict>()("SequenceConflict", {
  sessionId: Schema.String,
  expected: Schema.Number
}) {}

/** A model id or alias that the registry does not know. */
export class ModelNotFound extends Schema.TaggedError<ModelNotFound>()("ModelNotFound", {
  model: Schema.String
}) {}

/** The request cannot be turned into a turn (bad content, unsupported option). */
export class InvalidTurnRequest extends Schema.TaggedError<InvalidTurnRequest>()("InvalidTurnRequest", {
  message: Schema.String,
  param: Schema.NullOr(Schema.String),
  code: Schema.NullOr(Schema.String)
}) {}

/** Missing or wrong API key. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}) {}

/** The key spent its request budget. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfterSeconds: Schema.Number
}) {}

/** The client presented too many wrong keys lately: it is held back, whatever key it sends. */
export class TooManyAuthFailures extends Schema.TaggedError<TooManyAuthFailures>()("TooManyAuthFailures", {
  retryAfterSeconds: Schema.Number
}) {}

/** No such project. */
export class ProjectNotFound extends Schema.TaggedError<ProjectNotFound>()("ProjectNotFound", {
  projectId: Schema.String
}) {}

/** The project is shared by every key (it has no owner): no key may delete it. */
export class ProjectNotOwned extends Schema.TaggedError<ProjectNotOwned>()("ProjectNotOwned", {
  projectId: Schema.String
}) {}

/** A project with this id exists already. */
export class ProjectExists extends Schema.TaggedError<ProjectExists>()("ProjectExists", {
  projectId: Schema.String
}) {}
