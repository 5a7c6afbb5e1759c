/**
 * Sessions: what a caller may do with its sessions besides running turns: read them (with
 * their totals and what runs in them now), list them, follow their events, create, cancel
 * and close them. Every method takes the caller, and a session of another caller is not
 * found, as if it did not exist.
 */
import { Context, Effect, Layer, Option, type Stream } from "effect"
import type { ConversationMessage } from "./Domain/Conversation.js"
import {
  type InvalidTurnRequest,
  type ProjectNotFound,
  type SessionBusy,
  SessionNotFound,
  type StoreError
} from "./Domain/Errors.js"
import { isVisibleTo, type SessionSummary, type SessionTotals } from "./Domain/Session.js"
import type { StoredEvent } from "./Domain/SessionEvent.js"
import type { NewSession, SessionActivity } from "./Domain/Turn.js"
import { SessionQueries } from "./SessionQueries.js"
import { SessionRunner } from "./SessionRunner.js"
import { historyOf } from "./SessionRunner/history.js"
import { SessionStore } from "./SessionStore.js"

/** A session as its owner sees it: its summary and what runs in it now. */
export interface SessionView {
  readonly summary: SessionSummary
  readonly activity: SessionActivity
}

/** A turn of the caller's, found by its id. */
export interface TurnLog {
  readonly sessionId: string
  readonly projectId: string
  /** The session's events from the turn's `TurnStarted` on (later turns included). */
  readonly events: ReadonlyArray<StoredEvent>
}

/** Totals over a caller's sessions, and what runs on the gateway now. */
export interface SessionStatistics {
  readonly totals: SessionTotals
  /** Turns running on the gateway, and sessions keeping a warm process (everyone's). */
  readonly runningTurns: number
  readonly warmProcesses: number
  /** The caller's sessions with a live CLI process. */
  readonly liveSessions: ReadonlyArray<string>
}

export declare namespace Sessions {
  export interface Service {
    readonly get: (caller: string | null, sessionId: string) => Effect.Effect<SessionView, SessionNotFound | StoreError>
    /** The caller's sessions, most recently active first, and how many it has in all. */
    readonly list: (caller: string | null, options: {
      readonly projectId?: string | undefined
      readonly limit: number
      readonly offset: number
    }) => Effect.Effect<{ readonly sessions: ReadonlyArray<SessionView>; readonly total: number }, StoreError>
    readonly statistics: (caller: string | null) => Effect.Effect<SessionStatistics, StoreError>
    /**
     * Creates an empty session for `session.owner` (its project registered if it is new);
     * another owner's project is `ProjectNotFound`.
     */
    readonly create: (
      session: NewSession
    ) => Effect.Effect<SessionView, InvalidTurnRequest | ProjectNotFound | StoreError>
    /** Cancels the session's running turn (see `SessionRunner.cancel`); false when none ran. */
    readonly cancelTurn: (
      caller: string | null,
      sessionId: string
    ) => Effect.Effect<boolean, SessionNotFound | StoreError>
    /** Closes the session (see `SessionRunner.closeSession`). */
    readonly close: (
      caller: string | null,
      sessionId: string,
      options: { readonly purge: boolean }
    ) => Effect.Effect<void, SessionNotFound | StoreError>
    /** The conversation its completed turns hold, in order. */
    readonly conversation: (
      caller: string | null,
      sessionId: string
    ) => Effect.Effect<ReadonlyArray<ConversationMessage>, SessionNotFound | StoreError>
    /** A turn by its id, with its session's events from its start on; none when it is not the caller's. */
    readonly turn: (caller: string | null, turnId: string) => Effect.Effect<Option.Option<TurnLog>, StoreError>
    /**
     * Records that the response of a turn of the caller's session was deleted (see
     * `SessionRunner.recordResponseDeleted`); the turn is cancelled first if it still runs.
     * `SessionBusy` when another turn of the session runs on.
     */
    readonly deleteResponse: (
      caller: string | null,
      sessionId: string,
      turnId: string
    ) => Effect.Effect<void, SessionNotFound | SessionBusy | StoreError>
    /** Up to `limit` stored events after `after`, and whether more follow. */
    readonly events: (caller: string | null, sessionId: string, options: {
      readonly after: number
      readonly limit: number
    }) => Effect.Effect<
      { readonly events: ReadonlyArray<StoredEvent>; readonly hasMore: boolean },
      SessionNotFound | StoreError
    >
    /** Every event after `after`, stored then live (see `SessionStore.tail`), and the session's summary. */
    readonly follow: (
      caller: string | null,
      sessionId: string,
      after: number
    ) => Effect.Effect<
      { readonly summary: SessionSummary; readonly events: Stream.Stream<StoredEvent, StoreError> },
      SessionNotFound | StoreError
    >
  }
}

export const makeSessions = Effect.gen(function*() {
  const store = yield* SessionStore
  const queries = yield* SessionQueries
  const runner = yield* SessionRunner

  /** The summary of the caller's session. */
  const owned = (caller: string | null, sessionId: string) =>
    Effect.flatMap(
      queries.sessionSummary(sessionId),
      (summary) =>
        Option.isSome(summary) && isVisibleTo(summary.value.owner, caller)
          ? Effect.succeed(summary.value)
          : Effect.fail(new SessionNotFound({ sessionId }))
    )

  const viewOf = (summary: SessionSummary) =>
    Effect.map(runner.activity(summary.sessionId), (activity): SessionView => ({ summary, activity }))

  return {
    get: (caller, sessionId) => Effect.flatMap(owned(caller, sessionId), viewOf),
    list: (caller, options) =>
      Effect.gen(function*() {
        const { sessions, total } = yield* queries.listSessions({ owner: caller, ...options })
        return { sessions: yield* Effect.forEach(sessions, viewOf), total }
      }),
    statistics: (caller) =>
      Effect.all({
        totals: queries.totals(caller),
        runningTurns: runner.runningCount,
        warmProcesses: runner.warmCount,
        liveSessions: Effect.flatMap(runner.liveSessions, (ids) =>
          Effect.filter(ids, (sessionId) =>
            Effect.map(queries.sessionSummary(sessionId), (summary) =>
              Option.isSome(summary) && isVisibleTo(summary.value.owner, caller))))
      }),
    create: (session) =>
      runner.createSession(session).pipe(
        Effect.flatMap(({ sessionId }) => owned(session.owner, sessionId)),
        // Just written: only a store that lost it could fail to find it.
        Effect.catchTag("SessionNotFound", Effect.die),
        Effect.flatMap(viewOf)
      ),
    cancelTurn: (caller, sessionId) => Effect.zipRight(owned(caller, sessionId), runner.cancel(sessionId, "client")),
    close: (caller, sessionId, options) =>
      Effect.zipRight(owned(caller, sessionId), runner.closeSession(sessionId, options)),
    conversation: (caller, sessionId) =>
      owned(caller, sessionId).pipe(
        Effect.zipRight(store.read(sessionId)),
        Effect.map((events) => historyOf(events).conversation)
      ),
    turn: (caller, turnId) =>
      Effect.gen(function*() {
        const start = yield* queries.turnStart(turnId)
        if (Option.isNone(start)) return Option.none()
        const { sequence, sessionId } = start.value
        // The session's first event says whose it is.
        const [first] = yield* store.read(sessionId, { limit: 1 })
        if (first?.event._tag !== "SessionCreated" || !isVisibleTo(first.event.owner, caller)) return Option.none()
        const events = yield* store.read(sessionId, { after: sequence - 1 })
        return Option.some({ sessionId, projectId: first.event.projectId, events })
      }),
    deleteResponse: (caller, sessionId, turnId) =>
      owned(caller, sessionId).pipe(
        Effect.zipRight(runner.cancel(sessionId, "client", turnId)),
        Effect.zipRight(runner.recordResponseDeleted(sessionId, turnId))
      ),
    events: (caller, sessionId, options) =>
      owned(caller, sessionId).pipe(
        Effect.zipRight(store.read(sessionId, { after: options.after, limit: options.limit + 1 })),
        Effect.map((page) => ({ events: page.slice(0, options.limit), hasMore: page.length > options.limit }))
      ),
    follow: (caller, sessionId, after) =>
      Effect.map(owned(caller, sessionId), (summary) => ({ summary, events: store.tail(sessionId, after) }))
  } satisfies Sessions.Service
})

export class Sessions extends Context.Tag("claude-code-api/Sessions")<Sessions, Sessions.Service>() {
  static readonly layer = Layer.effect(Sessions, makeSessions)
}
