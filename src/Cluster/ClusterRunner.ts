/**
 * The session runner of a cluster node. Every request that concerns a session goes to the
 * session's `ChatSession` entity, which the cluster runs on the node that owns the session's
 * shard; there this node's own runner (`LocalSessionRunner`) runs the turn on its warm process.
 * The node that took the request reads the turn's events from the shared log, which follows
 * other nodes' appends live. A request that names no session is matched to one (by the history
 * it resends) before it is sent, so that a new session starts on the node its id maps to.
 */
import { Entity, type Sharding } from "@effect/cluster"
import { AlreadyProcessingMessage, MailboxFull, PersistenceError } from "@effect/cluster/ClusterError"
import { Context, Effect, Layer, Option } from "effect"
import * as NodeCrypto from "node:crypto"
import { defaultProjectOf } from "../Domain/Session.js"
import type { CancelReason } from "../Domain/SessionEvent.js"
import type { TurnHandle, TurnRequest } from "../Domain/Turn.js"
import { SessionQueries } from "../SessionQueries.js"
import { SessionRunner } from "../SessionRunner.js"
import { afterLastAssistant, digestOf } from "../SessionRunner/history.js"
import { turnEvents } from "../SessionRunner/turnFiber.js"
import { SessionStore } from "../SessionStore.js"
import { ChatSession } from "./ChatSession.js"

/** This node's own runner: the sessions whose shards it owns run here. */
export class LocalSessionRunner
  extends Context.Tag("claude-code-api/Cluster/LocalSessionRunner")<LocalSessionRunner, SessionRunner.Local>()
{}

/**
 * The entity's handlers: each message runs on the owner's local runner. Messages are handled
 * concurrently (a cancel must reach a turn that waits for admission); the local runner keeps one
 * turn at a time per session. The entity holds no state of its own, so it may stop when idle:
 * what a session keeps (its turn, its warm process) belongs to the local runner.
 */
export const ChatSessionLive = ChatSession.toLayer(
  Effect.gen(function*() {
    const local = yield* LocalSessionRunner
    const { entityId: sessionId } = yield* Entity.CurrentAddress
    return ChatSession.of({
      StartTurn: ({ payload: { request } }) =>
        (request.sessionId ?? request.newSessionId) === sessionId
          ? Effect.map(local.startTurn(request), ({ events: _, ...started }) => started)
          : Effect.dieMessage(`a turn for session ${request.sessionId ?? "new"} was sent to session ${sessionId}`),
      CancelTurn: ({ payload }) => local.cancel(sessionId, payload.reason, payload.turnId),
      CloseSession: ({ payload }) => local.closeSession(sessionId, payload),
      RecordResponseDeleted: ({ payload }) => local.recordResponseDeleted(sessionId, payload.turnId),
      AwaitTurnEnd: ({ payload }) => local.awaitTurnEnd(sessionId, payload.turnId),
      Activity: () => local.activity(sessionId)
    })
  }),
  { concurrency: "unbounded" }
)

/** The cluster's own failures of delivery are defects to the gateway: it answers 500 and logs them. */
const delivered = <A, E extends { readonly _tag: string }, R>(
  effect: Effect.Effect<A, E | MailboxFull | AlreadyProcessingMessage | PersistenceError, R>
): Effect.Effect<A, Exclude<E, MailboxFull | AlreadyProcessingMessage | PersistenceError>, R> =>
  Effect.catchIf(
    effect,
    (error) =>
      error instanceof MailboxFull || error instanceof AlreadyProcessingMessage || error instanceof PersistenceError,
    Effect.die
  ) as Effect.Effect<A, Exclude<E, MailboxFull | AlreadyProcessingMessage | PersistenceError>, R>

export const makeClusterRunner = Effect.gen(function*() {
  const local = yield* LocalSessionRunner
  const store = yield* SessionStore
  const queries = yield* SessionQueries
  const session = yield* ChatSession.client

  /**
   * Fails when the owner could not record the turn's end (the log, read here, would never show
   * it); never succeeds. An owner that is gone has nothing to tell: the node that takes the
   * session over records the turn's end.
   */
  const endNotRecorded = (turn: { readonly sessionId: string; readonly turnId: string }) =>
    delivered(session(turn.sessionId).AwaitTurnEnd({ turnId: turn.turnId })).pipe(
      Effect.catchAllDefect(() => Effect.void),
      Effect.zipRight(Effect.never)
    )

  const start = (request: TurnRequest, sessionId: string) =>
    delivered(session(sessionId).StartTurn({ request })).pipe(
      Effect.map((started): TurnHandle => ({
        ...started,
        events: turnEvents(store, started.sessionId, started.turnId, started.startSequence, endNotRecorded(started))
      }))
    )

  /** A new session's turn, on the node its new id maps to. */
  const startNew = (request: TurnRequest) => {
    const sessionId = NodeCrypto.randomUUID()
    return start({ ...request, sessionId: undefined, newSessionId: sessionId }, sessionId)
  }

  const startTurn = Effect.fn("ClusterRunner.startTurn")(function*(request: TurnRequest) {
    if (request.sessionId !== undefined) return yield* start(request, request.sessionId)
    const heldLength = afterLastAssistant(request.messages)
    const owner = request.owner ?? null
    const found = heldLength === 0 ? Option.none() : yield* queries.findByDigest(
      owner,
      request.projectId ?? defaultProjectOf(owner),
      digestOf(request.messages.slice(0, heldLength))
    )
    if (Option.isNone(found)) return yield* startNew(request)
    // The session that holds this history continues it, unless it is busy or gone meanwhile:
    // then, as on a single node, the request starts a session of its own.
    return yield* start({ ...request, sessionId: found.value }, found.value).pipe(
      Effect.catchTags({
        SessionBusy: () => startNew(request),
        SessionIsClosed: () => startNew(request),
        SessionNotFound: () => startNew(request)
      })
    )
  })

  return {
    startTurn,
    // Created where it is asked: it is only written to the log, and its first turn runs on its owner.
    createSession: local.createSession,
    cancel: (sessionId: string, reason: CancelReason, turnId?: string) =>
      delivered(session(sessionId).CancelTurn({ reason, turnId })).pipe(Effect.orDie),
    closeSession: (sessionId, options) => delivered(session(sessionId).CloseSession(options)),
    recordResponseDeleted: (sessionId, turnId) => delivered(session(sessionId).RecordResponseDeleted({ turnId })),
    activity: (sessionId) => delivered(session(sessionId).Activity()).pipe(Effect.orDie),
    // What this node runs: each node reports its own.
    runningCount: local.runningCount,
    warmCount: local.warmCount,
    liveSessions: local.liveSessions,
    shutdown: local.shutdown
  } satisfies SessionRunner.Service
})

/** `SessionRunner` over the cluster, with the entity's handlers registered on this node. */
export const ClusterRunnerLayer: Layer.Layer<
  SessionRunner,
  never,
  LocalSessionRunner | SessionStore | SessionQueries | Sharding.Sharding
> = Layer.effect(SessionRunner, makeClusterRunner).pipe(Layer.provideMerge(ChatSessionLive))
