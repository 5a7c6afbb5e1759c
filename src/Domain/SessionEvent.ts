/**
 * The event log's vocabulary. Every turn is a run of these, appended in order under the
 * session's sequence numbers; everything a client sees is projected from them.
 */
import { Schema } from "effect"
import { ConversationMessage } from "./Conversation.js"
import { TurnError } from "./Errors.js"
import { ToolCall } from "./Tools.js"

const TurnId = Schema.String

/** Token usage of a whole turn, as the CLI's `result` reported it. */
export const TurnUsage = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  cacheReadInputTokens: Schema.Number,
  cacheCreationInputTokens: Schema.Number
})
export type TurnUsage = typeof TurnUsage.Type

/** A session came into being (first event of every session). */
export class SessionCreated extends Schema.TaggedClass<SessionCreated>()("SessionCreated", {
  projectId: Schema.String,
  /** Working directory of every CLI process of this session (resuming needs the same one). */
  cwd: Schema.String,
  /** The CLI's config directory (where its transcripts live), as the gateway's environment sets it. */
  configDir: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** The principal (API key fingerprint) the session belongs to; null when auth is off. */
  owner: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** A title given when the session was created (`POST /v1/sessions`). */
  title: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** The session's model: used by turns whose request names none. */
  model: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** The session's system prompt: used by turns whose request brings none. */
  systemPrompt: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null })
}) {}

/** The session was closed; its history stays unless it was purged. */
export class SessionClosed extends Schema.TaggedClass<SessionClosed>()("SessionClosed", {
  reason: Schema.String
}) {}

/** A turn was accepted: what it was asked and how it will run. */
export class TurnStarted extends Schema.TaggedClass<TurnStarted>()("TurnStarted", {
  turnId: TurnId,
  /** The conversation as the client sent it (system messages excluded). */
  messages: Schema.Array(ConversationMessage),
  systemPrompt: Schema.NullOr(Schema.String),
  /** The `model` field as sent, if any. */
  requestedModel: Schema.NullOr(Schema.String),
  /** What the registry resolved it to; null means the CLI's own default. */
  resolvedModel: Schema.NullOr(Schema.String),
  /** Models to try, in order, if the resolved one is rejected. */
  fallbackModels: Schema.Array(Schema.String),
  /** The remaining request parameters, verbatim. */
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}) {}

/** The CLI started answering: the model it actually runs and its own session id. */
export class TurnAttached extends Schema.TaggedClass<TurnAttached>()("TurnAttached", {
  turnId: TurnId,
  model: Schema.String,
  cliSessionId: Schema.String,
  cliVersion: Schema.NullOr(Schema.String),
  /** The usage the upstream announced as the answer began (its input, known then); null when it named none. */
  startUsage: Schema.optionalWith(Schema.NullOr(TurnUsage), { default: () => null })
}) {}

/** A piece of the answer's text. */
export class TextDelta extends Schema.TaggedClass<TextDelta>()("TextDelta", {
  turnId: TurnId,
  text: Schema.String
}) {}

/** A piece of the model's visible reasoning. */
export class ThinkingDelta extends Schema.TaggedClass<ThinkingDelta>()("ThinkingDelta", {
  turnId: TurnId,
  text: Schema.String
}) {}

/** Claude Code used one of its own tools (Bash, Read, …). Never an OpenAI tool call. */
export class ToolUse extends Schema.TaggedClass<ToolUse>()("ToolUse", {
  turnId: TurnId,
  toolUseId: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
}) {}

/** The outcome of one of Claude Code's own tool uses. */
export class ToolResult extends Schema.TaggedClass<ToolResult>()("ToolResult", {
  turnId: TurnId,
  toolUseId: Schema.String,
  content: Schema.String,
  isError: Schema.Boolean
}) {}

/** The upstream was retried by the CLI (rate limit, overload, …). */
export class UpstreamRetry extends Schema.TaggedClass<UpstreamRetry>()("UpstreamRetry", {
  turnId: TurnId,
  attempt: Schema.Number,
  status: Schema.NullOr(Schema.Number),
  kind: Schema.NullOr(Schema.String),
  delayMs: Schema.NullOr(Schema.Number)
}) {}

/** The model was rejected and the turn moves on to the next one in its fallback chain. */
export class ModelFallback extends Schema.TaggedClass<ModelFallback>()("ModelFallback", {
  turnId: TurnId,
  fromModel: Schema.String,
  toModel: Schema.String,
  reason: Schema.String
}) {}

/** The turn ended normally. */
export class TurnCompleted extends Schema.TaggedClass<TurnCompleted>()("TurnCompleted", {
  turnId: TurnId,
  model: Schema.String,
  cliSessionId: Schema.String,
  stopReason: Schema.NullOr(Schema.String),
  usage: TurnUsage,
  costUsd: Schema.NullOr(Schema.Number),
  durationMs: Schema.NullOr(Schema.Number),
  numTurns: Schema.NullOr(Schema.Number),
  /** The structured output of a turn asked for JSON (`--json-schema`), else null. */
  structuredOutput: Schema.optionalWith(Schema.Unknown, { default: () => null }),
  /** Digest of the whole conversation after this turn (how stateless clients find their session). */
  conversationDigest: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /**
   * The client's tools the model called: the turn ended for the client to run them, and the
   * CLI waits for their results (`stopReason` is `tool_use`).
   */
  toolCalls: Schema.optionalWith(Schema.Array(ToolCall), { default: () => [] })
}) {}

/** The model began a call of a client tool (`index` counts the turn's calls from 0). */
export class ToolCallStarted extends Schema.TaggedClass<ToolCallStarted>()("ToolCallStarted", {
  turnId: TurnId,
  index: Schema.Number,
  callId: Schema.String,
  name: Schema.String
}) {}

/** A piece of a client tool call's arguments (JSON text), as the model produces it. */
export class ToolCallDelta extends Schema.TaggedClass<ToolCallDelta>()("ToolCallDelta", {
  turnId: TurnId,
  index: Schema.Number,
  arguments: Schema.String
}) {}

/**
 * Why calls of the client's tools held open on a CLI process were given up: no result within
 * the tool-call timeout, the process evicted by the warm limit, released (the session closed),
 * cancelled, replaced by one with other settings, or the gateway shut down. The conversation goes on: the next
 * turn rebuilds it from the log on a new process.
 */
export const HeldCallsDropReason = Schema.Literal(
  "timeout",
  "evicted",
  "released",
  "replaced",
  "cancelled",
  "shutdown"
)
export type HeldCallsDropReason = typeof HeldCallsDropReason.Type

/** Calls of the client's tools, held open for their results, were given up (and their process stopped). */
export class ToolCallsExpired extends Schema.TaggedClass<ToolCallsExpired>()("ToolCallsExpired", {
  callIds: Schema.Array(Schema.String),
  reason: HeldCallsDropReason
}) {}

/** The turn ended with an error. */
export class TurnFailed extends Schema.TaggedClass<TurnFailed>()("TurnFailed", {
  turnId: TurnId,
  error: TurnError
}) {}

export const CancelReason = Schema.Literal("client", "disconnect", "timeout", "shutdown", "interrupted")
export type CancelReason = typeof CancelReason.Type

/** The turn was stopped before it ended (by a client, a timeout or shutdown). */
export class TurnCancelled extends Schema.TaggedClass<TurnCancelled>()("TurnCancelled", {
  turnId: TurnId,
  reason: CancelReason
}) {}

/**
 * The response of a turn was deleted (`DELETE /v1/responses/{id}`): it is no longer read
 * back or referred to. The turn itself stays in the conversation.
 */
export class ResponseDeleted extends Schema.TaggedClass<ResponseDeleted>()("ResponseDeleted", {
  turnId: TurnId
}) {}

/** A project (a working directory under the project root) was registered. */
export class ProjectCreated extends Schema.TaggedClass<ProjectCreated>()("ProjectCreated", {
  projectId: Schema.String,
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  path: Schema.String,
  /**
   * The principal (API key fingerprint) the project belongs to; null when auth is off, and in
   * logs written before projects had owners (such a project is shared, see `Projects`).
   */
  owner: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null })
}) {}

/** A project was removed from the registry. */
export class ProjectDeleted extends Schema.TaggedClass<ProjectDeleted>()("ProjectDeleted", {
  projectId: Schema.String,
  filesRemoved: Schema.Boolean
}) {}

export const SessionEvent = Schema.Union(
  SessionCreated,
  SessionClosed,
  ProjectCreated,
  ProjectDeleted,
  TurnStarted,
  TurnAttached,
  TextDelta,
  ThinkingDelta,
  ToolUse,
  ToolResult,
  UpstreamRetry,
  ModelFallback,
  TurnCompleted,
  TurnFailed,
  TurnCancelled,
  ToolCallStarted,
  ToolCallDelta,
  ToolCallsExpired,
  ResponseDeleted
)
export type SessionEvent = typeof SessionEvent.Type

/** Events that end a turn. */
export type TurnTerminal = TurnCompleted | TurnFailed | TurnCancelled
export const isTurnTerminal = (event: SessionEvent): event is TurnTerminal =>
  event._tag === "TurnCompleted" || event._tag === "TurnFailed" || event._tag === "TurnCancelled"

/** An event as stored: its place in the session's log and when it was written. */
export class StoredEvent extends Schema.Class<StoredEvent>("StoredEvent")({
  sessionId: Schema.String,
  sequence: Schema.Number,
  timestamp: Schema.Number,
  event: SessionEvent
}) {}
