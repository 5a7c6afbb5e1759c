/**
 * SessionRunner: the session actors. A running turn is a supervised fiber keyed by its
 * session; it drives a CLI process, appends what happens to `SessionStore` (which
 * publishes it) and outlives the request that started it. Its end is always recorded:
 * completed, failed with its typed error, or cancelled with the reason.
 *
 * Sessions remember. A turn continues its session's CLI conversation: on the session's
 * warm process when one is alive (long-lived `--input-format stream-json` mode), else on a
 * new process started with `--resume`, else (transcript gone, other machine) on a new
 * process given the conversation rebuilt from the log. Idle processes are stopped after a
 * while and resumed on the next turn. Stateless clients that resend the whole history
 * find their session by the digest of the conversation.
 *
 * It never formats HTTP responses.
 */
import { Cause, Context, Deferred, Duration, Effect, Exit, Fiber, FiberMap, Layer, Option, Scope, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { AppConfig } from "./AppConfig.js"
import { ClaudeProcess, type CliConnection, type CliLaunch } from "./ClaudeProcess.js"
import { type ContentPart, type ConversationMessage } from "./Domain/Conversation.js"
import {
  CapacityExceeded,
  type CliError,
  InternalFailure,
  InvalidTurnRequest,
  ModelRejected,
  type SequenceConflict,
  SessionBusy,
  SessionIsClosed,
  SessionNotFound,
  ShuttingDown,
  StoreError,
  type TurnError
} from "./Domain/Errors.js"
import type { ResolvedModel } from "./Domain/Model.js"
import {
  type CancelReason,
  isTurnTerminal,
  ModelFallback,
  SessionClosed,
  SessionCreated,
  type SessionEvent,
  type StoredEvent,
  TurnCancelled,
  TurnCompleted,
  TurnFailed,
  TurnStarted
} from "./Domain/SessionEvent.js"
import { withDeadline } from "./Internal/deadline.js"
import {
  afterLastAssistant,
  answerOf,
  digestOf,
  historyOf,
  newMessagesOf,
  type SessionHistory
} from "./SessionRunner/history.js"
import { ProjectPaths } from "./SessionRunner/projects.js"
import { promptContent } from "./SessionRunner/prompt.js"
import { initialTranslatorState, translate } from "./SessionRunner/translate.js"
import { SessionStore } from "./SessionStore.js"

/** What a turn is asked to do. */
export interface TurnRequest {
  /** Continue this session; absent continues the session that holds the request's history, or starts one. */
  readonly sessionId?: string | undefined
  /** The project (working directory under the project root) of a new session; default `default`. */
  readonly projectId?: string | undefined
  /** Who asks: sessions belong to their creator (null when auth is off). */
  readonly owner?: string | null | undefined
  /** The conversation as the client sent it: the whole history, or only the new messages. */
  readonly messages: ReadonlyArray<ConversationMessage>
  readonly systemPrompt: string | null
  readonly model: ResolvedModel
  /** A JSON Schema the answer must follow (structured output), or none. */
  readonly outputSchema?: string | null | undefined
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

/** What runs in a session right now. */
export interface SessionActivity {
  readonly running: boolean
  readonly turnId: string | null
  /** Milliseconds since the epoch. */
  readonly startedAt: number | null
  /** Whether the session has a warm CLI process. */
  readonly warm: boolean
}

export declare namespace SessionRunner {
  export interface Service {
    /**
     * Records `TurnStarted` and starts the turn in its session's fiber, returning at once.
     * Fails with `SessionBusy` when the session already runs a turn, `CapacityExceeded`
     * when the global limit stays full past the queue timeout, `SessionNotFound` /
     * `SessionIsClosed` for a `sessionId` that cannot take turns, `InvalidTurnRequest` for a
     * request no CLI turn can serve, and `ShuttingDown` once shutdown has begun.
     */
    readonly startTurn: (
      request: TurnRequest
    ) => Effect.Effect<
      TurnHandle,
      | SessionBusy
      | CapacityExceeded
      | SessionNotFound
      | SessionIsClosed
      | InvalidTurnRequest
      | ShuttingDown
      | StoreError
    >
    /** Creates an empty session in a project, belonging to `owner`. */
    readonly createSession: (
      projectId: string,
      owner: string | null
    ) => Effect.Effect<{ readonly sessionId: string; readonly projectId: string }, InvalidTurnRequest | StoreError>
    /**
     * Stops the session's running turn: the CLI is asked to stop (killed if it does not
     * within a second), `TurnCancelled` with the reason is recorded, and the effect returns
     * once that is done. False when nothing was running.
     */
    readonly cancel: (sessionId: string, reason: CancelReason) => Effect.Effect<boolean>
    /**
     * Closes a session: its running turn is cancelled, its process stopped, and it takes no
     * more turns. Its history stays in the log (`SessionClosed`) unless `purge` deletes it.
     */
    readonly closeSession: (
      sessionId: string,
      options: { readonly purge: boolean }
    ) => Effect.Effect<void, SessionNotFound | StoreError>
    /** What runs in a session now. */
    readonly activity: (sessionId: string) => Effect.Effect<SessionActivity>
    /** How many turns run now. */
    readonly runningCount: Effect.Effect<number>
    /** How many sessions keep a warm CLI process. */
    readonly warmCount: Effect.Effect<number>
    /**
     * Cancels every running turn (recorded as `shutdown`) and stops every process; new
     * turns are still accepted afterwards only by a new runner. Also runs when the layer closes.
     */
    readonly shutdown: Effect.Effect<void>
  }
}

interface RunningTurn {
  readonly turnId: string
  readonly startedAt: number
  cancelReason: CancelReason | null
  /** The turn's end is recorded; only its process is still winding down. */
  ended: boolean
  /** Completes when the turn's fiber is gone. */
  readonly done: Deferred.Deferred<void>
}

/** A session's live CLI process, kept between turns. */
interface WarmProcess {
  /** What the process was started with (a turn that needs anything else needs a new one). */
  readonly key: string
  readonly launch: CliLaunch
  readonly connection: CliConnection
  readonly scope: Scope.CloseableScope
  /** Whether the process holds the session's conversation (warm, or resumed). */
  holdsConversation: boolean
  /** A turn is using the process: idle timers and evictions leave it alone. */
  inUse: boolean
  lastUsed: number
  idleTimer: Fiber.RuntimeFiber<void> | null
}

/** How long a new turn waits for the previous turn's process to exit. */
const windDownWait = Duration.seconds(5)
/** How long a cancelled turn's CLI gets to stop before it is killed. */
const stopWithin = Duration.seconds(1)
/** How long an idle process gets to exit by itself when it is passivated. */
const exitGrace = Duration.seconds(3)

/**
 * The spare process (started ahead of the next new session) lives among the warm ones
 * under this key, so idle timers, passivation and shutdown treat it like any other.
 */
const spareKey = "<spare>"

const launchKey = (launch: CliLaunch) =>
  JSON.stringify([
    launch.cwd,
    launch.model,
    launch.systemPrompt,
    launch.systemPromptMode,
    launch.permissionMode,
    launch.jsonSchema ?? null
  ])

const resumeFailed = (error: CliError) => error._tag === "CliTurnError" && /no conversation found/i.test(error.message)

export const makeSessionRunner = Effect.gen(function*() {
  const config = yield* AppConfig
  const store = yield* SessionStore
  const claude = yield* ClaudeProcess
  const runnerScope = yield* Effect.scope
  const projects = new ProjectPaths(config.projectRoot)
  const fibers = yield* FiberMap.make<string>()
  const running = new Map<string, RunningTurn>()
  const warm = new Map<string, WarmProcess>()
  let spareStarting = false
  const slots = yield* Effect.makeSemaphore(config.maxConcurrentTurns)
  let shuttingDown = false

  /** Where the CLI keeps transcripts: resuming only works with the same one. */
  const configDir = config.cliEnv.CLAUDE_CONFIG_DIR ?? process.env.CLAUDE_CONFIG_DIR ??
    NodePath.join(config.cliEnv.HOME ?? process.env.HOME ?? NodeOs.homedir(), ".claude")

  // Turns that were running when the gateway last stopped (even by SIGKILL) are over.
  for (const unfinished of yield* store.unfinishedTurns) {
    yield* store.lastSequence(unfinished.sessionId).pipe(
      Effect.flatMap((last) =>
        store.append(unfinished.sessionId, last, [
          new TurnCancelled({ turnId: unfinished.turnId, reason: "interrupted" })
        ])
      ),
      Effect.ignoreLogged
    )
  }

  // ---------------------------------------------------------------------------
  // Warm processes

  /** Stops a session's warm process: gracefully (stdin closed, a moment to exit) unless `now`. */
  const passivate = (sessionId: string, options?: { readonly now?: boolean }) =>
    Effect.suspend(() => {
      const entry = warm.get(sessionId)
      if (entry === undefined) return Effect.void
      warm.delete(sessionId)
      const timer = entry.idleTimer
      entry.idleTimer = null
      const graceful = options?.now === true
        ? Effect.void
        : entry.connection.endInput.pipe(Effect.zipRight(withDeadline(entry.connection.awaitExit, exitGrace)))
      return Effect.zipRight(
        timer !== null ? Fiber.interruptFork(timer) : Effect.void,
        Effect.zipRight(graceful, Scope.close(entry.scope, Exit.void))
      )
    }).pipe(Effect.uninterruptible)

  /** Passivates a session's process unless a turn is using it (or it was replaced). */
  const passivateIdle = (sessionId: string, entry?: WarmProcess) =>
    Effect.suspend(() => {
      const current = warm.get(sessionId)
      return current === undefined || current.inUse || (entry !== undefined && current !== entry)
        ? Effect.void
        : passivate(sessionId)
    })

  /** Stops the process held under `key` once it has been idle for `sessionIdleSeconds` (unless it is in use again). */
  const idleTimerFor = (key: string, entry: WarmProcess) =>
    Effect.sleep(Duration.seconds(config.sessionIdleSeconds)).pipe(
      Effect.zipRight(passivateIdle(key, entry)),
      Effect.forkIn(runnerScope)
    )

  /** After a turn: keep the process for `sessionIdleSeconds`, and no more than `maxWarmProcesses` of them. */
  const keepWarm = (sessionId: string, entry: WarmProcess) =>
    Effect.gen(function*() {
      entry.lastUsed = Date.now()
      entry.inUse = false
      if (config.maxWarmProcesses === 0 || shuttingDown) return yield* passivate(sessionId)
      entry.idleTimer = yield* idleTimerFor(sessionId, entry)
      const sessions = [...warm.entries()].filter(([id]) => id !== spareKey)
      const idle = sessions.filter(([, candidate]) => !candidate.inUse).sort(([, a], [, b]) => a.lastUsed - b.lastUsed)
      // Evicting other sessions' processes must not hold up the end of this turn.
      const evicted = idle.slice(0, Math.max(0, sessions.length - config.maxWarmProcesses))
      if (evicted.length > 0) {
        yield* Effect.forEach(evicted, ([id, candidate]) => passivateIdle(id, candidate), { discard: true }).pipe(
          Effect.forkIn(runnerScope)
        )
      }
      if (config.spareProcess) yield* startSpare({ ...entry.launch, resume: null })
    })

  /**
   * Starts, in the background, an idle process with these settings for the next new
   * session, unless one is there already; a spare with other settings is replaced. It is
   * stopped after `sessionIdleSeconds` unused, like any warm process.
   */
  const startSpare = (launch: CliLaunch) =>
    Effect.suspend(() => {
      const key = launchKey(launch)
      if (spareStarting || shuttingDown || warm.get(spareKey)?.key === key) return Effect.void
      spareStarting = true
      return Effect.gen(function*() {
        yield* passivate(spareKey)
        const scope = yield* Scope.make()
        const connection = yield* claude.start(launch).pipe(
          Scope.extend(scope),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        if (shuttingDown) return yield* Scope.close(scope, Exit.void)
        const entry: WarmProcess = {
          key,
          launch,
          connection,
          scope,
          holdsConversation: false,
          inUse: false,
          lastUsed: Date.now(),
          idleTimer: null
        }
        warm.set(spareKey, entry)
        entry.idleTimer = yield* idleTimerFor(spareKey, entry)
      }).pipe(
        Effect.ensuring(Effect.sync(() => (spareStarting = false))),
        Effect.ignoreLogged,
        Effect.forkIn(runnerScope),
        Effect.asVoid
      )
    })

  /**
   * The session's process for `launch`, and this turn's events on it: its warm process when
   * that fits, else the spare, else a new process started with the turn's message already
   * queued. `contentFor` gives the message for a process that holds the conversation or not.
   */
  const acquire = (
    sessionId: string,
    launch: CliLaunch,
    contentFor: (holdsConversation: boolean) => Effect.Effect<ReadonlyArray<ContentPart>, InternalFailure>
  ) =>
    Effect.gen(function*() {
      const key = launchKey(launch)
      const onKept = (entry: WarmProcess) =>
        Effect.map(
          contentFor(entry.holdsConversation),
          (content) => ({ entry, events: entry.connection.turn(content) })
        )
      const current = warm.get(sessionId)
      if (current !== undefined) {
        if (current.key === key) {
          // Claimed before the next yield point, so an idle timer firing now leaves it alone.
          current.inUse = true
          if (yield* current.connection.isRunning) {
            if (current.idleTimer !== null) yield* Fiber.interruptFork(current.idleTimer)
            current.idleTimer = null
            return yield* onKept(current)
          }
        }
        yield* passivate(sessionId)
      }
      // A new session takes the spare when it was started with exactly these settings.
      const spare = warm.get(spareKey)
      if (launch.resume === null && spare !== undefined && spare.key === key && !spare.inUse) {
        warm.delete(spareKey)
        spare.inUse = true
        if (spare.idleTimer !== null) yield* Fiber.interruptFork(spare.idleTimer)
        spare.idleTimer = null
        if (yield* spare.connection.isRunning) {
          warm.set(sessionId, spare)
          return yield* onKept(spare)
        }
        yield* Scope.close(spare.scope, Exit.void)
      }
      const holdsConversation = launch.resume !== null
      const content = yield* contentFor(holdsConversation)
      const scope = yield* Scope.make()
      const [connection, events] = yield* claude.startTurn(launch, content).pipe(
        Scope.extend(scope),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      const entry: WarmProcess = {
        key,
        launch,
        connection,
        scope,
        holdsConversation,
        inUse: true,
        lastUsed: Date.now(),
        idleTimer: null
      }
      warm.set(sessionId, entry)
      return { entry, events }
    })

  /**
   * Stops a cancelled turn: the CLI is interrupted (so its transcript records the partial
   * answer), then its process ends; it is killed when the interrupt is not honoured within
   * a second. The next turn resumes the session.
   */
  const settleAbandoned = (sessionId: string, entry: WarmProcess) =>
    entry.connection.cancelTurn(stopWithin).pipe(
      Effect.flatMap((stopped) => passivate(sessionId, { now: !stopped }))
    )

  // Close every turn first (recording why), then every process.
  const shutdown = Effect.gen(function*() {
    shuttingDown = true
    yield* FiberMap.clear(fibers)
    for (const sessionId of [...warm.keys()]) yield* passivate(sessionId)
  })
  yield* Effect.addFinalizer(() => shutdown)

  // ---------------------------------------------------------------------------
  // Turns

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

  interface TurnPlan {
    readonly sessionId: string
    readonly turnId: string
    readonly cwd: string
    readonly request: TurnRequest
    /** The conversation the session already holds. */
    readonly held: ReadonlyArray<ConversationMessage>
    /** What this turn adds to it (ends with a user message). */
    readonly added: ReadonlyArray<ConversationMessage>
    /** The CLI session to resume when no warm process holds the conversation. */
    readonly resume: string | null
    readonly append: (events: ReadonlyArray<SessionEvent>) => Effect.Effect<void, StoreError>
    /** Completed once the turn has its CLI process (or could not get one). */
    readonly launched: Deferred.Deferred<void>
  }

  const executeTurn = (plan: TurnPlan): Effect.Effect<void, TurnError | StoreError> =>
    Effect.gen(function*() {
      const { append, request, sessionId, turnId } = plan
      // What the CLI is sent: the new messages, or the whole conversation to a process that lacks it.
      const contentFor = (holdsConversation: boolean) => {
        const content = promptContent(holdsConversation ? plan.added : [...plan.held, ...plan.added])
        return content instanceof InvalidTurnRequest
          ? Effect.fail(new InternalFailure({ message: content.message }))
          : Effect.succeed(content)
      }
      const candidates: ReadonlyArray<string | null> = [request.model.model, ...request.model.fallbacks]
      const rejected: Array<string> = []
      let resume = plan.resume
      let index = 0
      while (index < candidates.length) {
        const model = candidates[index]!
        const { entry, events } = yield* acquire(sessionId, {
          cwd: plan.cwd,
          model,
          systemPrompt: request.systemPrompt,
          systemPromptMode: config.systemPromptMode,
          permissionMode: config.permissionMode,
          jsonSchema: request.outputSchema ?? null,
          resume
        }, contentFor).pipe(Effect.ensuring(Deferred.succeed(plan.launched, undefined)))

        let state = initialTranslatorState(turnId)
        let answer = ""
        // One append (one transaction, one publication) per chunk of CLI lines.
        const outcome = yield* events.pipe(
          Stream.runForEachChunk((lines) => {
            const logged: Array<SessionEvent> = []
            for (const line of lines) {
              const [next, events] = translate(state, line)
              state = next
              for (const event of events) {
                if (event._tag === "TextDelta") answer += event.text
                if (event._tag !== "TurnCompleted") {
                  logged.push(event)
                  continue
                }
                const reply = {
                  role: "assistant" as const,
                  content: [{ _tag: "text" as const, text: answerOf(event, answer) }]
                }
                const conversation = [...plan.held, ...plan.added, reply]
                logged.push(new TurnCompleted({ ...event, conversationDigest: digestOf(conversation) }))
              }
            }
            return append(logged)
          }),
          Effect.onInterrupt(() => settleAbandoned(sessionId, entry)),
          Effect.either
        )
        if (outcome._tag === "Right") {
          entry.holdsConversation = true
          return yield* keepWarm(sessionId, entry)
        }
        const error = outcome.left
        yield* passivate(sessionId, { now: true })
        if (error._tag === "StoreError") return yield* error
        if (resume !== null && resumeFailed(error)) {
          // The CLI lost the transcript: start over with the conversation rebuilt from the log.
          resume = null
          continue
        }
        if (error._tag !== "ModelRejected") return yield* error
        rejected.push(model ?? "default")
        const next = candidates[index + 1]
        if (next === undefined) return yield* new ModelRejected({ models: rejected, message: error.message })
        yield* append([
          new ModelFallback({
            turnId,
            fromModel: model ?? "default",
            toModel: next ?? "default",
            reason: "model_rejected"
          })
        ])
        index++
      }
    })

  /** The session a request continues (with its history), or null for a new one. */
  const sessionFor = (request: TurnRequest, projectId: string) =>
    Effect.gen(function*() {
      const owner = request.owner ?? null
      if (request.sessionId !== undefined) {
        const events = yield* store.read(request.sessionId)
        const history = historyOf(events)
        // Another principal's session does not exist, as far as this one can tell.
        if (events.length === 0 || history.owner !== owner) {
          return yield* new SessionNotFound({ sessionId: request.sessionId })
        }
        if (history.closed) return yield* new SessionIsClosed({ sessionId: request.sessionId })
        return { sessionId: request.sessionId, history }
      }
      const heldLength = afterLastAssistant(request.messages)
      if (heldLength === 0) return null
      const found = yield* store.findByDigest(owner, projectId, digestOf(request.messages.slice(0, heldLength)))
      // A session whose turn has ended (its process still winding down) can be continued.
      const busy = Option.isSome(found) ? running.get(found.value) : undefined
      if (Option.isNone(found) || (busy !== undefined && !busy.ended)) return null
      return { sessionId: found.value, history: historyOf(yield* store.read(found.value)) }
    })

  const startTurn = Effect.fn("SessionRunner.startTurn")(function*(request: TurnRequest) {
    const invalid = promptContent(request.messages)
    if (invalid instanceof InvalidTurnRequest) return yield* invalid

    if (shuttingDown) return yield* new ShuttingDown()
    const requestedProject = request.projectId ?? "default"
    yield* projects.pathOf(requestedProject)
    const existing = yield* sessionFor(request, requestedProject)
    const history: SessionHistory | null = existing?.history ?? null
    const isNew = existing === null
    const sessionId = existing?.sessionId ?? NodeCrypto.randomUUID()
    const projectId = history?.projectId ?? requestedProject
    const cwd = yield* projects.ensure(projectId)

    const held = history?.conversation ?? []
    const added = history === null ? request.messages : newMessagesOf(held, request.messages)
    const addedInvalid = promptContent(added)
    if (addedInvalid instanceof InvalidTurnRequest) return yield* addedInvalid
    const lastCompleted = history?.lastCompleted ?? null
    const resume = lastCompleted !== null && history?.cwd === cwd && history.configDir === configDir
      ? lastCompleted.cliSessionId || null
      : null

    // A turn whose end is recorded is only winding its process down: wait for it.
    const previous = running.get(sessionId)
    if (previous?.ended === true) {
      yield* Deferred.await(previous.done).pipe(Effect.timeout(windDownWait), Effect.ignore)
    }
    // Claim the session synchronously: a concurrent request sees it busy at once.
    if (running.has(sessionId)) return yield* new SessionBusy({ sessionId })
    const turnId = `turn_${NodeCrypto.randomUUID().replaceAll("-", "")}`
    const slot: RunningTurn = {
      turnId,
      startedAt: Date.now(),
      cancelReason: null,
      ended: false,
      done: yield* Deferred.make<void>()
    }
    running.set(sessionId, slot)
    const release = Effect.sync(() => {
      if (running.get(sessionId) === slot) running.delete(sessionId)
    }).pipe(Effect.zipRight(Deferred.succeed(slot.done, undefined)))

    return yield* Effect.gen(function*() {
      const acquired = yield* slots.take(1).pipe(
        Effect.timeoutOption(Duration.seconds(config.queueTimeoutSeconds))
      )
      if (Option.isNone(acquired)) {
        return yield* new CapacityExceeded({ limit: config.maxConcurrentTurns, retryAfterSeconds: 5 })
      }
      let slotFreed = false
      const freeSlot = Effect.suspend(() => {
        if (slotFreed) return Effect.void
        slotFreed = true
        return slots.release(1)
      })
      const lastSequence = history?.lastSequence ?? 0
      const appendToLog = makeAppender(sessionId, lastSequence)
      // The turn's fiber starts its CLI first and `TurnStarted` is recorded while the CLI
      // starts up; whatever the fiber appends waits until that record is in, so the log's
      // order stays exact.
      const launched = yield* Deferred.make<void>()
      const recorded = yield* Deferred.make<void, StoreError>()
      const append = (events: ReadonlyArray<SessionEvent>) =>
        Deferred.await(recorded).pipe(
          Effect.zipRight(appendToLog(events)),
          Effect.tap(() => {
            if (events.some(isTurnTerminal)) slot.ended = true
          })
        )
      const started = new TurnStarted({
        turnId,
        messages: added,
        systemPrompt: request.systemPrompt,
        requestedModel: request.model.requested,
        resolvedModel: request.model.model,
        fallbackModels: request.model.fallbacks,
        parameters: { ...request.parameters }
      })
      const owner = request.owner ?? null
      const startSequence = lastSequence + (isNew ? 2 : 1)

      let ended = false
      const end = (event: SessionEvent) =>
        ended ? Effect.void : append([event]).pipe(Effect.tap(() => (ended = true)), Effect.ignoreLogged)

      const plan: TurnPlan = { sessionId, turnId, cwd, request, held, added, resume, append, launched }
      const fiberBody = Effect.uninterruptibleMask((restore) =>
        restore(executeTurn(plan).pipe(Effect.timeoutOption(Duration.seconds(config.turnTimeoutSeconds)))).pipe(
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
              Effect.zipRight(
                end(new TurnFailed({ turnId, error: new InternalFailure({ message: "unexpected failure" }) }))
              )
            )
          }),
          Effect.ensuring(Effect.zipRight(Deferred.succeed(launched, undefined), Effect.zipRight(freeSlot, release)))
        )
      )
      // Not interruptible: once the fiber runs, its start must be recorded (or the fiber stopped).
      yield* Effect.uninterruptible(Effect.gen(function*() {
        yield* FiberMap.run(fibers, sessionId, fiberBody)
        yield* Deferred.await(launched)
        yield* appendToLog(isNew ? [new SessionCreated({ projectId, cwd, configDir, owner }), started] : [started])
          .pipe(
            Effect.tapErrorCause((cause) =>
              // Not recorded, so it never started: stop the fiber (and its CLI); it records nothing.
              Deferred.failCause(recorded, cause).pipe(
                Effect.zipRight(FiberMap.remove(fibers, sessionId)),
                // The fiber may have been stopped before it could free its slot itself.
                Effect.zipRight(freeSlot)
              )
            )
          )
        yield* Deferred.succeed(recorded, undefined)
      }))
      return {
        sessionId,
        projectId,
        turnId,
        startSequence,
        events: turnEvents(sessionId, turnId, startSequence)
      } satisfies TurnHandle
    }).pipe(Effect.onError(() => release))
  })

  const cancel = Effect.fn("SessionRunner.cancel")(function*(sessionId: string, reason: CancelReason) {
    const slot = running.get(sessionId)
    if (slot === undefined || slot.ended) return false
    slot.cancelReason ??= reason
    yield* FiberMap.remove(fibers, sessionId)
    return true
  })

  const createSession = Effect.fn("SessionRunner.createSession")(function*(projectId: string, owner: string | null) {
    const cwd = yield* projects.ensure(projectId)
    const sessionId = NodeCrypto.randomUUID()
    yield* store.append(sessionId, 0, [new SessionCreated({ projectId, cwd, configDir, owner })]).pipe(
      Effect.catchTag("SequenceConflict", () => Effect.fail(new StoreError({ message: "session id collision" })))
    )
    return { sessionId, projectId }
  })

  const closeSession = Effect.fn("SessionRunner.closeSession")(
    function*(sessionId: string, options: { readonly purge: boolean }) {
      const last = yield* store.lastSequence(sessionId)
      if (last === 0) return yield* new SessionNotFound({ sessionId })
      yield* cancel(sessionId, "client")
      yield* passivate(sessionId, { now: true })
      if (options.purge) return yield* store.purge(sessionId)
      const events = yield* store.read(sessionId, { after: 0 })
      if (historyOf(events).closed) return
      yield* store.append(sessionId, events[events.length - 1]!.sequence, [
        new SessionClosed({ reason: "closed by client" })
      ]).pipe(
        Effect.catchTag(
          "SequenceConflict",
          () => Effect.fail(new StoreError({ message: "session changed while closing" }))
        )
      )
    }
  )

  const activity = (sessionId: string) =>
    Effect.sync((): SessionActivity => {
      const slot = running.get(sessionId)
      const active = slot !== undefined && !slot.ended
      return {
        running: active,
        turnId: active ? slot.turnId : null,
        startedAt: active ? slot.startedAt : null,
        warm: warm.has(sessionId)
      }
    })

  return {
    startTurn,
    createSession,
    cancel,
    closeSession,
    activity,
    runningCount: Effect.sync(() => [...running.values()].filter((slot) => !slot.ended).length),
    warmCount: Effect.sync(() => [...warm.keys()].filter((id) => id !== spareKey).length),
    shutdown
  } satisfies SessionRunner.Service
})

export class SessionRunner
  extends Context.Tag("claude-code-api/SessionRunner")<SessionRunner, SessionRunner.Service>()
{
  static readonly layer = Layer.scoped(SessionRunner, makeSessionRunner)
}
