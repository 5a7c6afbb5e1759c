/**
 * The log line of a turn's end, written once the end is recorded: the outcome (completed;
 * failed, with the error's tag and message; cancelled, with the reason), session, turn, model,
 * tokens, cost and duration. Completed and cancelled turns are info, failures errors, except a
 * model the upstream refused (the client's choice), which is a warning.
 */
import { Clock, Effect, LogLevel } from "effect"
import { isTurnTerminal, type SessionEvent, type TurnTerminal } from "../Domain/SessionEvent.js"
import type { AdmittedTurn } from "./Admission.js"

/** What is known of a turn besides its end. */
export interface TurnLogContext {
  readonly sessionId: string
  readonly turnId: string
  /** The model the turn was started with (null: the CLI's default); a completed turn names its own. */
  readonly model: string | null
  /** Milliseconds since the epoch. */
  readonly startedAt: number
}

export interface TurnEndLine {
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** The line for a turn's end, `now` milliseconds since the epoch. */
export const turnEndLine = (end: TurnTerminal, context: TurnLogContext, now: number): TurnEndLine => {
  const common = {
    session_id: context.sessionId,
    turn_id: context.turnId,
    duration_ms: Math.max(0, now - context.startedAt)
  }
  const startedWith = context.model === null ? {} : { model: context.model }
  switch (end._tag) {
    case "TurnCompleted":
      return {
        level: LogLevel.Info,
        message: "turn completed",
        annotations: {
          ...common,
          model: end.model,
          stop_reason: end.stopReason,
          input_tokens: end.usage.inputTokens,
          cache_read_tokens: end.usage.cacheReadInputTokens,
          cache_write_tokens: end.usage.cacheCreationInputTokens,
          output_tokens: end.usage.outputTokens,
          cost_usd: end.costUsd
        }
      }
    case "TurnFailed":
      return {
        level: end.error._tag === "ModelRejected" ? LogLevel.Warning : LogLevel.Error,
        message: "turn failed",
        annotations: { ...common, ...startedWith, error: end.error._tag, error_message: end.error.message }
      }
    case "TurnCancelled":
      return {
        level: LogLevel.Info,
        message: "turn cancelled",
        annotations: { ...common, ...startedWith, reason: end.reason }
      }
  }
}

/** Logs the end among `events`, if they hold one. */
export const logTurnEnd = (turn: AdmittedTurn, events: ReadonlyArray<SessionEvent>): Effect.Effect<void> => {
  const end = events.find(isTurnTerminal)
  if (end === undefined) return Effect.void
  const context: TurnLogContext = {
    sessionId: turn.sessionId,
    turnId: turn.claim.turnId,
    model: turn.model.model,
    startedAt: turn.claim.startedAt
  }
  return Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const line = turnEndLine(end, context, now)
    return Effect.annotateLogs(Effect.logWithLevel(line.level, line.message), line.annotations)
  })
}
