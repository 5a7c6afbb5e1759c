/**
 * Reading a turn's outcome from the CLI's lines: every API failure ends with a normal
 * looking `result` (`is_error: true`), so the classification keys on `is_error`,
 * `api_error_status`, the synthetic assistant's `error` and the last `api_retry` line.
 */
import type { CliApiRetry, CliResult } from "../Domain/CliEvent.js"
import { CliTurnError, ModelRejected, UpstreamFailure } from "../Domain/Errors.js"

/** What the lines before `result` told us about a failing turn. */
export interface FailureClues {
  /** `error` of the CLI's synthetic assistant message (`model_not_found`, `rate_limit`, …). */
  readonly syntheticError: string | null
  readonly lastRetry: CliApiRetry | null
}

export const classifyErrorResult = (
  result: CliResult,
  clues: FailureClues,
  model: string | null
): ModelRejected | UpstreamFailure | CliTurnError => {
  const message = result.result ?? result.errors?.join("; ") ?? `Claude Code ended the turn with ${result.subtype}`
  if (result.api_error_status === 404 || clues.syntheticError === "model_not_found") {
    return new ModelRejected({ models: model !== null ? [model] : [], message })
  }
  const status = result.api_error_status ?? clues.lastRetry?.error_status ?? null
  if (status !== null || clues.syntheticError !== null || message.startsWith("API Error")) {
    const retryDelay = clues.lastRetry?.retry_delay_ms
    const throttled = status === 429 || status === 529
    return new UpstreamFailure({
      status,
      kind: clues.syntheticError ?? clues.lastRetry?.error ?? null,
      message,
      retryAfterSeconds: throttled && retryDelay != null ? Math.max(1, Math.ceil(retryDelay / 1000)) : null
    })
  }
  return new CliTurnError({ subtype: result.subtype, message })
}
