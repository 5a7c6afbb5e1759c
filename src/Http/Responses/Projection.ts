/**
 * Pure projection of a turn's logged events into the Responses API: the stream events of
 * an answer, in the grammar's order (`response.created`, `response.in_progress`, each output
 * item opened, filled and closed before the next opens, then `response.completed`,
 * `response.incomplete` or `response.failed`), numbered from 0. The JSON answer and a stored
 * response are the last snapshot of the same run, so stream and JSON always agree.
 *
 * Output items: the model's thinking is a reasoning item (its summary), its text a message
 * item, each call of the client's tools a function_call item; a new run of thinking or text
 * after another item is a new item. Claude Code's own tool uses are left out: Claude Code
 * ran them already, and a client would run a function_call again.
 */
import type { StoreError } from "../../Domain/Errors.js"
import type { StoredEvent, TurnCompleted, TurnUsage } from "../../Domain/SessionEvent.js"
import type { ToolCall } from "../../Domain/Tools.js"
import type { TurnFailure } from "../Edge/Errors.js"
import { fromCancel, fromDomain } from "../Edge/Errors.js"
import { callItemIdOf, messageIdOf, reasoningIdOf, responseIdOf } from "./Ids.js"
import type {
  ItemStatus,
  OutputItem,
  OutputText,
  ResponseObject,
  ResponseStatus,
  ResponseStreamEvent,
  ResponseUsage
} from "./Wire.js"

/** The request's fields a response echoes. */
export type ResponseEcho = Pick<
  ResponseObject,
  | "instructions"
  | "max_output_tokens"
  | "metadata"
  | "parallel_tool_calls"
  | "previous_response_id"
  | "reasoning"
  | "store"
  | "temperature"
  | "text"
  | "tool_choice"
  | "tools"
  | "top_p"
  | "truncation"
  | "user"
>

/** What the projection needs besides the events. */
export interface ResponseContext {
  readonly sessionId: string
  readonly projectId: string
  /** The request asked for JSON (`text.format`): the message is the structured output, sent whole at the end. */
  readonly structured: boolean
  readonly echo: ResponseEcho
}

/** The output item being streamed. */
type OpenItem =
  | { readonly _tag: "message"; readonly id: string; readonly text: string }
  | { readonly _tag: "reasoning"; readonly id: string; readonly text: string }
  | {
    readonly _tag: "call"
    readonly id: string
    readonly callId: string
    readonly name: string
    readonly arguments: string
  }

export interface ResponseState {
  /** The next event's `sequence_number`. */
  readonly sequence: number
  readonly turnId: string
  readonly createdAt: number
  readonly model: string
  /** The closed items, in order. */
  readonly output: ReadonlyArray<OutputItem>
  readonly open: OpenItem | null
  /** How many message and reasoning items were opened (their ids count them). */
  readonly messages: number
  readonly reasonings: number
  /** The started calls of the client's tools: call id → call index. */
  readonly calls: Readonly<Record<string, number>>
  /** Text held back from a structured answer (sent only if no structured output comes). */
  readonly heldText: string
  readonly status: ResponseStatus
  readonly usage: ResponseUsage | null
  readonly error: { readonly code: string; readonly message: string } | null
  readonly incompleteReason: string | null
  /** How the turn ended, when it did not complete. */
  readonly failure: TurnFailure | null
  /** The terminal event was projected. */
  readonly finished: boolean
}

export const initialResponseState: ResponseState = {
  sequence: 0,
  turnId: "",
  createdAt: 0,
  model: "claude-code",
  output: [],
  open: null,
  messages: 0,
  reasonings: 0,
  calls: {},
  heldText: "",
  status: "in_progress",
  usage: null,
  error: null,
  incompleteReason: null,
  failure: null,
  finished: false
}

// ---------------------------------------------------------------------------
// Shared pieces

/** Usage in the Responses API's terms: input is input plus cache reads plus cache writes. */
export const usageOf = (usage: TurnUsage, costUsd: number | null): ResponseUsage => {
  const input = usage.inputTokens + usage.cacheReadInputTokens + usage.cacheCreationInputTokens
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage.cacheReadInputTokens },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + usage.outputTokens,
    cost_usd: costUsd
  }
}

/** Why a completed turn's answer is incomplete, in OpenAI's words, or null when it is complete. */
export const incompleteReasonOf = (stopReason: string | null): string | null => {
  switch (stopReason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "max_output_tokens"
    case "refusal":
      return "content_filter"
    default:
      return null
  }
}

/**
 * A failure as `response.error`, with the codes Codex classifies: `rate_limit_exceeded`
 * (its message says when to try again), `server_is_overloaded`, `context_length_exceeded`;
 * anything else is `server_error`, with the gateway's message.
 */
export const responseErrorOf = (failure: TurnFailure): { readonly code: string; readonly message: string } => {
  const http = failure._tag === "Failed" ? fromDomain(failure.error) : fromCancel(failure.reason)
  if (http.code === "context_length_exceeded") return { code: "context_length_exceeded", message: http.message }
  if (http.status === 429) {
    return {
      code: "rate_limit_exceeded",
      message: `${http.message} Please try again in ${http.retryAfterSeconds ?? 1}s.`
    }
  }
  if (http.code === "upstream_overloaded") return { code: "server_is_overloaded", message: http.message }
  return { code: "server_error", message: http.message }
}

/** A structured turn's answer: its output as JSON, or (when the CLI returned none) its text. */
const structuredAnswer = (output: unknown, text: string): string =>
  output !== null && output !== undefined ? JSON.stringify(output) : text

/** A call's arguments as sent: a call without arguments has the empty object, never an empty string. */
const argumentsOf = (text: string): string => (text.length > 0 ? text : "{}")

const outputText = (text: string): OutputText => ({ type: "output_text", text, annotations: [], logprobs: [] })

/** An open item as a complete (or, for a snapshot of a running turn, in-progress) item. */
const itemOf = (open: OpenItem, status: ItemStatus): OutputItem => {
  switch (open._tag) {
    case "message":
      return { type: "message", id: open.id, status, role: "assistant", content: [outputText(open.text)] }
    case "reasoning":
      return { type: "reasoning", id: open.id, summary: [{ type: "summary_text", text: open.text }] }
    case "call":
      return {
        type: "function_call",
        id: open.id,
        call_id: open.callId,
        name: open.name,
        arguments: status === "in_progress" ? open.arguments : argumentsOf(open.arguments),
        status
      }
  }
}

/** An item as `output_item.added` announces it: empty, its parts follow. */
const addedItemOf = (open: OpenItem): OutputItem => {
  switch (open._tag) {
    case "message":
      return { type: "message", id: open.id, status: "in_progress", role: "assistant", content: [] }
    case "reasoning":
      return { type: "reasoning", id: open.id, summary: [] }
    case "call":
      return {
        type: "function_call",
        id: open.id,
        call_id: open.callId,
        name: open.name,
        arguments: "",
        status: "in_progress"
      }
  }
}

/** The response as it stands, with `output`. */
const responseOf = (
  state: ResponseState,
  context: ResponseContext,
  output: ReadonlyArray<OutputItem>
): ResponseObject => ({
  id: responseIdOf(state.turnId),
  object: "response",
  created_at: state.createdAt,
  status: state.status,
  background: false,
  error: state.error,
  incomplete_details: state.incompleteReason === null ? null : { reason: state.incompleteReason },
  ...context.echo,
  model: state.model,
  output,
  usage: state.usage,
  session_id: context.sessionId,
  project_id: context.projectId
})

// ---------------------------------------------------------------------------
// The run

type Unsequenced<E> = E extends unknown ? Omit<E, "sequence_number"> : never

/** One step of the projection: a state that emits numbered events as it changes. */
class Step {
  readonly events: Array<ResponseStreamEvent> = []
  constructor(public state: ResponseState, readonly context: ResponseContext) {}

  set(patch: Partial<ResponseState>) {
    this.state = { ...this.state, ...patch }
  }

  emit(event: Unsequenced<ResponseStreamEvent>) {
    this.events.push({ ...event, sequence_number: this.state.sequence } as ResponseStreamEvent)
    this.set({ sequence: this.state.sequence + 1 })
  }

  private get outputIndex() {
    return this.state.output.length
  }

  /** Closes the open item, if any: its done events, then `output_item.done` with the whole item. */
  close(status: ItemStatus) {
    const open = this.state.open
    if (open === null) return
    const at = { item_id: open.id, output_index: this.outputIndex }
    const item = itemOf(open, status)
    switch (open._tag) {
      case "message":
        this.emit({ type: "response.output_text.done", ...at, content_index: 0, text: open.text, logprobs: [] })
        this.emit({ type: "response.content_part.done", ...at, content_index: 0, part: outputText(open.text) })
        break
      case "reasoning": {
        const part = { type: "summary_text", text: open.text } as const
        this.emit({ type: "response.reasoning_summary_text.done", ...at, summary_index: 0, text: open.text })
        this.emit({ type: "response.reasoning_summary_part.done", ...at, summary_index: 0, part })
        break
      }
      case "call":
        this.emit({
          type: "response.function_call_arguments.done",
          ...at,
          name: open.name,
          arguments: argumentsOf(open.arguments)
        })
        break
    }
    this.emit({ type: "response.output_item.done", output_index: this.outputIndex, item })
    this.set({ output: [...this.state.output, item], open: null })
  }

  /** Opens an item (closing the open one): `output_item.added`, and the first part of text or thinking. */
  private open(open: OpenItem) {
    this.close("completed")
    const at = { item_id: open.id, output_index: this.outputIndex }
    this.emit({ type: "response.output_item.added", output_index: this.outputIndex, item: addedItemOf(open) })
    if (open._tag === "message") {
      this.emit({ type: "response.content_part.added", ...at, content_index: 0, part: outputText("") })
    } else if (open._tag === "reasoning") {
      const part = { type: "summary_text", text: "" } as const
      this.emit({ type: "response.reasoning_summary_part.added", ...at, summary_index: 0, part })
    }
    this.set({ open })
  }

  /** Text of the answer, into the open message item (a new one when another item is open). */
  text(delta: string) {
    let open = this.state.open
    if (open?._tag !== "message") {
      open = { _tag: "message", id: messageIdOf(this.state.turnId, this.state.messages), text: "" }
      this.open(open)
      this.set({ messages: this.state.messages + 1 })
    }
    if (delta.length === 0) return
    const at = { item_id: open.id, output_index: this.outputIndex }
    this.emit({ type: "response.output_text.delta", ...at, content_index: 0, delta, logprobs: [] })
    this.set({ open: { ...open, text: open.text + delta } })
  }

  /** Thinking, into the open reasoning item (a new one when another item is open). */
  thinking(delta: string) {
    let open = this.state.open
    if (open?._tag !== "reasoning") {
      open = { _tag: "reasoning", id: reasoningIdOf(this.state.turnId, this.state.reasonings), text: "" }
      this.open(open)
      this.set({ reasonings: this.state.reasonings + 1 })
    }
    const at = { item_id: open.id, output_index: this.outputIndex }
    this.emit({ type: "response.reasoning_summary_text.delta", ...at, summary_index: 0, delta })
    this.set({ open: { ...open, text: open.text + delta } })
  }

  /** A call of the client's tools begins: its own item. */
  startCall(index: number, callId: string, name: string) {
    this.open({ _tag: "call", id: callItemIdOf(this.state.turnId, index), callId, name, arguments: "" })
    this.set({ calls: { ...this.state.calls, [callId]: index } })
  }

  /** Arguments of the open call (`callId`); pieces of any other call are too late to send. */
  callArguments(callId: string, delta: string) {
    const open = this.state.open
    if (open?._tag !== "call" || open.callId !== callId || delta.length === 0) return
    this.emit({
      type: "response.function_call_arguments.delta",
      item_id: open.id,
      output_index: this.outputIndex,
      delta
    })
    this.set({ open: { ...open, arguments: open.arguments + delta } })
  }

  /** The lifecycle event of the response as it stands. */
  lifecycle(
    type: "response.created" | "response.in_progress" | "response.completed" | "response.incomplete" | "response.failed"
  ) {
    this.emit({ type, response: responseOf(this.state, this.context, this.state.output) })
  }

  /** The turn completed: what the stream still owes of its answer and calls, then the terminal event. */
  complete(event: TurnCompleted) {
    const calls = event.toolCalls
    const open = this.state.open
    if (open?._tag === "call") {
      // The calls the turn ended with are the whole truth: the open one gets what its deltas left out.
      const full = calls.find((call) => call.id === open.callId)?.arguments ?? open.arguments
      if (full.length > open.arguments.length && full.startsWith(open.arguments)) {
        this.callArguments(open.callId, full.slice(open.arguments.length))
      } else if (full !== open.arguments) {
        this.set({ open: { ...open, arguments: full } })
      }
    }
    this.close("completed")
    if (this.context.structured) {
      const answer = structuredAnswer(event.structuredOutput, this.state.heldText)
      if (answer.length > 0 || calls.length === 0) this.text(answer)
    }
    this.missingCalls(calls)
    // An answer with neither text nor calls is still an (empty) message.
    if (calls.length === 0 && !this.state.output.some((item) => item.type === "message")) this.text("")
    this.close("completed")
    const incompleteReason = calls.length > 0 ? null : incompleteReasonOf(event.stopReason)
    this.set({
      model: event.model,
      usage: usageOf(event.usage, event.costUsd),
      status: incompleteReason === null ? "completed" : "incomplete",
      incompleteReason,
      finished: true
    })
    this.lifecycle(incompleteReason === null ? "response.completed" : "response.incomplete")
  }

  /** Calls the turn ended with that never started (an answer that came whole), each its own item. */
  private missingCalls(calls: ReadonlyArray<ToolCall>) {
    let next = Math.max(-1, ...Object.values(this.state.calls)) + 1
    for (const call of calls) {
      if (call.id in this.state.calls) continue
      this.startCall(next++, call.id, call.name)
      this.callArguments(call.id, argumentsOf(call.arguments))
      this.close("completed")
    }
  }

  /** The turn failed or was cancelled: the open item closes incomplete, then `response.failed`. */
  fail(failure: TurnFailure) {
    this.close("incomplete")
    this.set({ status: "failed", error: responseErrorOf(failure), failure, finished: true })
    this.lifecycle("response.failed")
  }
}

/** The stream events one logged event adds. */
export const responseEventsOf = (
  state: ResponseState,
  stored: StoredEvent,
  context: ResponseContext
): [ResponseState, ReadonlyArray<ResponseStreamEvent>] => {
  if (state.finished) return [state, []]
  const step = new Step(state, context)
  const event = stored.event
  switch (event._tag) {
    case "TurnStarted":
      step.set({
        turnId: event.turnId,
        createdAt: Math.floor(stored.timestamp / 1000),
        model: event.resolvedModel ?? event.requestedModel ?? state.model
      })
      step.lifecycle("response.created")
      step.lifecycle("response.in_progress")
      break
    case "TurnAttached":
      step.set({ model: event.model })
      break
    case "TextDelta":
      if (context.structured) step.set({ heldText: state.heldText + event.text })
      else if (event.text.length > 0) step.text(event.text)
      break
    case "ThinkingDelta":
      if (event.text.length > 0) step.thinking(event.text)
      break
    case "ToolCallStarted":
      if (!(event.callId in state.calls)) step.startCall(event.index, event.callId, event.name)
      break
    case "ToolCallDelta": {
      const callId = Object.entries(state.calls).find(([, index]) => index === event.index)?.[0]
      if (callId !== undefined) step.callArguments(callId, event.arguments)
      break
    }
    case "TurnCompleted":
      step.complete(event)
      break
    case "TurnFailed":
      step.fail({ _tag: "Failed", error: event.error })
      break
    case "TurnCancelled":
      step.fail({ _tag: "Cancelled", reason: event.reason })
      break
    default:
      break
  }
  return [step.state, step.events]
}

/** The events that end a stream the log stopped feeding (a store failure). */
export const brokenEventsOf = (
  state: ResponseState,
  context: ResponseContext,
  error: StoreError
): [ResponseState, ReadonlyArray<ResponseStreamEvent>] => {
  if (state.finished) return [state, []]
  const step = new Step(state, context)
  step.fail({ _tag: "Failed", error })
  return [step.state, step.events]
}

/** A keep-alive event, numbered with the others. */
export const keepAliveOf = (state: ResponseState): [ResponseState, ResponseStreamEvent] => [
  { ...state, sequence: state.sequence + 1 },
  { type: "keepalive", sequence_number: state.sequence }
]

/**
 * The response of a turn's events: the last snapshot of the stream's run (a running turn's
 * response is `in_progress`, with the open item as it stands), and how the turn failed, if it did.
 */
export const responseOfEvents = (
  events: ReadonlyArray<StoredEvent>,
  context: ResponseContext
): { readonly response: ResponseObject; readonly failure: TurnFailure | null } => {
  let state = initialResponseState
  for (const stored of events) state = responseEventsOf(state, stored, context)[0]
  const output = state.open === null ? state.output : [...state.output, itemOf(state.open, "in_progress")]
  return { response: responseOf(state, context, output), failure: state.failure }
}
