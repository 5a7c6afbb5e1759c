/**
 * A turn's fiber, from its launch to its last record. The fiber starts its CLI first, and
 * `TurnStarted` is recorded while the CLI starts up; whatever the fiber appends waits until
 * that record is in, so the log's order is exact. However the turn ends (completed, failed,
 * timed out, cancelled, shut down), its end is recorded (`terminal`), then its claim on the
 * session and its global slot are given back. When the log cannot take the end (disk full,
 * database gone), the turn's readers are told at once and the end is retried until it can.
 */
import { Cause, Deferred, type Duration, Effect, Either, Exit, FiberMap, Schedule, Stream } from "effect"
import type { PermissionMode } from "../AppConfig.js"
import { SequenceConflict, type StoreError } from "../Domain/Errors.js"
import {
  isTurnTerminal,
  SessionCreated,
  type SessionEvent,
  type StoredEvent,
  TurnCancelled,
  TurnStarted
} from "../Domain/SessionEvent.js"
import type { TurnHandle, TurnRequest } from "../Domain/Turn.js"
import type { SessionStore } from "../SessionStore.js"
import type { AdmittedTurn, TurnClaim } from "./Admission.js"
import type { ProcessPool } from "./ProcessPool.js"
import { sessionAppender } from "./sessionLog.js"
import { terminalEventOf, type TurnExit } from "./terminal.js"
import { executeTurn } from "./TurnExecution.js"
import { logTurnEnd } from "./turnLog.js"

/** What turn fibers run with. */
export interface TurnFibers {
  readonly store: SessionStore.Service
  readonly pool: ProcessPool
  /** The running turns, one per session. */
  readonly fibers: FiberMap.FiberMap<string>
  /** Gives a session's claim back. */
  readonly release: (claim: TurnClaim) => Effect.Effect<void>
  readonly turnTimeout: Duration.DurationInput
  readonly systemPromptMode: "append" | "replace"
  readonly permissionMode: PermissionMode
  /** Keep Claude Code's own tools in turns that bring the client's. */
  readonly keepBuiltinTools: boolean
  /** The CLI's config directory, recorded with a new session. */
  readonly configDir: string
}

/**
 * The turn's events from `TurnStarted` through its end, replayed from the log and then followed
 * live; failing with `until`'s error when the end cannot be recorded.
 */
export const turnEvents = (
  store: SessionStore.Service,
  sessionId: string,
  turnId: string,
  startSequence: number,
  until: Effect.Effect<never, StoreError>
): Stream.Stream<StoredEvent, StoreError> =>
  store.tail(sessionId, startSequence - 1, until).pipe(
    Stream.filter((entry) => "turnId" in entry.event && entry.event.turnId === turnId),
    Stream.takeUntil((entry) => isTurnTerminal(entry.event))
  )

/** How often an end the log refused is tried again: soon at first, then every few seconds. */
const untilTheLogTakesIt = Schedule.exponential("250 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))

/**
 * Starts an admitted turn's fiber and records its start (and its session's, when new);
 * returns once `TurnStarted` is in the log. Fails with `StoreError` when it cannot be
 * recorded: the fiber is then stopped and records nothing.
 */
export const launchTurn = (
  context: TurnFibers,
  turn: AdmittedTurn,
  request: TurnRequest
): Effect.Effect<TurnHandle, StoreError> =>
  Effect.gen(function*() {
    const { claim, sessionId } = turn
    const appendToLog = sessionAppender(context.store, sessionId, turn.lastSequence)
    const launched = yield* Deferred.make<void>()
    const recorded = yield* Deferred.make<void, StoreError>()
    /** Records that the turn ended, if `events` end it. */
    const noteEnd = (events: ReadonlyArray<SessionEvent>) =>
      Effect.suspend(() => {
        if (!events.some(isTurnTerminal)) return Effect.void
        claim.ended = true
        return Effect.zipRight(
          Deferred.succeed(claim.ending, undefined),
          Deferred.succeed(claim.endRecorded, undefined)
        ).pipe(Effect.zipRight(logTurnEnd(turn, events)))
      })
    // The append and the note that the turn ended happen together, whatever interrupts them.
    const append = (events: ReadonlyArray<SessionEvent>) =>
      Deferred.await(recorded).pipe(
        Effect.zipRight(Effect.uninterruptible(Effect.zipRight(appendToLog(events), noteEnd(events))))
      )
    /**
     * Records the turn's end (unless the turn recorded its own, or never started). When the log
     * refuses it, the turn is over all the same: its readers get the failure, its slot is given
     * back, and the end is retried (interruptibly) with the session still claimed, so nothing is
     * appended after a turn without an end. A gateway stopped meanwhile records it when it starts.
     */
    const recordEnd = (exit: TurnExit, interruptible: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        if (Exit.isFailure(exit) && Cause.isDie(exit.cause)) yield* Effect.logError("turn died", exit.cause)
        const event = terminalEventOf(claim.turnId, exit, claim.cancelReason)
        if (event === null || claim.ended) return
        if (Exit.isFailure(yield* Effect.exit(Deferred.await(recorded)))) return
        const first = yield* Effect.either(append([event]))
        if (Either.isRight(first)) return
        if (first.left.cause instanceof SequenceConflict) {
          // Another node wrote to the session since: it runs there now (a cluster moved it), and
          // has recorded this turn's end itself. Nothing more may be written here.
          claim.ended = true
          yield* Effect.logWarning("the session moved to another node while its turn ran here", first.left)
          return yield* Deferred.fail(claim.endNotRecorded, first.left)
        }
        claim.ended = true
        claim.unrecordedEnd = first.left
        yield* Effect.logError(
          "the turn's end could not be recorded; its client is told, and the end is retried",
          first.left
        )
        yield* Effect.all([
          Deferred.fail(claim.endNotRecorded, first.left),
          Deferred.succeed(claim.ending, undefined),
          turn.freeSlot
        ])
        yield* interruptible(append([event]).pipe(Effect.retry(untilTheLogTakesIt)))
        yield* Effect.logInfo("the turn's end was recorded once the event log took writes again")
      }).pipe(Effect.annotateLogs({ session_id: sessionId, turn_id: claim.turnId }), Effect.ignoreLogged)
    const plan = {
      turn,
      outputSchema: request.outputSchema ?? null,
      systemPromptMode: context.systemPromptMode,
      permissionMode: context.permissionMode,
      keepBuiltinTools: context.keepBuiltinTools,
      append,
      launched
    }
    // A cancel that came while the turn was being launched (before its fiber could be
    // interrupted) stops it before its CLI does anything.
    const run = Effect.suspend(() =>
      claim.cancelReason === null
        ? executeTurn(context.pool, plan).pipe(Effect.timeoutOption(context.turnTimeout))
        : Effect.zipRight(Deferred.succeed(launched, undefined), Effect.interrupt)
    )
    const body = Effect.uninterruptibleMask((restore) =>
      restore(run).pipe(
        Effect.exit,
        Effect.flatMap((exit) => recordEnd(exit, restore)),
        Effect.ensuring(
          Effect.all([Deferred.succeed(launched, undefined), turn.freeSlot, context.release(claim)], { discard: true })
        )
      )
    )
    const started = new TurnStarted({
      turnId: claim.turnId,
      messages: turn.added,
      systemPrompt: turn.systemPrompt,
      requestedModel: request.model.requested,
      resolvedModel: turn.model.model,
      fallbackModels: turn.model.fallbacks,
      parameters: { ...request.parameters }
    })
    const owner = request.owner ?? null
    const opening = [
      ...(turn.interruptedTurnId === null
        ? []
        : [new TurnCancelled({ turnId: turn.interruptedTurnId, reason: "interrupted" })]),
      ...(turn.isNew
        ? [new SessionCreated({ projectId: turn.projectId, cwd: turn.cwd, configDir: context.configDir, owner })]
        : []),
      started
    ]
    // Not interruptible: once the fiber runs, its start must be recorded (or the fiber stopped).
    yield* Effect.uninterruptible(Effect.gen(function*() {
      yield* FiberMap.run(context.fibers, sessionId, body)
      yield* Deferred.await(launched)
      yield* appendToLog(opening).pipe(
        Effect.tapErrorCause((cause) =>
          // Not recorded, so it never started: stop the fiber (and its CLI); it records nothing.
          Effect.all([Deferred.failCause(recorded, cause), FiberMap.remove(context.fibers, sessionId), turn.freeSlot])
        )
      )
      yield* Deferred.succeed(recorded, undefined)
    }))
    const startSequence = turn.lastSequence + opening.length
    return {
      sessionId,
      projectId: turn.projectId,
      turnId: claim.turnId,
      startSequence,
      // Told through the tail's own wait, not `Stream.interruptWhen` (a fiber for every event).
      events: turnEvents(context.store, sessionId, claim.turnId, startSequence, Deferred.await(claim.endNotRecorded))
    } satisfies TurnHandle
  })
