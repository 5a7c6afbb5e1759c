/**
 * Waiting with a deadline during cleanup. Finalizers run uninterruptibly, and a fiber
 * that is being interrupted cannot enter an interruptible region, so an ordinary
 * `Effect.timeout` there either never fires or gives up at once. The wait runs in a fresh
 * fiber instead, whose timeout works whatever state the caller is in.
 */
import { type Duration, Effect, Fiber, type Option } from "effect"

/** Runs `effect` for at most `duration`; `None` when the deadline passed (or it failed). */
export const withDeadline = <A, E>(
  effect: Effect.Effect<A, E>,
  duration: Duration.DurationInput
): Effect.Effect<Option.Option<A>> =>
  Effect.forkDaemon(Effect.interruptible(effect).pipe(Effect.timeout(duration), Effect.option)).pipe(
    Effect.flatMap(Fiber.join)
  )
