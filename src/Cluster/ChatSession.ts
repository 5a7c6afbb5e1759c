/**
 * The `ChatSession` entity: a session as the cluster knows it, addressed by its id. Whichever
 * node takes a request sends it here; the cluster delivers it on the node that owns the session's
 * shard, where the session's turns run (see `ClusterRunner`). Every message is volatile: it goes
 * straight to the owner over the runners' transport, and a turn's events are read from the
 * shared log, not carried back in the reply.
 */
import { ClusterSchema, Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { Schema } from "effect"
import { ConversationMessage } from "../Domain/Conversation.js"
import {
  CapacityExceeded,
  InvalidTurnRequest,
  ProjectNotFound,
  QueuedTurnCancelled,
  SessionBusy,
  SessionIsClosed,
  SessionNotFound,
  ShuttingDown,
  StoreError
} from "../Domain/Errors.js"
import { ModelInfo } from "../Domain/Model.js"
import { CancelReason } from "../Domain/SessionEvent.js"
import { ClientTool, ToolChoice } from "../Domain/Tools.js"
import type { SessionActivity, TurnRequest } from "../Domain/Turn.js"

/** A `TurnRequest` on the wire. */
const TurnRequestSchema = Schema.Struct({
  sessionId: Schema.optional(Schema.String),
  newSessionId: Schema.optional(Schema.String),
  projectId: Schema.optional(Schema.String),
  owner: Schema.optional(Schema.NullOr(Schema.String)),
  messages: Schema.Array(ConversationMessage),
  systemPrompt: Schema.NullOr(Schema.String),
  model: Schema.Struct({
    requested: Schema.NullOr(Schema.String),
    model: Schema.NullOr(Schema.String),
    fallbacks: Schema.Array(Schema.String),
    info: Schema.NullOr(ModelInfo)
  }),
  outputSchema: Schema.optional(Schema.NullOr(Schema.String)),
  clientTools: Schema.optional(Schema.NullOr(Schema.Struct({
    tools: Schema.Array(ClientTool),
    choice: ToolChoice,
    parallel: Schema.Boolean
  }))),
  parameters: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { exact: true }),
  cancelIfCallerGone: Schema.optional(Schema.Boolean)
})

/** Exactly a `TurnRequest` (a schema's type is invariant: a field added to one must be added to the other). */
export const TurnRequestOnWire: Schema.Schema<TurnRequest, typeof TurnRequestSchema.Encoded> = TurnRequestSchema

/** A started turn: where its events are in the log. */
export const StartedTurn = Schema.Struct({
  sessionId: Schema.String,
  projectId: Schema.String,
  turnId: Schema.String,
  startSequence: Schema.Number
})

/** Starts a turn in the session (see `SessionRunner.startTurn`). */
export const StartTurn = Rpc.make("StartTurn", {
  payload: { request: TurnRequestOnWire },
  success: StartedTurn,
  error: Schema.Union(
    SessionBusy,
    CapacityExceeded,
    QueuedTurnCancelled,
    SessionNotFound,
    SessionIsClosed,
    ProjectNotFound,
    InvalidTurnRequest,
    ShuttingDown,
    StoreError
  )
})

/** Cancels the session's running turn (see `SessionRunner.cancel`). */
export const CancelTurn = Rpc.make("CancelTurn", {
  payload: { reason: CancelReason, turnId: Schema.optional(Schema.String) },
  success: Schema.Boolean
})

/** Closes the session (see `SessionRunner.closeSession`). */
export const CloseSession = Rpc.make("CloseSession", {
  payload: { purge: Schema.Boolean },
  error: Schema.Union(SessionNotFound, StoreError)
})

/** Records that a turn's response was deleted (see `SessionRunner.recordResponseDeleted`). */
export const RecordResponseDeleted = Rpc.make("RecordResponseDeleted", {
  payload: { turnId: Schema.String },
  error: Schema.Union(SessionBusy, StoreError)
})

/**
 * Returns once the turn is over on the owner, or fails when its end could not be recorded there
 * (see `SessionRunner.Local.awaitTurnEnd`).
 */
export const AwaitTurnEnd = Rpc.make("AwaitTurnEnd", {
  payload: { turnId: Schema.String },
  error: StoreError
})

const ActivitySchema = Schema.Struct({
  running: Schema.Boolean,
  turnId: Schema.NullOr(Schema.String),
  startedAt: Schema.NullOr(Schema.Number),
  warm: Schema.Boolean
})

/** What runs in the session now, on its owner. */
export const Activity = Rpc.make("Activity", {
  success: ActivitySchema satisfies Schema.Schema<SessionActivity, any>
})

export const ChatSession = Entity.make("ChatSession", [
  StartTurn,
  CancelTurn,
  CloseSession,
  RecordResponseDeleted,
  AwaitTurnEnd,
  Activity
]).annotateRpcs(ClusterSchema.Persisted, false)
