/**
 * Turning one CLI run's lines into log events. Pure and incremental: feed it lines in
 * order, get the events they mean.
 *
 * - Text and thinking come from the token-level `stream_event` deltas. When the CLI
 *   finishes a block by other means (a non-streaming retry after a mid-stream error, or a
 *   run without partial messages), the `assistant` line's text is reconciled: whatever the
 *   deltas did not carry yet is emitted as one more delta.
 * - `TurnAttached` is emitted when the upstream accepted the request (its first
 *   `message_start`), so a rejected model never looks like a started answer.
 * - Sub-agent traffic (`parent_tool_use_id` set) and the CLI's synthetic error messages
 *   are not part of the answer.
 */
import type { CliEvent, CliInit, CliResult, CliUsage } from "../Domain/CliEvent.js"
import { isApiRetry, isInit, isModelFallback } from "../Domain/CliEvent.js"
import {
  ModelFallback,
  type SessionEvent,
  TextDelta,
  ThinkingDelta,
  ToolResult,
  ToolUse,
  TurnAttached,
  TurnCompleted,
  type TurnUsage,
  UpstreamRetry
} from "../Domain/SessionEvent.js"

export interface TranslatorState {
  readonly turnId: string
  readonly init: CliInit | null
  readonly attachedModel: string | null
  /** Text streamed since the last `assistant` text block (for reconciliation). */
  readonly pendingText: string
}

export const initialTranslatorState = (turnId: string): TranslatorState => ({
  turnId,
  init: null,
  attachedModel: null,
  pendingText: ""
})

export const usageOf = (usage: CliUsage | undefined): TurnUsage => ({
  inputTokens: usage?.input_tokens ?? 0,
  outputTokens: usage?.output_tokens ?? 0,
  cacheReadInputTokens: usage?.cache_read_input_tokens ?? 0,
  cacheCreationInputTokens: usage?.cache_creation_input_tokens ?? 0
})

/** The text of a tool result's `content` (a string or a list of blocks). */
export const toolResultText = (content: unknown): string => {
  if (typeof content === "string") return content
  if (Array.isArray(content)) {
    return content
      .map((block) =>
        typeof block === "object" && block !== null && "text" in block && typeof block.text === "string"
          ? block.text
          : typeof block === "object" && block !== null && "type" in block
          ? `[${String(block.type)}]`
          : ""
      )
      .join("")
  }
  return content === undefined || content === null ? "" : JSON.stringify(content)
}

const attach = (state: TranslatorState, model: string | undefined): [TranslatorState, ReadonlyArray<SessionEvent>] => {
  if (state.attachedModel !== null) return [state, []]
  const attachedModel = model ?? state.init?.model ?? "unknown"
  return [
    { ...state, attachedModel },
    [
      new TurnAttached({
        turnId: state.turnId,
        model: attachedModel,
        cliSessionId: state.init?.session_id ?? "",
        cliVersion: state.init?.claude_code_version ?? null
      })
    ]
  ]
}

const completed = (state: TranslatorState, result: CliResult): TurnCompleted =>
  new TurnCompleted({
    turnId: state.turnId,
    model: state.attachedModel ?? state.init?.model ?? "unknown",
    cliSessionId: result.session_id ?? state.init?.session_id ?? "",
    stopReason: result.stop_reason ?? null,
    usage: usageOf(result.usage),
    costUsd: result.total_cost_usd ?? null,
    durationMs: result.duration_ms ?? null,
    numTurns: result.num_turns ?? null,
    structuredOutput: result.structured_output ?? null
  })

/** One step: the next state and the log events this line means. */
export const translate = (
  state: TranslatorState,
  event: CliEvent
): [TranslatorState, ReadonlyArray<SessionEvent>] => {
  const turnId = state.turnId
  if (isInit(event)) return [{ ...state, init: event }, []]
  if (isApiRetry(event)) {
    return [state, [
      new UpstreamRetry({
        turnId,
        attempt: event.attempt,
        status: event.error_status ?? null,
        kind: event.error ?? null,
        delayMs: event.retry_delay_ms ?? null
      })
    ]]
  }
  if (isModelFallback(event)) {
    return [{ ...state, attachedModel: null }, [
      new ModelFallback({
        turnId,
        fromModel: event.original_model,
        toModel: event.fallback_model,
        reason: event.trigger ?? "fallback"
      })
    ]]
  }
  if ("parent_tool_use_id" in event && event.parent_tool_use_id != null) return [state, []]

  switch (event.type) {
    case "stream_event": {
      const inner = event.event
      if (inner.type === "message_start" && "message" in inner) return attach(state, inner.message.model)
      if (inner.type === "content_block_delta" && "delta" in inner) {
        const delta = inner.delta
        if (delta.type === "text_delta" && "text" in delta && delta.text.length > 0) {
          const [attached, before] = attach(state, undefined)
          return [{ ...attached, pendingText: attached.pendingText + delta.text }, [
            ...before,
            new TextDelta({ turnId, text: delta.text })
          ]]
        }
        if (delta.type === "thinking_delta" && "thinking" in delta && delta.thinking.length > 0) {
          return [state, [new ThinkingDelta({ turnId, text: delta.thinking })]]
        }
      }
      return [state, []]
    }
    case "assistant": {
      if (event.error !== undefined || event.message.model === "<synthetic>") return [state, []]
      let next = state
      const out: Array<SessionEvent> = []
      for (const block of event.message.content) {
        if (block.type === "text" && "text" in block) {
          const [attached, before] = attach(next, event.message.model)
          for (const attachment of before) out.push(attachment)
          const missing = block.text.startsWith(attached.pendingText)
            ? block.text.slice(attached.pendingText.length)
            : ""
          if (missing.length > 0) out.push(new TextDelta({ turnId, text: missing }))
          next = { ...attached, pendingText: "" }
        } else if (block.type === "tool_use" && "name" in block) {
          const [attached, before] = attach(next, event.message.model)
          for (const attachment of before) out.push(attachment)
          out.push(new ToolUse({ turnId, toolUseId: block.id, name: block.name, input: block.input }))
          next = attached
        }
      }
      return [next, out]
    }
    case "user": {
      if (event.isReplay === true || typeof event.message.content === "string") return [state, []]
      const results = event.message.content.flatMap((block) =>
        block.type === "tool_result" && "tool_use_id" in block
          ? [
            new ToolResult({
              turnId,
              toolUseId: block.tool_use_id,
              content: toolResultText(block.content),
              isError: block.is_error === true
            })
          ]
          : []
      )
      return [state, results]
    }
    case "result": {
      if (event.is_error) return [state, []]
      const [attached, before] = attach(state, undefined)
      return [attached, [...before, completed(attached, event)]]
    }
    default:
      return [state, []]
  }
}
