/**
 * The life of the pool's processes: each lives in a scope of its own, started there (and
 * closed again if starting fails), and is retired in the background: stdin closed and a
 * moment to exit by itself (so its transcript is complete) unless it must go now, then its
 * scope closed. Retirements under one key happen in order, and the key's next process can
 * wait for them. `closeAll` ends whatever is still owned.
 */
import { Deferred, Duration, Effect, Exit, Scope } from "effect"
import type { CliConnection } from "../../ClaudeProcess.js"
import type { CliNotFound } from "../../Domain/Errors.js"
import { withDeadline } from "../../Internal/deadline.js"

/** A live process and the scope it lives in. */
export interface LiveProcess {
  readonly connection: CliConnection
  readonly scope: Scope.CloseableScope
}

export interface Lifecycle {
  /** Runs `start` in a new scope, which is closed again when starting fails. */
  readonly spawn: <A>(
    start: Effect.Effect<A, CliNotFound, Scope.Scope>
  ) => Effect.Effect<{ readonly scope: Scope.CloseableScope; readonly started: A }, CliNotFound>
  /**
   * Stops the process in the background, after the key's earlier retirements: gracefully
   * unless `now`. Returns at once.
   */
  readonly retire: (key: string, process: LiveProcess, options?: { readonly now?: boolean }) => Effect.Effect<void>
  /** Waits until the key's retirements so far are done. */
  readonly awaitRetired: (key: string) => Effect.Effect<void>
  /** Closes the process's scope now (SIGTERM, SIGKILL a second later). */
  readonly close: (scope: Scope.CloseableScope) => Effect.Effect<void>
  /** Stops the process gracefully, here and now. */
  readonly stop: (process: LiveProcess) => Effect.Effect<void>
  /** Waits for the retirements under way, then closes every process still owned. */
  readonly closeAll: Effect.Effect<void>
}

/** How long a retired process gets to exit by itself. */
const exitGrace = Duration.seconds(3)

/** Retirement fibers run in the current scope, and end (interrupted) when it closes. */
export const makeLifecycle: Effect.Effect<Lifecycle, never, Scope.Scope> = Effect.gen(function*() {
  const scope = yield* Effect.scope
  /** Per key, the retirement of its last process (done when that process is gone). */
  const retiring = new Map<string, Deferred.Deferred<void>>()
  /** Every process not yet closed, retiring ones included. */
  const owned = new Set<Scope.CloseableScope>()

  const close = (target: Scope.CloseableScope) =>
    Effect.suspend(() => {
      owned.delete(target)
      return Scope.close(target, Exit.void)
    })

  const stop = (process: LiveProcess) =>
    process.connection.endInput.pipe(
      Effect.zipRight(withDeadline(process.connection.awaitExit, exitGrace)),
      Effect.zipRight(close(process.scope))
    )

  const spawn = <A>(start: Effect.Effect<A, CliNotFound, Scope.Scope>) =>
    Effect.gen(function*() {
      const processScope = yield* Scope.make()
      owned.add(processScope)
      const started = yield* start.pipe(Scope.extend(processScope), Effect.onError(() => close(processScope)))
      return { scope: processScope, started }
    })

  const retire = (key: string, process: LiveProcess, options?: { readonly now?: boolean }) =>
    Effect.gen(function*() {
      const previous = retiring.get(key)
      const gone = yield* Deferred.make<void>()
      retiring.set(key, gone)
      const work = Effect.zipRight(
        previous === undefined ? Effect.void : Deferred.await(previous),
        options?.now === true ? close(process.scope) : stop(process)
      )
      const done = Effect.suspend(() => {
        if (retiring.get(key) === gone) retiring.delete(key)
        return Deferred.succeed(gone, undefined)
      })
      // The fiber starts uninterruptible (as this is), so `done` runs even if it is interrupted at once.
      yield* Effect.forkIn(Effect.interruptible(work).pipe(Effect.ensuring(done)), scope)
    }).pipe(Effect.uninterruptible)

  const awaitRetired = (key: string) =>
    Effect.suspend(() => {
      const previous = retiring.get(key)
      return previous === undefined ? Effect.void : Deferred.await(previous)
    })

  const closeAll = Effect.zipRight(
    Effect.suspend(() => Effect.forEach([...retiring.values()], (gone) => Deferred.await(gone), { discard: true })),
    Effect.suspend(() => Effect.forEach([...owned], close, { concurrency: "unbounded", discard: true }))
  )

  return { spawn, retire, awaitRetired, close, stop, closeAll }
})
