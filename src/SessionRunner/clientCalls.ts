/**
 * The client's tool calls in a CLI run, for `translate`. Pure: a call of one of the client's
 * tools becomes `ToolCallStarted` and one `ToolCallDelta` with its whole arguments (`{}` when
 * the model wrote none), never a `ToolUse`, as soon as the model has finished writing it: a
 * call cut off by a broken stream is never shown, so no client runs it with half its
 * arguments. When the model stops for the calls, the CLI holds them open and the turn is
 * suspended: its usage is summed from the stream's messages, as no `result` line comes.
 *
 * Without parallel calls, only an answer's first call is shown to the client; the CLI still
 * holds the others, which are answered as not executed when the turn continues. An answer
 * that came whole (the CLI's non-streaming retry after a broken stream) shows its calls from
 * its `assistant` lines. Only the last answer's calls count: an answer that calls the client's
 * tools ends the turn, so calls of an earlier one were cut off with its stream.
 */
import type { AnthropicStreamEvent, CliUsage } from "../Domain/CliEvent.js"
import { type SessionEvent, ToolCallDelta, ToolCallStarted, type TurnUsage } from "../Domain/SessionEvent.js"
import type { ToolCall } from "../Domain/Tools.js"

/** A call of a client tool, as far as the model produced it. */
interface PendingCall {
  readonly callId: string
  readonly name: string
  readonly arguments: string
  /** Its content block in the current message (null when it came whole, from an `assistant` line). */
  readonly block: number | null
  /** Whether the model has finished writing it, so it was shown (or, parallel calls off, left unshown). */
  readonly complete: boolean
  /** Its index for the client; null until shown, and for a call the client does not see. */
  readonly index: number | null
}

export interface ClientCallsState {
  readonly names: ReadonlySet<string>
  readonly parallel: boolean
  /** Calls answered when this turn began: the CLI's echo of their results is not news. */
  readonly answered: ReadonlySet<string>
  /** The current answer's calls. */
  readonly calls: ReadonlyArray<PendingCall>
  /** How many calls the client was shown in the run: the next call's index. */
  readonly shown: number
  /** The current answer. */
  readonly messageId: string
  /** The current message's stop reason. */
  readonly stopReason: string | null
  /** Usage summed over the run's messages (the CLI's `result` is missing or cumulative). */
  readonly usage: TurnUsage
  /** The current message's output tokens counted so far. */
  readonly messageOutput: number
}

export interface ClientCallsOptions {
  /** Names of the client's tools offered this turn. */
  readonly names?: ReadonlySet<string> | undefined
  /** Whether the client accepts several calls in one answer (default true). */
  readonly parallel?: boolean | undefined
  /** Calls whose results this turn hands to the CLI. */
  readonly answered?: Iterable<string> | undefined
}

export const initialClientCalls = (options: ClientCallsOptions = {}): ClientCallsState => ({
  names: options.names ?? new Set(),
  parallel: options.parallel ?? true,
  answered: new Set(options.answered ?? []),
  calls: [],
  shown: 0,
  messageId: "",
  stopReason: null,
  usage: { inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
  messageOutput: 0
})

const count = (value: number | null | undefined) => value ?? 0

const addUsage = (usage: TurnUsage, start: CliUsage | undefined): TurnUsage => ({
  inputTokens: usage.inputTokens + count(start?.input_tokens),
  outputTokens: usage.outputTokens + count(start?.output_tokens),
  cacheReadInputTokens: usage.cacheReadInputTokens + count(start?.cache_read_input_tokens),
  cacheCreationInputTokens: usage.cacheCreationInputTokens + count(start?.cache_creation_input_tokens)
})

/** Begins a call the model is writing (not shown until it is complete). */
const begin = (state: ClientCallsState, call: Omit<PendingCall, "index" | "complete">): ClientCallsState => ({
  ...state,
  calls: [...state.calls, { ...call, complete: false, index: null }]
})

/** Adds a piece of arguments to the answer's call at `position`. */
const extend = (state: ClientCallsState, position: number, piece: string): ClientCallsState => ({
  ...state,
  calls: state.calls.map((each, at) => (at === position ? { ...each, arguments: each.arguments + piece } : each))
})

/**
 * The call at `position` is written: shown whole (`whole`, when given, stands for what the
 * stream did not carry), unless parallel calls are off and the answer showed one already.
 */
const finish = (
  state: ClientCallsState,
  turnId: string,
  position: number,
  whole?: string
): [ClientCallsState, ReadonlyArray<SessionEvent>] => {
  const call = state.calls[position]!
  if (call.complete) return [state, []]
  const visible = state.parallel || !state.calls.some((each) => each.index !== null)
  const index = visible ? state.shown : null
  const text = call.arguments.length > 0 ? call.arguments : whole !== undefined && whole.length > 0 ? whole : "{}"
  const calls = state.calls.map((
    each,
    at
  ) => (at === position ? { ...each, arguments: text, complete: true, index } : each))
  return [
    { ...state, calls, shown: state.shown + (visible ? 1 : 0) },
    index === null ? [] : [
      new ToolCallStarted({ turnId, index, callId: call.callId, name: call.name }),
      new ToolCallDelta({ turnId, index, arguments: text })
    ]
  ]
}

const callAtBlock = (state: ClientCallsState, block: number) => state.calls.findIndex((call) => call.block === block)

/** What a raw stream event means for the client's calls (and the run's usage). */
export const onStreamEvent = (
  state: ClientCallsState,
  turnId: string,
  event: AnthropicStreamEvent
): [ClientCallsState, ReadonlyArray<SessionEvent>] => {
  switch (event.type) {
    case "message_start": {
      const message = "message" in event ? event.message : undefined
      return [
        {
          ...state,
          calls: [],
          messageId: message?.id ?? "",
          stopReason: null,
          usage: addUsage(state.usage, message?.usage),
          messageOutput: count(message?.usage?.output_tokens)
        },
        []
      ]
    }
    case "message_delta": {
      if (!("delta" in event)) return [state, []]
      const output = event.usage?.output_tokens
      const usage = output == null
        ? state.usage
        : { ...state.usage, outputTokens: state.usage.outputTokens + output - state.messageOutput }
      return [{
        ...state,
        stopReason: event.delta.stop_reason ?? null,
        usage,
        messageOutput: output ?? state.messageOutput
      }, []]
    }
    case "content_block_start": {
      if (!("content_block" in event)) return [state, []]
      const block = event.content_block
      if (block.type !== "tool_use" || !("name" in block) || !state.names.has(block.name)) return [state, []]
      return [begin(state, { callId: block.id, name: block.name, arguments: "", block: event.index }), []]
    }
    case "content_block_delta": {
      if (!("delta" in event) || event.delta.type !== "input_json_delta" || !("partial_json" in event.delta)) {
        return [state, []]
      }
      const position = callAtBlock(state, event.index)
      return position === -1 ? [state, []] : [extend(state, position, event.delta.partial_json), []]
    }
    case "content_block_stop": {
      if (!("index" in event)) return [state, []]
      const position = callAtBlock(state, event.index)
      return position === -1 ? [state, []] : finish(state, turnId, position)
    }
    default:
      return [state, []]
  }
}

/**
 * An `assistant` line's message. One that came whole carries its stop reason (streamed ones
 * print none: their `message_delta` does) and, on its first line, the usage its stream would
 * have reported; it is a new answer, so calls of a broken one are dropped.
 */
export const onAssistantMessage = (
  state: ClientCallsState,
  message: {
    readonly id: string
    readonly stop_reason?: string | null | undefined
    readonly usage?: CliUsage | undefined
  }
): ClientCallsState => {
  if (message.stop_reason == null) return state
  if (message.id === state.messageId) return { ...state, stopReason: message.stop_reason }
  return {
    ...state,
    calls: [],
    messageId: message.id,
    stopReason: message.stop_reason,
    usage: addUsage(state.usage, message.usage),
    messageOutput: count(message.usage?.output_tokens)
  }
}

/**
 * A `tool_use` block of an `assistant` line: null when it is not a call of a client tool (so
 * it is Claude Code's own). A call the stream did not show (an answer that came whole, or a
 * run without partial messages) is shown now, whole.
 */
export const onToolUseBlock = (
  state: ClientCallsState,
  turnId: string,
  block: { readonly id: string; readonly name: string; readonly input: unknown }
): [ClientCallsState, ReadonlyArray<SessionEvent>] | null => {
  if (!state.names.has(block.name)) return null
  const whole = JSON.stringify(block.input ?? {})
  // A streamed call's line comes once its block is written (before the block's stop): it is complete.
  const streamed = state.calls.findIndex((call) => call.callId === block.id)
  if (streamed !== -1) return finish(state, turnId, streamed, whole)
  const begun = begin(state, { callId: block.id, name: block.name, arguments: "", block: null })
  return finish(begun, turnId, begun.calls.length - 1, whole)
}

/** Whether a `tool_result` answers a client's call (the client sent it; it is no event of the run). */
export const isClientResult = (state: ClientCallsState, toolUseId: string): boolean =>
  state.answered.has(toolUseId) || state.calls.some((call) => call.callId === toolUseId)

/** The calls the model stopped for, when the run ended suspended on them. */
export interface Suspension {
  /** What the client is asked to run. */
  readonly toolCalls: ReadonlyArray<ToolCall>
  /** Every call the CLI holds open (the shown ones and, without parallel calls, the others). */
  readonly held: ReadonlyArray<string>
}

/** The suspension a run that ended without a `result` line ended on (its last answer's calls), if any. */
export const suspensionOf = (state: ClientCallsState): Suspension | null => {
  const calls = state.calls
  if (calls.length === 0 || state.stopReason !== "tool_use") return null
  return {
    toolCalls: calls.filter((call) => call.index !== null).map((call) => ({
      id: call.callId,
      name: call.name,
      arguments: call.arguments.length > 0 ? call.arguments : "{}"
    })),
    held: calls.map((call) => call.callId)
  }
}
