/**
 * Sessions as the caller may see them: its own (another principal's session is not found,
 * as if it did not exist).
 */
import { Effect, FiberRef, Option } from "effect"
import { CurrentPrincipal, ownerOf } from "../Auth.js"
import { SessionNotFound } from "../Domain/Errors.js"
import type { SessionStore } from "../SessionStore.js"

/** The owner of what the current caller creates. */
export const currentOwner = Effect.map(FiberRef.get(CurrentPrincipal), ownerOf)

/** The summary of the caller's session `sessionId`. */
export const callersSession = (store: SessionStore.Service, sessionId: string) =>
  Effect.gen(function*() {
    const summary = yield* store.sessionSummary(sessionId)
    if (Option.isNone(summary) || summary.value.owner !== (yield* currentOwner)) {
      return yield* new SessionNotFound({ sessionId })
    }
    return summary.value
  })
