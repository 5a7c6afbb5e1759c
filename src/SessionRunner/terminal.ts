/**
 * How a turn's fiber ended, as the event that records its end. Pure: the runner appends
 * what this returns, so every way a turn can end has exactly one record.
 */
import { Cause, Exit, Option } from "effect"
import { InternalFailure, type StoreError, type TurnError } from "../Domain/Errors.js"
import { type CancelReason, TurnCancelled, TurnFailed } from "../Domain/SessionEvent.js"

/**
 * What a turn's fiber yields: `Some` when the turn completed (its `TurnCompleted` is
 * already in the log), `None` when it outlived its time limit.
 */
export type TurnExit = Exit.Exit<Option.Option<void>, TurnError | StoreError>

/**
 * The event that records a turn's end, or null when the turn recorded its own
 * (`TurnCompleted`).
 * - Timed out: `TurnCancelled(timeout)`.
 * - Interrupted: `TurnCancelled` with the reason it was stopped for (`interrupted` when
 *   nobody gave one).
 * - Failed: `TurnFailed` with its error; a store failure or a defect becomes an
 *   `InternalFailure`, whose message is for logs only.
 */
export const terminalEventOf = (
  turnId: string,
  exit: TurnExit,
  cancelReason: CancelReason | null
): TurnCancelled | TurnFailed | null => {
  if (Exit.isSuccess(exit)) {
    return Option.isSome(exit.value) ? null : new TurnCancelled({ turnId, reason: "timeout" })
  }
  if (Cause.isInterruptedOnly(exit.cause)) {
    return new TurnCancelled({ turnId, reason: cancelReason ?? "interrupted" })
  }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) {
    return new TurnFailed({ turnId, error: new InternalFailure({ message: "unexpected failure" }) })
  }
  const error = failure.value
  return new TurnFailed({
    turnId,
    error: error._tag === "StoreError" ? new InternalFailure({ message: error.message }) : error
  })
}
