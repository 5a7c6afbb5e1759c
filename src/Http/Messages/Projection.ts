/**
 * Pure projections of a turn's logged events into Anthropic's Messages API: the stream's
 * events (`message_start`, each content block opened, filled and closed in turn,
 * `message_delta` with the stop reason and the usage, `message_stop`), and the message
 * itself, which is those events accumulated, so the two always agree. Text, thinking and
 * the client's tool calls become blocks; Claude Code's own tool runs stay inside the gateway.
 * The request's stop sequences cut the text as they do in chat.
 */
import { InternalFailure } from "../../Domain/Errors.js"
import type { StoredEvent, TurnCompleted, TurnUsage } from "../../Domain/SessionEvent.js"
import { flushStop, initialStopScanner, scanStop, type StopScanner } from "../Chat/StopSequences.js"
import type { TurnFailure } from "../Edge/Errors.js"
import type { AnthropicMessage, AnthropicUsage, ContentBlock } from "./Wire.js"

/** An event of Anthropic's message stream. */
export type MessageStreamEvent =
  | { readonly type: "message_start"; readonly message: AnthropicMessage }
  | { readonly type: "content_block_start"; readonly index: number; readonly content_block: ContentBlock }
  | {
    readonly type: "content_block_delta"
    readonly index: number
    readonly delta:
      | { readonly type: "text_delta"; readonly text: string }
      | { readonly type: "thinking_delta"; readonly thinking: string }
      | { readonly type: "input_json_delta"; readonly partial_json: string }
  }
  | { readonly type: "content_block_stop"; readonly index: number }
  | {
    readonly type: "message_delta"
    readonly delta: { readonly stop_reason: string; readonly stop_sequence: string | null }
    readonly usage: AnthropicUsage
  }
  | { readonly type: "message_stop" }

/** One projected step: stream events, or the turn's failure. */
export type MessageFrame =
  | { readonly _tag: "Event"; readonly event: MessageStreamEvent }
  | { readonly _tag: "Failure"; readonly failure: TurnFailure }

type BlockKind = "text" | "thinking" | "tool_use"

export interface MessageState {
  readonly id: string
  readonly model: string
  /** What `message_start` reports: the usage the upstream announced as the answer began, if known. */
  readonly startUsage: AnthropicUsage
  readonly started: boolean
  /** Blocks opened so far; the open one is the last, unless `open` is false. */
  readonly blocks: number
  readonly open: BlockKind | null
  /** The block of each client call, by the call's index. */
  readonly callBlocks: Readonly<Record<number, number>>
  /** The calls begun, by id (to complete the ones the stream never began). */
  readonly callIds: ReadonlyArray<string>
  readonly scanner: StopScanner
  readonly done: boolean
}

const emptyUsage: AnthropicUsage = {
  input_tokens: 0,
  output_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0
}

export const initialMessageState: MessageState = {
  id: "",
  model: "claude-code",
  startUsage: emptyUsage,
  started: false,
  blocks: 0,
  open: null,
  callBlocks: {},
  callIds: [],
  scanner: initialStopScanner,
  done: false
}

const messageId = (turnId: string) => `msg_${turnId.replace(/^turn_/, "")}`

/** The stop reason a client sees: its tool calls, a stop sequence, or Claude's own. */
const stopReasonOf = (completed: TurnCompleted, scanner: StopScanner): string =>
  completed.toolCalls.length > 0
    ? "tool_use"
    : scanner.stopped
    ? "stop_sequence"
    : completed.stopReason === null || completed.stopReason === "tool_use"
    ? "end_turn"
    : completed.stopReason

const usageOf = (usage: TurnUsage): AnthropicUsage => ({
  input_tokens: usage.inputTokens,
  output_tokens: usage.outputTokens,
  cache_creation_input_tokens: usage.cacheCreationInputTokens,
  cache_read_input_tokens: usage.cacheReadInputTokens
})

/** A step's output, built up while the state advances. */
class Steps {
  readonly frames: Array<MessageFrame> = []
  constructor(public state: MessageState) {}

  emit(event: MessageStreamEvent) {
    this.frames.push({ _tag: "Event", event })
  }

  /** Sends `message_start` first, once. */
  start() {
    if (this.state.started) return
    this.state = { ...this.state, started: true }
    this.emit({
      type: "message_start",
      message: {
        id: this.state.id,
        type: "message",
        role: "assistant",
        model: this.state.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: this.state.startUsage
      }
    })
  }

  close() {
    if (this.state.open === null) return
    this.emit({ type: "content_block_stop", index: this.state.blocks - 1 })
    this.state = { ...this.state, open: null }
  }

  /** Opens a block (closing the open one); returns its index. */
  open(block: ContentBlock): number {
    this.start()
    this.close()
    const index = this.state.blocks
    this.emit({ type: "content_block_start", index, content_block: block })
    this.state = { ...this.state, blocks: index + 1, open: block.type }
    return index
  }

  /** The index of the open block of this kind, opening one if needed. */
  ensure(kind: "text" | "thinking"): number {
    if (this.state.open === kind) return this.state.blocks - 1
    return this.open(kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" })
  }

  text(text: string) {
    if (text.length === 0) return
    const index = this.ensure("text")
    this.emit({ type: "content_block_delta", index, delta: { type: "text_delta", text } })
  }
}

/** The frames one logged event adds to the stream. */
export const messageEventsOf = (
  state: MessageState,
  stored: StoredEvent,
  stops: ReadonlyArray<string>
): [MessageState, ReadonlyArray<MessageFrame>] => {
  const event = stored.event
  const steps = new Steps(state)
  switch (event._tag) {
    case "TurnStarted":
      steps.state = {
        ...state,
        id: messageId(event.turnId),
        model: event.resolvedModel ?? event.requestedModel ?? state.model
      }
      break
    case "TurnAttached":
      steps.state = {
        ...state,
        model: event.model,
        startUsage: event.startUsage === null ? state.startUsage : usageOf(event.startUsage)
      }
      steps.start()
      break
    case "TextDelta": {
      const [scanner, released] = scanStop(state.scanner, event.text, stops)
      steps.state = { ...state, scanner }
      steps.text(released)
      break
    }
    case "ThinkingDelta":
      if (event.text.length > 0) {
        const index = steps.ensure("thinking")
        steps.emit({ type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: event.text } })
      }
      break
    case "ToolCallStarted": {
      const index = steps.open({ type: "tool_use", id: event.callId, name: event.name, input: {} })
      steps.state = {
        ...steps.state,
        callBlocks: { ...steps.state.callBlocks, [event.index]: index },
        callIds: [...steps.state.callIds, event.callId]
      }
      break
    }
    case "ToolCallDelta": {
      const index = state.callBlocks[event.index]
      if (index !== undefined && event.arguments.length > 0) {
        steps.emit({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: event.arguments }
        })
      }
      break
    }
    case "TurnCompleted": {
      steps.text(flushStop(state.scanner))
      // Calls the stream never began (an answer that came whole) are sent now, whole.
      for (const call of event.toolCalls) {
        if (state.callIds.includes(call.id)) continue
        const index = steps.open({ type: "tool_use", id: call.id, name: call.name, input: {} })
        steps.emit({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: call.arguments }
        })
      }
      steps.start()
      steps.close()
      steps.emit({
        type: "message_delta",
        delta: { stop_reason: stopReasonOf(event, state.scanner), stop_sequence: state.scanner.matched ?? null },
        usage: usageOf(event.usage)
      })
      steps.emit({ type: "message_stop" })
      steps.state = { ...steps.state, model: event.model, done: true }
      break
    }
    case "TurnFailed":
      steps.frames.push({ _tag: "Failure", failure: { _tag: "Failed", error: event.error } })
      steps.state = { ...state, done: true }
      break
    case "TurnCancelled":
      steps.frames.push({ _tag: "Failure", failure: { _tag: "Cancelled", reason: event.reason } })
      steps.state = { ...state, done: true }
      break
    default:
      break
  }
  return [steps.state, steps.frames]
}

/** A tool call's input from its streamed JSON (an object, `{}` when there was none). */
const inputOf = (json: string): unknown => {
  if (json.trim().length === 0) return {}
  try {
    return JSON.parse(json)
  } catch {
    return {}
  }
}

/** The message a finished turn answered (its stream events accumulated), or how it failed. */
export const messageOf = (
  events: ReadonlyArray<StoredEvent>,
  stops: ReadonlyArray<string>
): AnthropicMessage | TurnFailure => {
  let state = initialMessageState
  let message = null as AnthropicMessage | null
  const content: Array<ContentBlock> = []
  const inputs: Array<string> = []
  for (const stored of events) {
    const [next, frames] = messageEventsOf(state, stored, stops)
    state = next
    for (const frame of frames) {
      if (frame._tag === "Failure") return frame.failure
      const event = frame.event
      switch (event.type) {
        case "message_start":
          message = event.message
          break
        case "content_block_start":
          content[event.index] = event.content_block
          inputs[event.index] = ""
          break
        case "content_block_delta": {
          const block = content[event.index]!
          if (event.delta.type === "text_delta" && block.type === "text") {
            content[event.index] = { ...block, text: block.text + event.delta.text }
          } else if (event.delta.type === "thinking_delta" && block.type === "thinking") {
            content[event.index] = { ...block, thinking: block.thinking + event.delta.thinking }
          } else if (event.delta.type === "input_json_delta") {
            inputs[event.index] += event.delta.partial_json
          }
          break
        }
        case "content_block_stop": {
          const block = content[event.index]!
          if (block.type === "tool_use") content[event.index] = { ...block, input: inputOf(inputs[event.index]!) }
          break
        }
        case "message_delta":
          if (message !== null) {
            message = {
              ...message,
              stop_reason: event.delta.stop_reason,
              stop_sequence: event.delta.stop_sequence,
              usage: event.usage
            }
          }
          break
        case "message_stop":
          return { ...message!, model: state.model, content }
      }
    }
  }
  return { _tag: "Failed", error: new InternalFailure({ message: "the turn's events end before the turn does" }) }
}
