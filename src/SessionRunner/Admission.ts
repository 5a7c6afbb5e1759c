/**
 * Admission of turns: which session a request continues (by id, or by the digest of the
 * history it resends) and whether the caller may see it, the project it runs in, one turn
 * at a time per session (the busy claim), and the global limit on running turns.
 *
 * A session whose previous turn is ending (cancelled, or its end recorded while its process
 * winds down) is not busy for long: a new turn waits for that end, briefly, instead of
 * failing with `SessionBusy`. A turn that still runs is given a moment to start ending: a
 * client that drops a stream and at once sends its next turn usually arrives before the
 * gateway has noticed the disconnect.
 */
import { Clock, Deferred, Duration, Effect, Exit, Option } from "effect"
import * as NodeCrypto from "node:crypto"
import type { ConversationMessage } from "../Domain/Conversation.js"
import {
  CapacityExceeded,
  InvalidTurnRequest,
  type ProjectNotFound,
  QueuedTurnCancelled,
  SessionBusy,
  SessionIsClosed,
  SessionNotFound,
  ShuttingDown,
  type StoreError
} from "../Domain/Errors.js"
import type { ResolvedModel } from "../Domain/Model.js"
import { defaultProjectOf, isVisibleTo } from "../Domain/Session.js"
import type { CancelReason } from "../Domain/SessionEvent.js"
import type { ClientTools } from "../Domain/Tools.js"
import type { TurnRequest } from "../Domain/Turn.js"
import type { ModelRegistry } from "../ModelRegistry.js"
import type { Projects } from "../Projects.js"
import { projectIdProblem } from "../Projects/paths.js"
import type { SessionQueries } from "../SessionQueries.js"
import type { SessionStore } from "../SessionStore.js"
import { afterLastAssistant, digestOf, historyOf, newMessagesOf, type SessionHistory } from "./history.js"
import { conversationProblem } from "./prompt.js"

/** A session's running turn, from admission until its fiber is gone. */
export interface TurnClaim {
  readonly sessionId: string
  readonly turnId: string
  /** Milliseconds since the epoch. */
  readonly startedAt: number
  /** Why the turn is being stopped, once someone asked (the first reason wins). */
  cancelReason: CancelReason | null
  /**
   * The turn is over for its readers: its end is recorded (only its process may still be
   * winding down), or could not be and is being retried until the log takes it.
   */
  ended: boolean
  /** Why the turn's end could not be recorded yet (the log refused it; it is being retried). */
  unrecordedEnd: StoreError | null
  /** Done once the turn is ending: a cancellation was asked for, or its end is recorded. */
  readonly ending: Deferred.Deferred<void>
  /** Done once the turn's end is recorded, or it never started. */
  readonly endRecorded: Deferred.Deferred<void>
  /** Fails when the turn's end could not be recorded (its readers are told why). */
  readonly endNotRecorded: Deferred.Deferred<never, StoreError>
  /** Done once the claim is released. */
  readonly released: Deferred.Deferred<void>
}

/** An admitted turn: everything it runs with. */
export interface AdmittedTurn {
  readonly claim: TurnClaim
  readonly sessionId: string
  readonly projectId: string
  readonly cwd: string
  /** The session is new: its `SessionCreated` is recorded with the turn's start. */
  readonly isNew: boolean
  /**
   * A turn the log shows unfinished although no turn holds the session here: its node stopped
   * while it ran. It is recorded as interrupted before this turn starts.
   */
  readonly interruptedTurnId: string | null
  readonly lastSequence: number
  /** The conversation the session already holds. */
  readonly held: ReadonlyArray<ConversationMessage>
  /** What this turn adds to it (ends with a user message). */
  readonly added: ReadonlyArray<ConversationMessage>
  /**
   * The CLI session to resume when no warm process holds the conversation; none after a turn
   * that ended on calls of the client's tools (a new process is given the conversation whole).
   */
  readonly resume: string | null
  /** The CLI session of the session's last completed turn, if any. */
  readonly cliSessionId: string | null
  /** The client's tools for this turn, if it brings any. */
  readonly clientTools: ClientTools | null
  /** The request's model and system prompt, or the session's own when the request brings none. */
  readonly model: ResolvedModel
  readonly systemPrompt: string | null
  /** Gives back the global slot (idempotent). */
  readonly freeSlot: Effect.Effect<void>
}

export interface Admission {
  /**
   * Admits a turn: validates the request, finds its session, takes the session's claim and
   * a global slot. Fails with `InvalidTurnRequest`, `SessionNotFound` (also for another
   * caller's session), `ProjectNotFound` (also for another caller's project),
   * `SessionIsClosed`, `SessionBusy` when a turn runs there (one that
   * starts ending within `busyGrace` is waited for, up to `endingWait`), `CapacityExceeded`
   * when no slot frees up within the queue timeout, `QueuedTurnCancelled` when the turn is
   * cancelled while it waits for one, and `ShuttingDown` once `stop` was called.
   */
  readonly admit: (
    request: TurnRequest
  ) => Effect.Effect<
    AdmittedTurn,
    | InvalidTurnRequest
    | SessionNotFound
    | ProjectNotFound
    | SessionIsClosed
    | SessionBusy
    | CapacityExceeded
    | QueuedTurnCancelled
    | ShuttingDown
    | StoreError
  >
  /**
   * Claims an idle session for a write outside any turn (a claim with no turn behind it);
   * null when a turn holds it. Release it when done.
   */
  readonly reserve: (sessionId: string) => Effect.Effect<TurnClaim | null>
  /** Releases a claim (its fiber is gone, or the turn never started). */
  readonly release: (claim: TurnClaim) => Effect.Effect<void>
  /** The session's current claim, if a turn holds it. */
  readonly current: (sessionId: string) => TurnClaim | undefined
  /** Every current claim. */
  readonly claims: () => ReadonlyArray<TurnClaim>
  /** Refuses every later turn with `ShuttingDown`. */
  readonly stop: Effect.Effect<void>
}

export interface AdmissionOptions {
  readonly maxConcurrentTurns: number
  readonly queueTimeout: Duration.DurationInput
  /** How long a turn waits for the session's previous turn to start ending, before `SessionBusy`. */
  readonly busyGrace: Duration.DurationInput
  /** How long a turn waits for the session's previous turn to finish ending. */
  readonly endingWait: Duration.DurationInput
  /** The CLI's config directory: a session can only be resumed where its transcripts are. */
  readonly configDir: string
}

/** Seconds a client is asked to wait when the global limit is full. */
const retryAfterSeconds = 5

const mustBeValid = (problem: InvalidTurnRequest | null) => (problem === null ? Effect.void : Effect.fail(problem))

/** How many times a turn is admitted again when another writer moved its session's log on meanwhile. */
const admissionAttempts = 3

export const makeAdmission = (
  services: {
    readonly store: SessionStore.Service
    readonly queries: SessionQueries.Service
    readonly projects: Projects.Service
    readonly registry: ModelRegistry.Service
  },
  options: AdmissionOptions
): Effect.Effect<Admission> =>
  Effect.gen(function*() {
    const { projects, queries, registry, store } = services
    const slots = yield* Effect.makeSemaphore(options.maxConcurrentTurns)
    const claims = new Map<string, TurnClaim>()
    let stopped = false

    const isEnding = (claim: TurnClaim) => claim.ended || claim.cancelReason !== null

    /** The session a request continues (with its history), or null for a new one. */
    const sessionFor = (request: TurnRequest, projectId: string, owner: string | null) =>
      Effect.gen(function*() {
        if (request.sessionId !== undefined) {
          const history = historyOf(yield* store.read(request.sessionId))
          if (history.lastSequence === 0 || !isVisibleTo(history.owner, owner)) {
            return yield* new SessionNotFound({ sessionId: request.sessionId })
          }
          if (history.closed) return yield* new SessionIsClosed({ sessionId: request.sessionId })
          return { sessionId: request.sessionId, history }
        }
        if (request.newSessionId !== undefined) return null
        const heldLength = afterLastAssistant(request.messages)
        if (heldLength === 0) return null
        const found = yield* queries.findByDigest(owner, projectId, digestOf(request.messages.slice(0, heldLength)))
        // A session whose turn is ending can be continued; one whose turn runs cannot.
        const claim = Option.isSome(found) ? claims.get(found.value) : undefined
        if (Option.isNone(found) || (claim !== undefined && !isEnding(claim))) return null
        return { sessionId: found.value, history: historyOf(yield* store.read(found.value)) }
      })

    /**
     * Waits (bounded) for the session's current turn to be gone, if it is ending or starts
     * ending within `busyGrace`; true when it waited for one.
     */
    const awaitEnding = (sessionId: string) =>
      Effect.gen(function*() {
        const claim = claims.get(sessionId)
        if (claim === undefined) return false
        const ending = yield* Deferred.await(claim.ending).pipe(Effect.timeoutOption(options.busyGrace))
        if (Option.isNone(ending)) return false
        yield* Deferred.await(claim.released).pipe(Effect.timeout(options.endingWait), Effect.ignore)
        return true
      })

    /**
     * Waits for a global slot, up to the queue timeout, and gives up when the turn is
     * cancelled meanwhile. A slot taken is handed over (`slot`) or given back, whatever
     * interrupts the wait.
     */
    const awaitSlot = (claim: TurnClaim) =>
      Effect.suspend(() => {
        let taken = false
        const take = Effect.uninterruptibleMask((restore) =>
          restore(slots.take(1)).pipe(Effect.zipRight(Effect.sync(() => (taken = true))))
        )
        return Effect.race(
          take.pipe(
            Effect.as("slot" as const),
            Effect.timeoutTo({
              duration: options.queueTimeout,
              onSuccess: (slot) => slot,
              onTimeout: () => "full" as const
            })
          ),
          Effect.as(Deferred.await(claim.ending), "cancelled" as const)
        ).pipe(
          Effect.onExit((exit) =>
            taken && !(Exit.isSuccess(exit) && exit.value === "slot") ? slots.release(1) : Effect.void
          )
        )
      })

    const newClaim = (sessionId: string) =>
      Effect.gen(function*() {
        return {
          sessionId,
          turnId: `turn_${NodeCrypto.randomUUID().replaceAll("-", "")}`,
          startedAt: yield* Clock.currentTimeMillis,
          cancelReason: null,
          ended: false,
          unrecordedEnd: null,
          ending: yield* Deferred.make<void>(),
          endRecorded: yield* Deferred.make<void>(),
          endNotRecorded: yield* Deferred.make<never, StoreError>(),
          released: yield* Deferred.make<void>()
        } satisfies TurnClaim
      })

    // A reserved claim runs no turn: it counts as ending, so that nothing mistakes it for a
    // running turn and a turn that comes meanwhile waits for it instead of failing.
    const reserve = (sessionId: string) =>
      Effect.gen(function*() {
        if (stopped || claims.has(sessionId)) return null
        const claim: TurnClaim = yield* newClaim(sessionId)
        // Checked again: nothing above yields to another fiber, but the claim must never be taken twice.
        if (claims.has(sessionId)) return null
        claim.ended = true
        yield* Deferred.succeed(claim.ending, undefined)
        claims.set(sessionId, claim)
        return claim
      })

    /**
     * Admits a turn, unless the session's log moved on between reading it and claiming the
     * session (a write outside any turn, such as held tool calls being dropped): then
     * "stale", and the turn is admitted again from the log as it is now.
     */
    const admitOnce = Effect.fnUntraced(function*(request: TurnRequest) {
      yield* mustBeValid(conversationProblem(request.messages))
      if (stopped) return yield* new ShuttingDown()
      const owner = request.owner ?? null
      const requestedProject = request.projectId ?? defaultProjectOf(owner)
      const problem = projectIdProblem(requestedProject)
      if (problem !== null) {
        return yield* new InvalidTurnRequest({ message: problem, param: "project_id", code: "invalid_project_id" })
      }
      let existing = yield* sessionFor(request, requestedProject, owner)
      // The previous turn's end changes the session's log: read it again once it is recorded.
      if (existing !== null && (yield* awaitEnding(existing.sessionId))) {
        existing = yield* sessionFor({ ...request, sessionId: existing.sessionId }, requestedProject, owner)
      }
      const history: SessionHistory | null = existing?.history ?? null
      const sessionId = existing?.sessionId ?? request.newSessionId ?? NodeCrypto.randomUUID()
      const projectId = history?.projectId ?? requestedProject
      // A continued session's project too: it may have been unregistered, or purged and taken since.
      const { path: cwd } = yield* projects.ensure(owner, projectId)

      const held = history?.conversation ?? []
      const added = history === null ? request.messages : newMessagesOf(held, request.messages)
      yield* mustBeValid(conversationProblem(added))
      const lastCompleted = history?.lastCompleted ?? null
      const resume = lastCompleted !== null && lastCompleted.toolCalls.length === 0 && history?.cwd === cwd &&
          history.configDir === options.configDir
        ? lastCompleted.cliSessionId || null
        : null

      // Claimed synchronously: a concurrent request sees the session busy at once. A session
      // whose last turn's end the log refused waits for the log, not for a turn.
      const current = claims.get(sessionId)
      if (current?.unrecordedEnd) return yield* current.unrecordedEnd
      if (current !== undefined) return yield* new SessionBusy({ sessionId })
      const claim = yield* newClaim(sessionId)
      if (claims.has(sessionId)) return yield* new SessionBusy({ sessionId })
      claims.set(sessionId, claim)
      const lastSequence = history?.lastSequence ?? 0
      if ((yield* Effect.onError(store.lastSequence(sessionId), () => release(claim))) !== lastSequence) {
        yield* release(claim)
        return "stale" as const
      }

      const waited = yield* awaitSlot(claim).pipe(Effect.onInterrupt(() => release(claim)))
      if (waited !== "slot") {
        yield* release(claim)
        if (waited === "full") {
          return yield* new CapacityExceeded({ limit: options.maxConcurrentTurns, retryAfterSeconds })
        }
        return yield* new QueuedTurnCancelled({ sessionId, reason: claim.cancelReason ?? "interrupted" })
      }
      let slotFreed = false
      const freeSlot = Effect.suspend(() => {
        if (slotFreed) return Effect.void
        slotFreed = true
        return slots.release(1)
      })
      const sessionModel = history?.model ?? null
      return {
        claim,
        sessionId,
        projectId,
        cwd,
        isNew: existing === null,
        // Claimed here and the log unchanged since it was read: no turn of this gateway runs it.
        interruptedTurnId: history?.unfinishedTurnId ?? null,
        lastSequence,
        held,
        added,
        resume,
        cliSessionId: lastCompleted?.cliSessionId || null,
        clientTools: request.clientTools ?? null,
        model: request.model.requested === null && sessionModel !== null
          ? registry.resolve(sessionModel)
          : request.model,
        systemPrompt: request.systemPrompt ?? history?.systemPrompt ?? null,
        freeSlot
      } satisfies AdmittedTurn
    })

    const admit = Effect.fn("Admission.admit")(function*(request: TurnRequest) {
      for (let attempt = 1;; attempt++) {
        const admitted = yield* admitOnce(request)
        if (admitted !== "stale") return admitted
        if (attempt === admissionAttempts) {
          return yield* new SessionBusy({ sessionId: request.sessionId ?? "unknown" })
        }
      }
    })

    const release = (claim: TurnClaim) =>
      Effect.suspend(() => {
        if (claims.get(claim.sessionId) === claim) claims.delete(claim.sessionId)
        return Effect.all([
          Deferred.succeed(claim.ending, undefined),
          Deferred.succeed(claim.endRecorded, undefined),
          Deferred.succeed(claim.released, undefined)
        ], { discard: true })
      })

    return {
      admit,
      reserve,
      release,
      current: (sessionId) => claims.get(sessionId),
      claims: () => [...claims.values()],
      stop: Effect.sync(() => {
        stopped = true
      })
    }
  })

/** How long a new turn gives a running one to start ending (a disconnect noticed late). */
export const defaultBusyGrace = Duration.millis(500)
/** The default bound on waiting for an ending turn. */
export const defaultEndingWait = Duration.seconds(2)
