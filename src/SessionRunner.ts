/**
 * SessionRunner: the session actors. A running turn is a supervised fiber keyed by its
 * session; it drives a CLI process, appends what happens to `SessionStore` (which
 * publishes it) and outlives the request that started it. Its end is always recorded:
 * completed, failed with its typed error, or cancelled with the reason.
 *
 * Its parts, one job each: `Admission` (which session, busy claim, global limit),
 * `turnFiber` (a turn's fiber, its start and end recorded), `TurnExecution` (fallback
 * chain, resume retry, translation), `ProcessPool` (warm and spare processes, passivation)
 * and `terminal` (a turn's exit as its last event). This module assembles them and owns
 * the sessions' lifecycle (create, cancel, close, shut down). It never formats HTTP
 * responses.
 */
import { Context, Deferred, Duration, Effect, FiberMap, Layer } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { AppConfig, type AppConfigShape } from "./AppConfig.js"
import { ClaudeProcess } from "./ClaudeProcess.js"
import {
  type CapacityExceeded,
  type InvalidTurnRequest,
  type ProjectNotFound,
  type QueuedTurnCancelled,
  SessionBusy,
  type SessionIsClosed,
  SessionNotFound,
  type ShuttingDown,
  type StoreError
} from "./Domain/Errors.js"
import { defaultProjectOf } from "./Domain/Session.js"
import {
  type CancelReason,
  type HeldCallsDropReason,
  ResponseDeleted,
  SessionClosed,
  SessionCreated,
  type StoredEvent,
  ToolCallsExpired,
  TurnCancelled
} from "./Domain/SessionEvent.js"
import type { NewSession, SessionActivity, TurnHandle, TurnRequest } from "./Domain/Turn.js"
import { warnOnFailure } from "./Logging.js"
import { ModelRegistry } from "./ModelRegistry.js"
import { Projects } from "./Projects.js"
import { SessionQueries } from "./SessionQueries.js"
import { defaultBusyGrace, defaultEndingWait, makeAdmission, type TurnClaim } from "./SessionRunner/Admission.js"
import { historyOf } from "./SessionRunner/history.js"
import { makeProcessPool } from "./SessionRunner/ProcessPool.js"
import { sessionAppender } from "./SessionRunner/sessionLog.js"
import { launchTurn, type TurnFibers } from "./SessionRunner/turnFiber.js"
import { SessionStore } from "./SessionStore.js"

export declare namespace SessionRunner {
  export interface Service {
    /**
     * Records `TurnStarted` and starts the turn in its session's fiber, returning at once.
     * Fails with `SessionBusy` when the session already runs a turn (one being cancelled is
     * waited for, up to two seconds), `CapacityExceeded` when the global limit stays full
     * past the queue timeout, `QueuedTurnCancelled` when it is cancelled while waiting for
     * the limit, `SessionNotFound` / `SessionIsClosed` for a `sessionId` that cannot take
     * turns (another owner's session is not found), `ProjectNotFound` for a project another
     * owner's (see `Projects.ensure`), `InvalidTurnRequest` for a request no CLI
     * turn can serve, and `ShuttingDown` once shutdown has begun. Once the turn's fiber runs,
     * interrupting the caller does not stop it: the turn is cancelled only by `cancel`.
     */
    readonly startTurn: (
      request: TurnRequest
    ) => Effect.Effect<
      TurnHandle,
      | SessionBusy
      | CapacityExceeded
      | QueuedTurnCancelled
      | SessionNotFound
      | SessionIsClosed
      | ProjectNotFound
      | InvalidTurnRequest
      | ShuttingDown
      | StoreError
    >
    /**
     * Creates an empty session in a project (registered if it is new; the owner's default
     * project when none is named); another owner's project is `ProjectNotFound`.
     */
    readonly createSession: (
      session: NewSession
    ) => Effect.Effect<
      { readonly sessionId: string; readonly projectId: string },
      InvalidTurnRequest | ProjectNotFound | StoreError
    >
    /**
     * Stops the session's running turn (only if it is `turnId`, when given): the CLI is asked
     * to stop (killed if it does not within a second), `TurnCancelled` with the reason is
     * recorded, and the effect returns once that is done. A turn still waiting for the global
     * limit gives up instead. False when nothing was running.
     */
    readonly cancel: (sessionId: string, reason: CancelReason, turnId?: string) => Effect.Effect<boolean>
    /**
     * Closes a session: its running turn is cancelled, its process stopped, and it takes no
     * more turns. Its history stays in the log (`SessionClosed`) unless `purge` deletes it.
     */
    readonly closeSession: (
      sessionId: string,
      options: { readonly purge: boolean }
    ) => Effect.Effect<void, SessionNotFound | StoreError>
    /**
     * Records that the response of a session's turn was deleted (`ResponseDeleted`), between
     * turns: a turn running in the session is waited for, up to `responseDeletionWait` (cancel
     * it first if it is that turn), then `SessionBusy`. Recorded once; nothing is recorded in a
     * purged session.
     */
    readonly recordResponseDeleted: (
      sessionId: string,
      turnId: string
    ) => Effect.Effect<void, SessionBusy | StoreError>
    /** What runs in a session now. */
    readonly activity: (sessionId: string) => Effect.Effect<SessionActivity>
    /** How many turns run now. */
    readonly runningCount: Effect.Effect<number>
    /** How many sessions keep a warm CLI process. */
    readonly warmCount: Effect.Effect<number>
    /** The sessions with a live CLI process: running a turn, or warm. */
    readonly liveSessions: Effect.Effect<ReadonlyArray<string>>
    /**
     * Cancels every running turn (recorded as `shutdown`), then stops every process; no
     * turn starts afterwards. Also runs when the layer closes.
     */
    readonly shutdown: Effect.Effect<void>
  }

  /** The runner of this process's own sessions, with what a cluster asks of it besides. */
  export interface Local extends Service {
    /**
     * Gives a session up (another node runs it from now on): its running turn is cancelled
     * (recorded as `interrupted`: sent again, it runs there), its process stopped and its held
     * tool calls dropped.
     */
    readonly relinquish: (sessionId: string) => Effect.Effect<void>
    /**
     * Records the session's unfinished turn as interrupted, unless a turn of this gateway holds
     * the session: the node that ran it is gone. Failures are logged.
     */
    readonly endOrphanedTurn: (sessionId: string) => Effect.Effect<void>
    /**
     * Returns once the session's turn `turnId` is over here (at once when it does not run here),
     * or fails with the log's error when its end could not be recorded: how a reader on another
     * node learns what the log cannot tell it.
     */
    readonly awaitTurnEnd: (sessionId: string, turnId: string) => Effect.Effect<void, StoreError>
  }
}

/** Where the CLI keeps its transcripts: a session resumes only with the same directory. */
const cliConfigDir = (config: AppConfigShape) =>
  config.cliEnv.CLAUDE_CONFIG_DIR ?? process.env.CLAUDE_CONFIG_DIR ??
    NodePath.join(config.cliEnv.HOME ?? process.env.HOME ?? NodeOs.homedir(), ".claude")

/** How long deleting a response waits for a turn running in its session before `SessionBusy`. */
const responseDeletionWait = Duration.seconds(2)

export const makeSessionRunner = Effect.gen(function*() {
  const config = yield* AppConfig
  const store = yield* SessionStore
  const queries = yield* SessionQueries
  const projects = yield* Projects
  const registry = yield* ModelRegistry
  const claude = yield* ClaudeProcess
  const configDir = cliConfigDir(config)

  // Turns that were running when the gateway last stopped (even by SIGKILL) are over.
  // A session may have several: each is recorded after the last event as it is then. In a
  // cluster other nodes run turns in the same log: a session's unfinished turn is ended by the
  // node it moves to instead (see `endOrphanedTurn`).
  for (const unfinished of config.cluster === null ? yield* queries.unfinishedTurns : []) {
    yield* store.lastSequence(unfinished.sessionId).pipe(
      Effect.flatMap((last) =>
        sessionAppender(store, unfinished.sessionId, last)([
          new TurnCancelled({ turnId: unfinished.turnId, reason: "interrupted" })
        ])
      ),
      warnOnFailure("could not record the end of a turn the gateway's last run left unfinished")
    )
  }

  const fibers = yield* FiberMap.make<string>()
  const admission = yield* makeAdmission({ store, queries, projects, registry }, {
    maxConcurrentTurns: config.maxConcurrentTurns,
    queueTimeout: Duration.seconds(config.queueTimeoutSeconds),
    busyGrace: defaultBusyGrace,
    endingWait: defaultEndingWait,
    configDir
  })

  /**
   * Runs `write` over the session's log while no turn runs there: a running turn is waited for
   * with `awaitEnd` (until its claim is released, by default).
   */
  const writeBetweenTurns = <A, E, E2 = never>(
    sessionId: string,
    write: (events: ReadonlyArray<StoredEvent>) => Effect.Effect<A, E>,
    awaitEnd: (running: TurnClaim) => Effect.Effect<void, E2> = (running) => Deferred.await(running.released)
  ): Effect.Effect<A, E | E2 | StoreError> =>
    Effect.gen(function*() {
      for (;;) {
        const claim = yield* admission.reserve(sessionId)
        if (claim !== null) {
          return yield* Effect.ensuring(Effect.flatMap(store.read(sessionId), write), admission.release(claim))
        }
        const current = admission.current(sessionId)
        // Nothing to claim against once admission has stopped: no turn can start any more.
        if (current === undefined) return yield* Effect.flatMap(store.read(sessionId), write)
        // The log refused the last turn's end: it refuses this write too, so do not wait for it.
        if (current.unrecordedEnd !== null) return yield* current.unrecordedEnd
        yield* awaitEnd(current)
      }
    })

  /**
   * Runs `write` with the session claimed as a turn would hold it, unless a turn holds it (then
   * nothing is done: that turn has the last word). Once admission has stopped (shutdown) nothing
   * can be claimed and no turn can start: `write` runs unclaimed.
   */
  const unlessTurnRuns = <E>(sessionId: string, write: Effect.Effect<void, E>) =>
    Effect.acquireUseRelease(
      admission.reserve(sessionId),
      (claim) => (claim === null && admission.current(sessionId) !== undefined ? Effect.void : write),
      (claim) => (claim === null ? Effect.void : admission.release(claim))
    )

  /**
   * Records that a session's held tool calls were given up, unless a turn holds the session
   * (that turn goes on without the process, which is all there is to say).
   */
  const recordHeldCallsDropped = (sessionId: string, callIds: ReadonlyArray<string>, reason: HeldCallsDropReason) =>
    unlessTurnRuns(
      sessionId,
      store.lastSequence(sessionId).pipe(
        // A purged session stays gone.
        Effect.flatMap((last) =>
          last === 0
            ? Effect.void
            : sessionAppender(store, sessionId, last)([new ToolCallsExpired({ callIds, reason })])
        )
      )
    ).pipe(warnOnFailure("could not record that held tool calls were given up"))

  const pool = yield* makeProcessPool(claude, {
    sessionIdleSeconds: config.sessionIdleSeconds,
    maxWarmProcesses: config.maxWarmProcesses,
    spareProcess: config.spareProcess,
    toolCallTimeout: Duration.seconds(config.toolCallTimeoutSeconds),
    onHeldCallsDropped: recordHeldCallsDropped
  })
  const turnFibers: TurnFibers = {
    store,
    pool,
    fibers,
    release: admission.release,
    turnTimeout: Duration.seconds(config.turnTimeoutSeconds),
    systemPromptMode: config.systemPromptMode,
    permissionMode: config.permissionMode,
    keepBuiltinTools: config.clientToolsKeepBuiltins,
    configDir
  }

  // Admission waits interruptibly; from then on the claim and the slot reach the turn's
  // fiber, which gives them back, or are given back here when it never started. A caller
  // interrupted meanwhile gets no handle: its turn runs on, or is cancelled if it asked.
  const startTurn = Effect.fn("SessionRunner.startTurn")((request: TurnRequest) =>
    Effect.suspend(() => {
      let started: TurnHandle | null = null
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(admission.admit(request)), (turn) =>
          launchTurn(turnFibers, turn, request).pipe(
            Effect.onError(() => Effect.zipRight(turn.freeSlot, admission.release(turn.claim))),
            Effect.tap((handle) => {
              started = handle
            })
          ))
      ).pipe(
        Effect.onInterrupt(() =>
          started !== null && request.cancelIfCallerGone === true
            ? Effect.asVoid(cancel(started.sessionId, "disconnect", started.turnId))
            : Effect.void
        )
      )
    })
  )

  /** Records why a turn is stopped (the first reason wins); a turn waiting for the session sees it ending. */
  const markCancelled = (claim: TurnClaim, reason: CancelReason) =>
    Effect.suspend(() => {
      claim.cancelReason ??= reason
      return Deferred.succeed(claim.ending, undefined)
    })

  const cancel = Effect.fn("SessionRunner.cancel")(function*(sessionId: string, reason: CancelReason, turnId?: string) {
    const claim = admission.current(sessionId)
    if (claim === undefined && turnId === undefined && pool.heldCalls(sessionId).length > 0) {
      // Between turns, waiting for the client's tool results: the held calls are given up.
      yield* pool.release(sessionId, "cancelled")
      return true
    }
    if (claim === undefined || claim.ended || (turnId !== undefined && claim.turnId !== turnId)) return false
    yield* markCancelled(claim, reason)
    yield* FiberMap.remove(fibers, sessionId)
    yield* Deferred.await(claim.endRecorded)
    return true
  })

  const createSession = Effect.fn("SessionRunner.createSession")(function*(session: NewSession) {
    const projectId = session.projectId ?? defaultProjectOf(session.owner)
    const { path: cwd } = yield* projects.ensure(session.owner, projectId)
    const sessionId = NodeCrypto.randomUUID()
    yield* sessionAppender(store, sessionId, 0)([
      new SessionCreated({
        projectId,
        cwd,
        configDir,
        owner: session.owner,
        title: session.title ?? null,
        model: session.model ?? null,
        systemPrompt: session.systemPrompt ?? null
      })
    ])
    return { sessionId, projectId }
  })

  const closeSession = Effect.fn("SessionRunner.closeSession")(
    function*(sessionId: string, options: { readonly purge: boolean }) {
      if ((yield* store.lastSequence(sessionId)) === 0) return yield* new SessionNotFound({ sessionId })
      yield* cancel(sessionId, "client")
      yield* pool.release(sessionId)
      if (options.purge) return yield* writeBetweenTurns(sessionId, () => store.purge(sessionId))
      yield* writeBetweenTurns(sessionId, (events) => {
        const history = historyOf(events)
        return history.closed ? Effect.void : Effect.asVoid(
          sessionAppender(store, sessionId, history.lastSequence)([new SessionClosed({ reason: "closed by client" })])
        )
      })
    }
  )

  const recordResponseDeleted = Effect.fn("SessionRunner.recordResponseDeleted")(
    function*(sessionId: string, turnId: string) {
      yield* writeBetweenTurns(sessionId, (events) => {
        const last = events[events.length - 1]
        const deleted = events.some(({ event }) => event._tag === "ResponseDeleted" && event.turnId === turnId)
        return last === undefined || deleted
          ? Effect.void
          : Effect.asVoid(sessionAppender(store, sessionId, last.sequence)([new ResponseDeleted({ turnId })]))
      }, (running) =>
        Deferred.await(running.released).pipe(
          Effect.timeoutFail({ duration: responseDeletionWait, onTimeout: () => new SessionBusy({ sessionId }) })
        ))
    }
  )

  const activity = (sessionId: string) =>
    Effect.sync((): SessionActivity => {
      const claim = admission.current(sessionId)
      const running = claim !== undefined && !claim.ended
      return {
        running,
        turnId: running ? claim.turnId : null,
        startedAt: running ? claim.startedAt : null,
        warm: pool.isWarm(sessionId)
      }
    })

  const relinquish = (sessionId: string) =>
    Effect.zipRight(cancel(sessionId, "interrupted"), pool.release(sessionId, "shutdown"))

  const endOrphanedTurn = (sessionId: string) =>
    unlessTurnRuns(
      sessionId,
      Effect.flatMap(store.read(sessionId), (events) => {
        const { lastSequence, unfinishedTurnId } = historyOf(events)
        return unfinishedTurnId === null ? Effect.void : Effect.asVoid(
          sessionAppender(store, sessionId, lastSequence)([
            new TurnCancelled({ turnId: unfinishedTurnId, reason: "interrupted" })
          ])
        )
      })
    ).pipe(warnOnFailure("could not record the end of a turn whose node stopped while it ran"))

  const awaitTurnEnd = (sessionId: string, turnId: string) =>
    Effect.suspend(() => {
      const claim = admission.current(sessionId)
      return claim === undefined || claim.turnId !== turnId
        ? Effect.void
        : Effect.raceFirst(Deferred.await(claim.released), Deferred.await(claim.endNotRecorded))
    })

  // Every turn is stopped first (recording why), then every process.
  const shutdown = Effect.gen(function*() {
    yield* admission.stop
    yield* Effect.forEach(admission.claims(), (claim) => markCancelled(claim, "shutdown"), { discard: true })
    yield* FiberMap.clear(fibers)
    yield* pool.shutdown
  })
  yield* Effect.addFinalizer(() => shutdown)

  return {
    startTurn,
    createSession,
    cancel,
    closeSession,
    recordResponseDeleted,
    activity,
    runningCount: Effect.sync(() => admission.claims().filter((claim) => !claim.ended).length),
    warmCount: Effect.sync(() => pool.warmSessions().length),
    liveSessions: Effect.sync(() => [
      ...new Set([
        ...admission.claims().filter((claim) => !claim.ended).map((claim) => claim.sessionId),
        ...pool.warmSessions()
      ])
    ]),
    shutdown,
    relinquish,
    endOrphanedTurn,
    awaitTurnEnd
  } satisfies SessionRunner.Local
})

export class SessionRunner
  extends Context.Tag("claude-code-api/SessionRunner")<SessionRunner, SessionRunner.Service>()
{
  static readonly layer = Layer.scoped(SessionRunner, makeSessionRunner)
}
