/**
 * The line a turn's end is logged with: outcome, ids, model, tokens, cost and duration, at
 * the level its outcome calls for.
 */
import { describe, expect, it } from "@effect/vitest"
import { LogLevel } from "effect"
import { CliExitedEarly, ModelRejected } from "../../src/Domain/Errors.js"
import { TurnCancelled, TurnCompleted, TurnFailed } from "../../src/Domain/SessionEvent.js"
import { turnEndLine } from "../../src/SessionRunner/turnLog.js"

const context = { sessionId: "s-1", turnId: "turn_1", model: "claude-sonnet-4-5-20250929", startedAt: 1_000 }

describe("turnEndLine", () => {
  it("a completed turn: info, with the model it ran, its tokens, cost and duration", () => {
    const end = new TurnCompleted({
      turnId: "turn_1",
      model: "claude-opus-4-5-20251101",
      cliSessionId: "cli-1",
      stopReason: "end_turn",
      usage: { inputTokens: 10, outputTokens: 20, cacheReadInputTokens: 30, cacheCreationInputTokens: 40 },
      costUsd: 0.5,
      durationMs: 900,
      numTurns: 1
    })
    expect(turnEndLine(end, context, 2_250)).toEqual({
      level: LogLevel.Info,
      message: "turn completed",
      annotations: {
        session_id: "s-1",
        turn_id: "turn_1",
        duration_ms: 1_250,
        model: "claude-opus-4-5-20251101",
        stop_reason: "end_turn",
        input_tokens: 10,
        output_tokens: 20,
        cache_read_tokens: 30,
        cache_write_tokens: 40,
        cost_usd: 0.5
      }
    })
  })

  it("a failed turn: error, with the error's tag and message (stderr included)", () => {
    const end = new TurnFailed({
      turnId: "turn_1",
      error: new CliExitedEarly({ exitCode: 3, signal: null, stderrTail: "fatal: simulated crash" })
    })
    const line = turnEndLine(end, context, 1_500)
    expect(line.level).toBe(LogLevel.Error)
    expect(line.message).toBe("turn failed")
    expect(line.annotations).toMatchObject({
      session_id: "s-1",
      turn_id: "turn_1",
      duration_ms: 500,
      model: "claude-sonnet-4-5-20250929",
      error: "CliExitedEarly",
      error_message: "Claude Code CLI exited early (code 3): fatal: simulated crash"
    })
  })

  it("a model the upstream refused is the client's choice: a warning", () => {
    const end = new TurnFailed({
      turnId: "turn_1",
      error: new ModelRejected({ models: ["x"], message: "no such model" })
    })
    expect(turnEndLine(end, context, 1_000).level).toBe(LogLevel.Warning)
  })

  it("a cancelled turn: info, with the reason; no model when the CLI chose it", () => {
    const line = turnEndLine(new TurnCancelled({ turnId: "turn_1", reason: "disconnect" }), {
      ...context,
      model: null
    }, 1_020)
    expect(line).toEqual({
      level: LogLevel.Info,
      message: "turn cancelled",
      annotations: { session_id: "s-1", turn_id: "turn_1", duration_ms: 20, reason: "disconnect" }
    })
  })
})
