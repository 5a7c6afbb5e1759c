/**
 * The CLI processes kept between turns: one warm process per session (Claude Code's
 * long-lived `stream-json` mode), one spare process started ahead of the next new session,
 * idle passivation after `sessionIdleSeconds`, and at most `maxWarmProcesses` warm
 * sessions (the least recently used is passivated first).
 *
 * Like Effect's `RcMap`, every process lives in a scope of its own that the pool closes
 * (`ProcessPool/lifecycle`), idle timers are fibers sleeping on `Clock`, and closing the
 * pool closes every process. Unlike it: a full pool evicts instead of refusing, an entry
 * fits a turn only when it was started with the same settings, the spare changes hands to a
 * session, and a process is retired gracefully before it is killed. A session's next
 * process waits for its previous one to be gone.
 *
 * A process whose turn ended on calls of the client's tools holds them open: it waits for
 * the session's next turn to bring their results (`TurnInput.Results`), up to the tool-call
 * timeout instead of the idle one. When such a process goes before that turn comes (timed
 * out, evicted, released), `onHeldCallsDropped` is told, and the process is stopped at once.
 */
import { Clock, Duration, Effect, Fiber, type Scope, type Stream } from "effect"
import type { ClaudeProcess, CliLaunch } from "../ClaudeProcess.js"
import type { CliEvent } from "../Domain/CliEvent.js"
import { type CliError, type CliNotFound, InternalFailure } from "../Domain/Errors.js"
import type { HeldCallsDropReason } from "../Domain/SessionEvent.js"
import { warnOnFailure } from "../Logging.js"
import { type LiveProcess, makeLifecycle } from "./ProcessPool/lifecycle.js"
import type { TurnInput } from "./prompt.js"

/** A session's process, lent to one turn. */
export interface Lease {
  readonly sessionId: string
  /** The turn's events on the process. */
  readonly events: Stream.Stream<CliEvent, CliError>
  /** The held calls this turn answered (it continues their turn), else none. */
  readonly answered: ReadonlyArray<string>
}

/** What a process is in for a turn: whether it holds the conversation, and the calls it holds open. */
export interface ProcessState {
  readonly holdsConversation: boolean
  readonly heldCalls: ReadonlyArray<string>
}

export interface ProcessPool {
  /**
   * A process for the session's turn, with the turn's message sent: the session's warm
   * process when it was started with the same settings and still runs, else the spare when
   * `launch` starts a new conversation with the spare's settings, else a new process with
   * the message queued before it exists. An earlier process of the session that is still
   * being retired is waited for first. `inputFor` says what to write to the process, given
   * what it holds.
   */
  readonly acquire: (
    sessionId: string,
    launch: CliLaunch,
    inputFor: (process: ProcessState) => Effect.Effect<TurnInput, InternalFailure>
  ) => Effect.Effect<Lease, CliNotFound | InternalFailure>
  /**
   * The lease's turn completed: the process holds the conversation and stays warm until it
   * idles out or the warm limit evicts it; a spare with its settings is readied. A turn that
   * ended on calls of the client's tools leaves them `held` on the process.
   */
  readonly keep: (lease: Lease, held?: ReadonlyArray<string>) => Effect.Effect<void>
  /** The lease's turn failed: its process is retired at once (in the background). */
  readonly discard: (lease: Lease) => Effect.Effect<void>
  /**
   * The lease's turn was abandoned mid-way (cancelled, timed out, shut down): the CLI is
   * asked to stop the turn and its remaining lines are read, within a second; then the
   * process is retired in the background, or killed now when it did not stop. Returns once
   * the turn has stopped.
   */
  readonly abandon: (lease: Lease) => Effect.Effect<void>
  /** Retires the session's process, if it has one and no turn uses it (its held calls dropped for `reason`). */
  readonly release: (sessionId: string, reason?: HeldCallsDropReason) => Effect.Effect<void>
  /** The calls the session's process holds open for the client. */
  readonly heldCalls: (sessionId: string) => ReadonlyArray<string>
  /** Whether the session has a live process. */
  readonly isWarm: (sessionId: string) => boolean
  /** The sessions that have a live process (the spare is not one). */
  readonly warmSessions: () => ReadonlyArray<string>
  /** Stops every process, gracefully where it can; later spares are not started. */
  readonly shutdown: Effect.Effect<void>
}

export interface ProcessPoolOptions {
  readonly sessionIdleSeconds: number
  readonly maxWarmProcesses: number
  readonly spareProcess: boolean
  /** How long a process holds calls of the client's tools open, waiting for their results. */
  readonly toolCallTimeout: Duration.DurationInput
  /** Told when a process that held calls goes before a turn answered them. */
  readonly onHeldCallsDropped: (
    sessionId: string,
    callIds: ReadonlyArray<string>,
    reason: HeldCallsDropReason
  ) => Effect.Effect<void>
}

/** A live process and what it is good for. */
interface Entry extends LiveProcess {
  /** Its launch settings, as one comparable string. */
  readonly settings: string
  readonly launch: CliLaunch
  /** Whether the process holds its session's conversation (warm, or resumed). */
  holdsConversation: boolean
  /** Calls of the client's tools the process holds open for the session's next turn. */
  heldCalls: ReadonlyArray<string>
  /** A turn is using the process: idle timers and evictions leave it alone. */
  inUse: boolean
  lastUsed: number
  idleTimer: Fiber.RuntimeFiber<void> | null
}

/** How long a cancelled turn's CLI gets to stop before it is killed. */
const stopWithin = Duration.seconds(1)

/** The spare lives among the warm processes under this key, so timers and shutdown treat it alike. */
const spareKey = "<spare>"

const settingsOf = (launch: CliLaunch) =>
  JSON.stringify([
    launch.cwd,
    launch.model,
    launch.systemPrompt,
    launch.systemPromptMode,
    launch.permissionMode,
    launch.jsonSchema ?? null,
    launch.clientTools ?? [],
    launch.builtinTools ?? false
  ])

export const makeProcessPool = (
  claude: ClaudeProcess.Service,
  options: ProcessPoolOptions
): Effect.Effect<ProcessPool, never, Scope.Scope> =>
  Effect.gen(function*() {
    const poolScope = yield* Effect.scope
    const processes = yield* makeLifecycle
    const entries = new Map<string, Entry>()
    const leases = new WeakMap<Lease, Entry>()
    let spareStarting = false
    let closed = false

    /**
     * Runs in the background until done or the pool closes. Interruptible whatever the caller
     * is: a turn hands its process back from a finalizer, and a fiber forked there would
     * otherwise inherit its uninterruptibility (and hold the pool's closing for an idle timeout).
     */
    const forkInPool = <A, E>(effect: Effect.Effect<A, E>) => Effect.forkIn(Effect.interruptible(effect), poolScope)

    /**
     * Takes the entry out of the pool and retires its process (see `Lifecycle.retire`). Calls
     * it held are dropped for `dropped`: the process is stopped at once, as nothing it
     * would write now is of use.
     */
    const retire = (
      key: string,
      entry: Entry,
      retirement?: { readonly now?: boolean; readonly dropped?: HeldCallsDropReason }
    ) =>
      Effect.suspend(() => {
        if (entries.get(key) === entry) entries.delete(key)
        const timer = entry.idleTimer
        entry.idleTimer = null
        const held = entry.heldCalls
        entry.heldCalls = []
        return Effect.all([
          timer !== null ? Fiber.interruptFork(timer) : Effect.void,
          processes.retire(key, entry, { now: retirement?.now === true || held.length > 0 }),
          held.length > 0 && retirement?.dropped !== undefined
            ? forkInPool(options.onHeldCallsDropped(key, held, retirement.dropped))
            : Effect.void
        ], { discard: true })
      })

    /** Retires the process under `key` unless a turn uses it or it was replaced meanwhile. */
    const retireIdle = (key: string, entry: Entry, dropped: HeldCallsDropReason) =>
      Effect.suspend(() => (entries.get(key) !== entry || entry.inUse ? Effect.void : retire(key, entry, { dropped })))

    /** Retires the process once idle for the idle time, or for the tool-call timeout when it holds calls. */
    const startIdleTimer = (key: string, entry: Entry) =>
      Effect.sleep(
        entry.heldCalls.length > 0 ? options.toolCallTimeout : Duration.seconds(options.sessionIdleSeconds)
      ).pipe(
        Effect.zipRight(Effect.suspend(() => {
          entry.idleTimer = null
          return retireIdle(key, entry, "timeout")
        })),
        forkInPool,
        Effect.map((fiber) => {
          entry.idleTimer = fiber
        })
      )

    const claimEntry = (entry: Entry) =>
      Effect.suspend(() => {
        entry.inUse = true
        const timer = entry.idleTimer
        entry.idleTimer = null
        return timer !== null ? Fiber.interruptFork(timer) : Effect.void
      })

    const lease = (
      sessionId: string,
      entry: Entry,
      events: Stream.Stream<CliEvent, CliError>,
      answered: ReadonlyArray<string> = []
    ) => {
      const result: Lease = { sessionId, events, answered }
      leases.set(result, entry)
      return result
    }

    // Uninterruptible but for the wait on a retiring process, whatever the caller is: a claimed
    // entry always reaches its lease.
    const acquire: ProcessPool["acquire"] = (sessionId, launch, inputFor) =>
      Effect.uninterruptible(
        Effect.gen(function*() {
          const settings = settingsOf(launch)
          /** The turn on a kept process, or null when the process cannot take it. */
          const onKept = (entry: Entry) =>
            inputFor({ holdsConversation: entry.holdsConversation, heldCalls: entry.heldCalls }).pipe(
              Effect.tapError(() => retire(sessionId, entry)),
              Effect.map((input) => {
                if (input._tag === "Unfit") return null
                entry.heldCalls = []
                if (input._tag === "Message") return lease(sessionId, entry, entry.connection.turn(input.content))
                const results = input.results.map(({ callId, content, isError }) => ({
                  callId,
                  outcome: { content, isError }
                }))
                return lease(
                  sessionId,
                  entry,
                  entry.connection.resume(results, input.message),
                  results.map((result) => result.callId)
                )
              })
            )
          const current = entries.get(sessionId)
          if (current?.inUse === true) {
            // Admission lets one turn at a time run per session: this would be a second one.
            return yield* new InternalFailure({ message: `the process of session ${sessionId} is in use` })
          }
          if (current !== undefined) {
            if (current.settings === settings) {
              // Claimed before the next yield point, so an idle timer firing now leaves it alone.
              yield* claimEntry(current)
              if (yield* current.connection.isRunning) {
                const kept = yield* onKept(current)
                if (kept !== null) return kept
              }
            }
            yield* retire(sessionId, current, { dropped: "replaced" })
          }
          // A new conversation takes the spare when it was started with exactly these settings.
          const spare = entries.get(spareKey)
          if (launch.resume === null && spare !== undefined && spare.settings === settings && !spare.inUse) {
            entries.delete(spareKey)
            yield* claimEntry(spare)
            if (yield* spare.connection.isRunning) {
              entries.set(sessionId, spare)
              const kept = yield* onKept(spare)
              if (kept !== null) return kept
              entries.delete(sessionId)
            }
            yield* processes.close(spare.scope)
          }
          yield* Effect.interruptible(processes.awaitRetired(sessionId))
          const holdsConversation = launch.resume !== null
          const input = yield* inputFor({ holdsConversation, heldCalls: [] })
          if (input._tag !== "Message") {
            return yield* new InternalFailure({ message: "a new process holds no tool calls to answer" })
          }
          const { scope, started: [connection, events] } = yield* processes.spawn(
            claude.startTurn(launch, input.content)
          )
          const entry: Entry = {
            settings,
            launch,
            connection,
            scope,
            holdsConversation,
            heldCalls: [],
            inUse: true,
            lastUsed: yield* Clock.currentTimeMillis,
            idleTimer: null
          }
          entries.set(sessionId, entry)
          return lease(sessionId, entry, events)
        })
      )

    /**
     * Starts, in the background, an idle process with these settings for the next new
     * session, unless one is there already; a spare with other settings is replaced.
     */
    const startSpare = (launch: CliLaunch) =>
      Effect.suspend(() => {
        const settings = settingsOf(launch)
        if (spareStarting || closed || entries.get(spareKey)?.settings === settings) return Effect.void
        spareStarting = true
        return Effect.gen(function*() {
          const previous = entries.get(spareKey)
          if (previous !== undefined) yield* retire(spareKey, previous)
          const { scope, started: connection } = yield* processes.spawn(claude.start(launch))
          if (closed) return yield* processes.close(scope)
          const entry: Entry = {
            settings,
            launch,
            connection,
            scope,
            holdsConversation: false,
            heldCalls: [],
            inUse: false,
            lastUsed: yield* Clock.currentTimeMillis,
            idleTimer: null
          }
          entries.set(spareKey, entry)
          yield* startIdleTimer(spareKey, entry)
        }).pipe(
          Effect.ensuring(Effect.sync(() => (spareStarting = false))),
          warnOnFailure("could not start the spare CLI process"),
          forkInPool,
          Effect.asVoid
        )
      })

    /**
     * Retires the least recently used idle sessions beyond `maxWarmProcesses`, in the
     * background; processes that hold calls for a client go last.
     */
    const evictBeyondLimit = Effect.suspend(() => {
      const sessions = [...entries.entries()].filter(([key]) => key !== spareKey)
      const holds = (entry: Entry) => (entry.heldCalls.length > 0 ? 1 : 0)
      const idle = sessions.filter(([, entry]) => !entry.inUse).sort(([, a], [, b]) =>
        holds(a) - holds(b) || a.lastUsed - b.lastUsed
      )
      const evicted = idle.slice(0, Math.max(0, sessions.length - options.maxWarmProcesses))
      return Effect.forEach(evicted, ([key, entry]) => retireIdle(key, entry, "evicted"), { discard: true })
    })

    const keep: ProcessPool["keep"] = (leased, held = []) =>
      Effect.gen(function*() {
        const entry = leases.get(leased)
        if (entry === undefined) return
        entry.lastUsed = yield* Clock.currentTimeMillis
        entry.inUse = false
        entry.holdsConversation = true
        entry.heldCalls = held
        if (options.maxWarmProcesses === 0 || closed) {
          return yield* retire(leased.sessionId, entry, { dropped: "evicted" })
        }
        yield* startIdleTimer(leased.sessionId, entry)
        yield* evictBeyondLimit
        if (options.spareProcess) yield* startSpare({ ...entry.launch, resume: null })
      })

    const discard: ProcessPool["discard"] = (leased) =>
      Effect.suspend(() => {
        const entry = leases.get(leased)
        return entry === undefined ? Effect.void : retire(leased.sessionId, entry, { now: true })
      })

    const abandon: ProcessPool["abandon"] = (leased) =>
      Effect.gen(function*() {
        const entry = leases.get(leased)
        if (entry === undefined) return
        const stopped = yield* entry.connection.cancelTurn(stopWithin)
        if (stopped) return yield* retire(leased.sessionId, entry)
        if (entries.get(leased.sessionId) === entry) entries.delete(leased.sessionId)
        yield* processes.close(entry.scope)
      })

    const release: ProcessPool["release"] = (sessionId, reason = "released") =>
      Effect.suspend(() => {
        const entry = entries.get(sessionId)
        return entry === undefined ? Effect.void : retireIdle(sessionId, entry, reason)
      })

    // Inline rather than forked: it also runs as the pool's finalizer, when its scope is closing.
    const shutdown = Effect.gen(function*() {
      closed = true
      const live = [...entries.entries()]
      entries.clear()
      // A process holding calls has nothing to finish: it is closed at once, and the calls recorded as given up.
      yield* Effect.forEach(live, ([key, entry]) =>
        Effect.zipRight(
          entry.idleTimer !== null ? Fiber.interrupt(entry.idleTimer) : Effect.void,
          entry.heldCalls.length > 0
            ? Effect.zipRight(
              processes.close(entry.scope),
              options.onHeldCallsDropped(key, entry.heldCalls, "shutdown")
            )
            : processes.stop(entry)
        ), { concurrency: "unbounded", discard: true })
      yield* processes.closeAll
    }).pipe(Effect.uninterruptible)
    yield* Effect.addFinalizer(() => shutdown)

    return {
      acquire,
      keep,
      discard,
      abandon,
      release,
      heldCalls: (sessionId) => entries.get(sessionId)?.heldCalls ?? [],
      isWarm: (sessionId) => entries.has(sessionId),
      warmSessions: () => [...entries.keys()].filter((key) => key !== spareKey),
      shutdown
    }
  })
