/**
 * Classifying a failing turn from the recorded CLI lines: the `result`, the synthetic
 * assistant's `error` and the last `api_retry`, gathered the way ClaudeProcess gathers them.
 */
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { classifyErrorResult, type FailureClues } from "../../src/ClaudeProcess/outcome.js"
import { type CliResult, decodeCliLine, isApiRetry } from "../../src/Domain/CliEvent.js"
import { CliTurnError, ModelRejected, UpstreamFailure } from "../../src/Domain/Errors.js"

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "cli")

/** The first error result of a recording and the clues seen before it. */
const failingTurn = (name: string): { readonly result: CliResult; readonly clues: FailureClues } => {
  let clues: FailureClues = { syntheticError: null, lastRetry: null }
  const lines = readFileSync(join(FIXTURES, `${name}.jsonl`), "utf8").split("\n").filter((line) => line.length > 0)
  for (const line of lines) {
    const event = decodeCliLine(line)
    if (isApiRetry(event)) clues = { ...clues, lastRetry: event }
    else if (event.type === "assistant" && event.error !== undefined) clues = { ...clues, syntheticError: event.error }
    else if (event.type === "result" && event.is_error) return { result: event, clues }
  }
  throw new Error(`${name} has no error result`)
}

const classify = (name: string, model: string | null) => {
  const { clues, result } = failingTurn(name)
  return classifyErrorResult(result, clues, model)
}

describe("classifyErrorResult on recorded failures", () => {
  it("bad_model → ModelRejected naming the model, with the CLI's sentence", () => {
    const error = classify("bad_model", "bogus-model")
    expect(error).toBeInstanceOf(ModelRejected)
    expect(error).toMatchObject({
      _tag: "ModelRejected",
      models: ["bogus-model"],
      message:
        "There's an issue with the selected model (bogus-model). It may not exist or you may not have access to it. Run --model to pick a different model."
    })
  })

  it("bad_model without a known model → ModelRejected with no models", () => {
    const error = classify("bad_model", null)
    expect(error).toBeInstanceOf(ModelRejected)
    expect((error as ModelRejected).models).toEqual([])
  })

  it("a 404 status alone (no synthetic assistant) is a rejected model", () => {
    const { result } = failingTurn("bad_model")
    const error = classifyErrorResult(result, { syntheticError: null, lastRetry: null }, "m")
    expect(error).toBeInstanceOf(ModelRejected)
  })

  it("rate_limited_max_retries_2 → UpstreamFailure 429 with retryAfterSeconds from the last api_retry", () => {
    const { clues } = failingTurn("rate_limited_max_retries_2")
    expect(clues.lastRetry?.attempt).toBe(2)
    const error = classify("rate_limited_max_retries_2", "claude-opus-4-6-20260205")
    expect(error).toBeInstanceOf(UpstreamFailure)
    const failure = error as UpstreamFailure
    expect(failure.status).toBe(429)
    expect(failure.kind).toBe("rate_limit")
    expect(failure.message).toContain("Request rejected (429)")
    // The last retry waited 1202 ms: at least one second, rounded up.
    expect(failure.retryAfterSeconds).not.toBeNull()
    expect(failure.retryAfterSeconds!).toBeGreaterThanOrEqual(1)
    expect(failure.retryAfterSeconds).toBe(2)
  })

  it("overloaded → UpstreamFailure 529 taken from the last api_retry (api_error_status is null)", () => {
    const { result } = failingTurn("overloaded")
    expect(result.api_error_status).toBeNull()
    const error = classify("overloaded", null)
    expect(error).toBeInstanceOf(UpstreamFailure)
    const failure = error as UpstreamFailure
    expect(failure.status).toBe(529)
    expect(failure.message).toContain("Repeated 529 Overloaded errors")
    // The last retry waited 1225 ms.
    expect(failure.retryAfterSeconds).toBe(2)
  })

  it("overloaded_max_retries_1 → UpstreamFailure 529 from api_error_status", () => {
    const error = classify("overloaded_max_retries_1", null)
    expect(error).toBeInstanceOf(UpstreamFailure)
    expect((error as UpstreamFailure).status).toBe(529)
    expect((error as UpstreamFailure).retryAfterSeconds).toBe(1)
  })

  it("error500_max_retries_0 → UpstreamFailure 500 without retryAfter", () => {
    const { clues } = failingTurn("error500_max_retries_0")
    expect(clues.lastRetry).toBeNull()
    const error = classify("error500_max_retries_0", null)
    expect(error).toBeInstanceOf(UpstreamFailure)
    expect(error).toMatchObject({ status: 500, kind: "server_error", retryAfterSeconds: null })
    expect(error.message).toMatch(/^API Error: 500/)
  })

  it("a 500 after retries still has no retryAfter (only 429 and 529 are throttling)", () => {
    const { result } = failingTurn("error500_max_retries_0")
    const error = classifyErrorResult(result, {
      syntheticError: "server_error",
      lastRetry: {
        type: "system",
        subtype: "api_retry",
        attempt: 1,
        retry_delay_ms: 4000,
        error_status: 500,
        error: "server_error"
      }
    }, null)
    expect(error).toMatchObject({ _tag: "UpstreamFailure", status: 500, retryAfterSeconds: null })
  })

  it("max_turns → CliTurnError error_max_turns with the CLI's errors as message", () => {
    const error = classify("max_turns", null)
    expect(error).toBeInstanceOf(CliTurnError)
    expect(error).toMatchObject({ subtype: "error_max_turns", message: "Reached maximum number of turns (1)" })
  })

  it("cancel_sigint (error_during_execution) → CliTurnError, not an upstream failure", () => {
    const error = classify("cancel_sigint", null)
    expect(error).toBeInstanceOf(CliTurnError)
    expect((error as CliTurnError).subtype).toBe("error_during_execution")
  })

  it("no_key → UpstreamFailure of kind authentication_failed, no status, not retryable", () => {
    // The CLI made no API call ("Not logged in"): an authentication failure of the upstream
    // side, not a client error and not a rejected model.
    const error = classify("no_key", null)
    expect(error).toBeInstanceOf(UpstreamFailure)
    expect(error).toMatchObject({
      status: null,
      kind: "authentication_failed",
      message: "Not logged in · Please run /login",
      retryAfterSeconds: null
    })
  })

  it("falls back to the subtype when the result has neither text nor errors", () => {
    const error = classifyErrorResult(
      { type: "result", subtype: "error_something_new", is_error: true },
      { syntheticError: null, lastRetry: null },
      null
    )
    expect(error).toBeInstanceOf(CliTurnError)
    expect(error.message).toContain("error_something_new")
  })
})
