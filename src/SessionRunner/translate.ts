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
 * - Calls of the client's tools are followed by `clientCalls`; a run the model suspended on
 *   them ends without a `result` line, and `suspendedCompletion` completes its turn.
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
import {
  type ClientCallsOptions,
  type ClientCallsState,
  initialClientCalls,
  isClientResult,
  onAssistantMessage,
  onStreamEvent,
  onToolUseBlock,
  type Suspension,
  suspensionOf
} from "./clientCalls.js"

export interface TranslatorState {
  readonly turnId: string
  readonly init: CliInit | null
  readonly attachedModel: string | null
  /** Text streamed since the last `assistant` text block (for reconciliation). */
  readonly pendingText: string
  readonly clientCalls: ClientCallsState
  /** The CLI session a continued turn runs in (its run prints no `init` line). */
  readonly cliSessionId: string | null
}

export interface TranslatorOptions extends ClientCallsOptions {
  /** The CLI session of a turn that continues a suspended one. */
  readonly cliSessionId?: string | null | undefined
}

export const initialTranslatorState = (turnId: string, options: TranslatorOptions = {}): TranslatorState => ({
  turnId,
  init: null,
  attachedModel: null,
  pendingText: "",
  clientCalls: initialClientCalls(options),
  cliSessionId: options.cliSessionId ?? null
})

/** Whether the turn continues a suspended one: the CLI's `result` then covers both. */
const continues = (state: TranslatorState) => state.clientCalls.answered.size > 0

const cliSessionOf = (state: TranslatorState) => state.init?.session_id ?? state.cliSessionId ?? ""

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

const attach = (
  state: TranslatorState,
  model: string | undefined,
  startUsage: CliUsage | undefined = undefined
): [TranslatorState, ReadonlyArray<SessionEvent>] => {
  if (state.attachedModel !== null) return [state, []]
  const attachedModel = model ?? state.init?.model ?? "unknown"
  return [
    { ...state, attachedModel },
    [
      new TurnAttached({
        turnId: state.turnId,
        model: attachedModel,
        cliSessionId: cliSessionOf(state),
        cliVersion: state.init?.claude_code_version ?? null,
        startUsage: startUsage === undefined ? null : usageOf(startUsage)
      })
    ]
  ]
}

const completed = (state: TranslatorState, result: CliResult): TurnCompleted =>
  new TurnCompleted({
    turnId: state.turnId,
    model: state.attachedModel ?? state.init?.model ?? "unknown",
    cliSessionId: result.session_id ?? cliSessionOf(state),
    stopReason: result.stop_reason ?? null,
    // A continued turn's `result` counts the suspended part (and the hold) too: its own messages are summed
    // instead, and the CLI's cost and timings are left out.
    usage: continues(state) ? state.clientCalls.usage : usageOf(result.usage),
    costUsd: continues(state) ? null : result.total_cost_usd ?? null,
    durationMs: continues(state) ? null : result.duration_ms ?? null,
    numTurns: continues(state) ? null : result.num_turns ?? null,
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
      const [clientCalls, calls] = onStreamEvent(state.clientCalls, turnId, inner)
      if (clientCalls !== state.clientCalls) state = { ...state, clientCalls }
      if (calls.length > 0) {
        const [attached, before] = attach(state, undefined)
        return [attached, [...before, ...calls]]
      }
      if (inner.type === "message_start" && "message" in inner) {
        return attach(state, inner.message.model, inner.message.usage)
      }
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
      let next: TranslatorState = { ...state, clientCalls: onAssistantMessage(state.clientCalls, event.message) }
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
          const clientCall = onToolUseBlock(attached.clientCalls, turnId, block)
          if (clientCall === null) {
            out.push(new ToolUse({ turnId, toolUseId: block.id, name: block.name, input: block.input }))
            next = attached
          } else {
            for (const call of clientCall[1]) out.push(call)
            next = { ...attached, clientCalls: clientCall[0] }
          }
        }
      }
      return [next, out]
    }
    case "user": {
      if (event.isReplay === true || typeof event.message.content === "string") return [state, []]
      const results = event.message.content.flatMap((block) =>
        block.type === "tool_result" && "tool_use_id" in block && !isClientResult(state.clientCalls, block.tool_use_id)
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

/**
 * The end of a run that stopped on calls of the client's tools (no `result` line: the CLI
 * holds them open): the turn's `TurnCompleted` with the calls, and every call held. Null when
 * the run did not end that way.
 */
export const suspendedCompletion = (
  state: TranslatorState
): { readonly completed: TurnCompleted; readonly suspension: Suspension } | null => {
  const suspension = suspensionOf(state.clientCalls)
  if (suspension === null) return null
  return {
    suspension,
    completed: new TurnCompleted({
      turnId: state.turnId,
      model: state.attachedModel ?? state.init?.model ?? "unknown",
      cliSessionId: cliSessionOf(state),
      stopReason: "tool_use",
      usage: state.clientCalls.usage,
      costUsd: null,
      durationMs: null,
      numTurns: null,
      toolCalls: suspension.toolCalls
    })
  }
}
