/**
 * Writing to one session's log. The session's actor is its only writer, so it keeps its own
 * sequence counter; an append that finds the session moved on (another writer) is a
 * `StoreError`. This is the one place where a `SequenceConflict` of a session is mapped.
 */
import { Effect } from "effect"
import { StoreError } from "../Domain/Errors.js"
import type { SessionEvent, StoredEvent } from "../Domain/SessionEvent.js"
import type { SessionStore } from "../SessionStore.js"

/** Appends events to `sessionId`, whose last sequence is `lastSequence`, in order. */
export type SessionAppender = (
  events: ReadonlyArray<SessionEvent>
) => Effect.Effect<ReadonlyArray<StoredEvent>, StoreError>

export const sessionAppender = (
  store: SessionStore.Service,
  sessionId: string,
  lastSequence: number
): SessionAppender => {
  let sequence = lastSequence
  return (events) =>
    // The sequence is read when the append runs, not when it is built: a turn builds its first
    // append while its start may still be on its way to the log.
    events.length === 0 ? Effect.succeed([]) : Effect.suspend(() => store.append(sessionId, sequence, events)).pipe(
      Effect.tap((stored) =>
        Effect.sync(() => {
          sequence = stored[stored.length - 1]!.sequence
        })
      ),
      Effect.catchTag("SequenceConflict", (conflict) =>
        Effect.fail(
          new StoreError({
            method: "append",
            message: `concurrent write to session ${conflict.sessionId} (expected sequence ${conflict.expected})`,
            cause: conflict
          })
        ))
    )
}
