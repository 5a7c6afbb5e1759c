/**
 * SessionRunner: the session actors. Each running turn is a supervised fiber, keyed by
 * its session, that drives `ClaudeProcess`, appends what happens to `SessionStore` and so
 * publishes it. A turn outlives the request that started it; it ends completed, failed
 * (with its typed error) or cancelled (with the reason), and that end is always recorded.
 * It never formats HTTP responses.
 */
import { Cause, Context, Deferred, Duration, Effect, Exit, FiberMap, Layer, Option, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import { AppConfig, type PermissionMode } from "./AppConfig.js"
import { ClaudeProcess } from "./ClaudeProcess.js"
import type { ContentPart, ConversationMessage } from "./Domain/Conversation.js"
import {
  CapacityExceeded,
  InternalFailure,
  InvalidTurnRequest,
  ModelRejected,
  SessionBusy,
  SessionNotFound,
  StoreError,
  type SequenceConflict,
  type TurnError
} from "./Domain/Errors.js"
import type { ResolvedModel } from "./Domain/Model.js"
import {
  type CancelReason,
  isTurnTerminal,
  ModelFallback,
  SessionCreated,
  type SessionEvent,
  type StoredEvent,
  TurnCancelled,
  TurnFailed,
  TurnStarted
} from "./Domain/SessionEvent.js"
import { ProjectPaths } from "./SessionRunner/projects.js"
import { promptContent } from "./SessionRunner/prompt.js"
import { initialTranslatorState, translate } from "./SessionRunner/translate.js"
import { SessionStore } from "./SessionStore.js"

/** What a turn is asked to do. */
export interface TurnRequest {
  /** Continue this session; absent starts a new one. */
  readonly sessionId?: string | undefined
  /** The project (working directory under the project root); default `default`. */
  readonly projectId?: string | undefined
  readonly messages: ReadonlyArray<ConversationMessage>
  readonly systemPrompt: string | null
  readonly model: ResolvedModel
  /** Other request parameters, recorded verbatim. */
  readonly parameters?: Readonly<Record<string, unknown>>
}

/** A started turn: where its events are and how to follow them. */
export interface TurnHandle {
  readonly sessionId: string
  readonly projectId: string
  readonly turnId: string
  /** Sequence number of the turn's `TurnStarted` event. */
  readonly startSequence: number
  /**
   * The turn's events from `TurnStarted` through its terminal event, replayed from the
   * log and then followed live; ends after the terminal event.
   */
  readonly events: Stream.Stream<StoredEvent, StoreError>
}

export declare namespace SessionRunner {
  export interface Service {
    /**
     * Records `TurnStarted` and starts the turn in its session's fiber, returning at once.
     * Fails with `SessionBusy` when the session already runs a turn, `CapacityExceeded`
     * when the global limit stays full past the queue timeout, `SessionNotFound` for an
     * unknown `sessionId`, and `InvalidTurnRequest` for a request no CLI turn can serve.
     */
    readonly startTurn: (
      request: TurnRequest
    ) => Effect.Effect<TurnHandle, SessionBusy | CapacityExceeded | SessionNotFound | InvalidTurnRequest | StoreError>
    /**
     * Stops the session's running turn: the CLI is killed, `TurnCancelled` with the reason
     * is recorded, and the effect returns once that is done. False when nothing was running.
     */
    readonly cancel: (sessionId: string, reason: CancelReason) => Effect.Effect<boolean>
    /** Whether the session runs a turn now. */
    readonly isRunning: (sessionId: string) => Effect.Effect<boolean>
    /** How many turns run now. */
    readonly runningCount: Effect.Effect<number>
  }
}

interface RunningTurn {
  readonly turnId: string
  cancelReason: CancelReason | null
  /** The turn's end is recorded; only its process is still winding down. */
  ended: boolean
  /** Completes when the turn's fiber is gone. */
  readonly done: Deferred.Deferred<void>
}

/** How long a new turn waits for the previous turn's process to exit. */
const windDownWait = Duration.seconds(5)

export const makeSessionRunner = Effect.gen(function*() {
  const config = yield* AppConfig
  const store = yield* SessionStore
  const claude = yield* ClaudeProcess
  const projects = new ProjectPaths(config.projectRoot)
  const fibers = yield* FiberMap.make<string>()
  const running = new Map<string, RunningTurn>()
  const slots = yield* Effect.makeSemaphore(config.maxConcurrentTurns)
  let shuttingDown = false

  // Runs before the FiberMap's own finalizer interrupts the turns: they record "shutdown".
  yield* Effect.addFinalizer(() => Effect.sync(() => (shuttingDown = true)))

  const turnEvents = (sessionId: string, turnId: string, startSequence: number) =>
    store.tail(sessionId, startSequence - 1).pipe(
      Stream.filter((entry) => "turnId" in entry.event && entry.event.turnId === turnId),
      Stream.takeUntil((entry) => isTurnTerminal(entry.event))
    )

  /** Appends under the actor's own sequence counter (one writer per session). */
  const makeAppender = (sessionId: string, initialSequence: number) => {
    let sequence = initialSequence
    return (events: ReadonlyArray<SessionEvent>): Effect.Effect<void, StoreError> =>
      events.length === 0
        ? Effect.void
        : store.append(sessionId, sequence, events).pipe(
          Effect.tap((stored) => Effect.sync(() => (sequence = stored[stored.length - 1]!.sequence))),
          Effect.catchTag("SequenceConflict", (conflict: SequenceConflict) =>
            Effect.fail(new StoreError({ message: `concurrent write to session ${conflict.sessionId}` }))),
          Effect.asVoid
        )
  }

  const executeTurn = (options: {
    readonly turnId: string
    readonly cwd: string
    readonly request: TurnRequest
    readonly content: ReadonlyArray<ContentPart>
    readonly append: (events: ReadonlyArray<SessionEvent>) => Effect.Effect<void, StoreError>
  }): Effect.Effect<void, TurnError | StoreError> =>
    Effect.gen(function*() {
      const { append, content, request, turnId } = options
      const candidates: ReadonlyArray<string | null> = [request.model.model, ...request.model.fallbacks]
      const rejected: Array<string> = []
      for (const [index, model] of candidates.entries()) {
        let state = initialTranslatorState(turnId)
        const attempt = claude.run(
          {
            cwd: options.cwd,
            model,
            systemPrompt: request.systemPrompt,
            systemPromptMode: config.systemPromptMode,
            permissionMode: config.permissionMode as PermissionMode,
            resume: null
          },
          content
        ).pipe(
          Stream.runForEach((event) => {
            const [next, events] = translate(state, event)
            state = next
            return append(events)
          }),
          Effect.either
        )
        const outcome = yield* attempt
        if (outcome._tag === "Right") return
        const error = outcome.left
        if (error._tag !== "ModelRejected") return yield* Effect.fail(error)
        rejected.push(model ?? "default")
        const next = candidates[index + 1]
        if (next === undefined) {
          return yield* new ModelRejected({ models: rejected, message: error.message })
        }
        yield* append([
          new ModelFallback({ turnId, fromModel: model ?? "default", toModel: next ?? "default", reason: "model_rejected" })
        ])
      }
    })

  const startTurn = (request: TurnRequest) =>
    Effect.gen(function*() {
      const content = promptContent(request.messages)
      if (content instanceof InvalidTurnRequest) return yield* Effect.fail(content)

      const isNew = request.sessionId === undefined
      const sessionId = request.sessionId ?? NodeCrypto.randomUUID()
      const lastSequence = isNew ? 0 : yield* store.lastSequence(sessionId)
      if (!isNew && lastSequence === 0) return yield* new SessionNotFound({ sessionId })

      const projectId = request.projectId ?? "default"
      const cwd = yield* projects.ensure(projectId)

      // A turn whose end is recorded is only winding its process down: wait for it.
      const previous = running.get(sessionId)
      if (previous?.ended === true) {
        yield* Deferred.await(previous.done).pipe(Effect.timeout(windDownWait), Effect.ignore)
      }
      // Claim the session synchronously: a concurrent request sees it busy at once.
      if (running.has(sessionId)) return yield* new SessionBusy({ sessionId })
      const turnId = `turn_${NodeCrypto.randomUUID().replaceAll("-", "")}`
      const slot: RunningTurn = { turnId, cancelReason: null, ended: false, done: yield* Deferred.make<void>() }
      running.set(sessionId, slot)

      return yield* Effect.gen(function*() {
        const acquired = yield* slots.take(1).pipe(
          Effect.timeoutOption(Duration.seconds(config.queueTimeoutSeconds))
        )
        if (Option.isNone(acquired)) {
          return yield* new CapacityExceeded({ limit: config.maxConcurrentTurns, retryAfterSeconds: 5 })
        }
        const appendToLog = makeAppender(sessionId, lastSequence)
        const append = (events: ReadonlyArray<SessionEvent>) =>
          appendToLog(events).pipe(
            Effect.tap(() => {
              if (events.some(isTurnTerminal)) slot.ended = true
            })
          )
        const started = new TurnStarted({
          turnId,
          messages: request.messages,
          systemPrompt: request.systemPrompt,
          requestedModel: request.model.requested,
          resolvedModel: request.model.model,
          fallbackModels: request.model.fallbacks,
          parameters: { ...request.parameters }
        })
        yield* append(isNew ? [new SessionCreated({ projectId, cwd }), started] : [started]).pipe(
          Effect.tapError(() => slots.release(1))
        )
        const startSequence = lastSequence + (isNew ? 2 : 1)

        let ended = false
        const end = (event: SessionEvent) =>
          ended ? Effect.void : append([event]).pipe(Effect.tap(() => (ended = true)), Effect.ignoreLogged)

        const fiberBody = Effect.uninterruptibleMask((restore) =>
          restore(
            executeTurn({ turnId, cwd, request, content, append }).pipe(
              Effect.timeoutOption(Duration.seconds(config.turnTimeoutSeconds))
            )
          ).pipe(
            Effect.exit,
            Effect.flatMap((exit) => {
              if (Exit.isSuccess(exit)) {
                return Option.isSome(exit.value) ? Effect.void : end(new TurnCancelled({ turnId, reason: "timeout" }))
              }
              if (Cause.isInterruptedOnly(exit.cause)) {
                const reason = slot.cancelReason ?? (shuttingDown ? "shutdown" : "interrupted")
                return end(new TurnCancelled({ turnId, reason }))
              }
              const failure = Cause.failureOption(exit.cause)
              if (Option.isSome(failure)) {
                const error: TurnError = failure.value._tag === "StoreError"
                  ? new InternalFailure({ message: failure.value.message })
                  : failure.value
                return end(new TurnFailed({ turnId, error }))
              }
              return Effect.logError("turn died", exit.cause).pipe(
                Effect.zipRight(end(new TurnFailed({ turnId, error: new InternalFailure({ message: "unexpected failure" }) })))
              )
            }),
            Effect.ensuring(
              Effect.zipRight(
                slots.release(1),
                Effect.sync(() => {
                  if (running.get(sessionId) === slot) running.delete(sessionId)
                }).pipe(Effect.zipRight(Deferred.succeed(slot.done, undefined)))
              )
            )
          )
        )
        yield* FiberMap.run(fibers, sessionId, fiberBody)
        return {
          sessionId,
          projectId,
          turnId,
          startSequence,
          events: turnEvents(sessionId, turnId, startSequence)
        } satisfies TurnHandle
      }).pipe(
        Effect.onError(() =>
          Effect.sync(() => {
            if (running.get(sessionId) === slot) running.delete(sessionId)
          })
        )
      )
    })

  const cancel = (sessionId: string, reason: CancelReason) =>
    Effect.gen(function*() {
      const slot = running.get(sessionId)
      if (slot === undefined) return false
      slot.cancelReason ??= reason
      yield* FiberMap.remove(fibers, sessionId)
      return true
    })

  return {
    startTurn,
    cancel,
    isRunning: (sessionId) => Effect.sync(() => running.has(sessionId)),
    runningCount: Effect.sync(() => running.size)
  } satisfies SessionRunner.Service
})

export class SessionRunner extends Context.Tag("claude-code-api/SessionRunner")<SessionRunner, SessionRunner.Service>() {
  static readonly layer = Layer.scoped(SessionRunner, makeSessionRunner)
}
