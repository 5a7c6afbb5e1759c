/**
 * Pure projections of a turn's logged events into OpenAI responses: one
 * `chat.completion`, or the `chat.completion.chunk` frames of an SSE stream. Both apply
 * the request's `stop` sequences to the text (not to a structured answer, which is JSON,
 * nor to tool calls). Calls of the client's tools are `tool_calls` (or a legacy
 * `function_call`); Claude Code's own tool uses never are. Streamed or not, a turn
 * answers the same text and the same calls.
 */
import { InternalFailure } from "../../Domain/Errors.js"
import type { StoredEvent, TurnUsage } from "../../Domain/SessionEvent.js"
import type { ToolCall } from "../../Domain/Tools.js"
import type { TurnFailure } from "../Edge/Errors.js"
import { flushStop, initialStopScanner, scanStop, type StopScanner } from "./StopSequences.js"
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatToolCall,
  ClaudeCodeToolUse,
  FinishReason,
  Usage
} from "./Wire.js"

/** What a projection needs besides the events. */
export interface ProjectionContext {
  readonly sessionId: string
  readonly projectId: string
  readonly stop: ReadonlyArray<string>
  readonly includeUsage: boolean
  /**
   * The request asked for JSON (`response_format`): the answer is the turn's structured
   * output, and the text Claude says on the way there is not part of it.
   */
  readonly structured: boolean
  /**
   * The request offered legacy `functions`: a call is answered as `function_call` (the
   * first call only, as that format has room for one), finishing with `function_call`.
   */
  readonly legacyFunctions: boolean
}

/** A structured turn's answer: its output as JSON, or (when the CLI returned none) its text. */
const structuredAnswer = (output: unknown, text: string): string =>
  output !== null && output !== undefined ? JSON.stringify(output) : text

// ---------------------------------------------------------------------------
// Shared pieces

export const usageOf = (usage: TurnUsage, costUsd: number | null): Usage => {
  const prompt = usage.inputTokens + usage.cacheReadInputTokens + usage.cacheCreationInputTokens
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: prompt + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cacheReadInputTokens },
    completion_tokens_details: { reasoning_tokens: 0 },
    cost_usd: costUsd
  }
}

/**
 * Claude's stop reason in OpenAI's terms. A tool-use stop is `stop` here: only a turn that
 * ended with calls of the client's tools finishes with `tool_calls` (see `toolFinish`).
 */
export const finishReasonOf = (stopReason: string | null, stoppedBySequence: boolean): FinishReason => {
  if (stoppedBySequence) return "stop"
  switch (stopReason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length"
    case "refusal":
      return "content_filter"
    default:
      return "stop"
  }
}

const completionId = (turnId: string) => `chatcmpl-${turnId.replace(/^turn_/, "")}`

/** The finish reason of a turn that ended for the client to run its tools. */
const toolFinish = (context: ProjectionContext): FinishReason =>
  context.legacyFunctions ? "function_call" : "tool_calls"

/** A call's arguments as sent: a call without arguments has the empty object, never an empty string. */
const argumentsOf = (call: ToolCall): string => (call.arguments.length > 0 ? call.arguments : "{}")

/** The calls a turn ended with, as the request's format has room for them. */
const answeredCalls = (calls: ReadonlyArray<ToolCall>, context: ProjectionContext): ReadonlyArray<ToolCall> =>
  context.legacyFunctions ? calls.slice(0, 1) : calls

/**
 * Releases the text held back for a possible stop sequence when a tool call starts: the
 * text before the calls is complete, and is sent before them.
 */
const releaseBeforeCall = (scanner: StopScanner): [StopScanner, string] => [
  { held: "", stopped: scanner.stopped },
  flushStop(scanner)
]

/** The `tool_calls` of a message, or the legacy `function_call`, for the calls a turn ended with. */
const callFieldsOf = (calls: ReadonlyArray<ToolCall>, context: ProjectionContext) => {
  if (calls.length === 0) return {}
  if (context.legacyFunctions) return { function_call: { name: calls[0]!.name, arguments: argumentsOf(calls[0]!) } }
  const toolCalls: Array<ChatToolCall> = calls.map((call) => ({
    id: call.id,
    type: "function",
    function: { name: call.name, arguments: argumentsOf(call) }
  }))
  return { tool_calls: toolCalls }
}

// ---------------------------------------------------------------------------
// Non-streaming

/** The `chat.completion` of a finished turn, or how it failed. */
export const completionOf = (
  events: ReadonlyArray<StoredEvent>,
  context: ProjectionContext
): ChatCompletion | TurnFailure => {
  let turnId = ""
  let created = 0
  let model = "claude-code"
  let scanner = initialStopScanner
  let content = ""
  let reasoning = ""
  const tools: Array<ClaudeCodeToolUse> = []
  for (const { event, timestamp } of events) {
    switch (event._tag) {
      case "TurnStarted":
        turnId = event.turnId
        created = Math.floor(timestamp / 1000)
        model = event.resolvedModel ?? event.requestedModel ?? model
        break
      case "TurnAttached":
        model = event.model
        break
      case "TextDelta": {
        // A structured answer is its output as JSON: stop sequences never cut it.
        if (context.structured) {
          content += event.text
          break
        }
        const [next, released] = scanStop(scanner, event.text, context.stop)
        scanner = next
        content += released
        break
      }
      case "ThinkingDelta":
        reasoning += event.text
        break
      case "ToolUse":
        tools.push({ id: event.toolUseId, name: event.name, input: event.input, output: null, is_error: false })
        break
      case "ToolResult": {
        const index = tools.findIndex((tool) => tool.id === event.toolUseId)
        if (index !== -1) tools[index] = { ...tools[index]!, output: event.content, is_error: event.isError }
        break
      }
      case "ToolCallStarted": {
        if (context.structured) break
        const [next, released] = releaseBeforeCall(scanner)
        scanner = next
        content += released
        break
      }
      case "TurnFailed":
        return { _tag: "Failed", error: event.error }
      case "TurnCancelled":
        return { _tag: "Cancelled", reason: event.reason }
      case "TurnCompleted": {
        content = context.structured ? structuredAnswer(event.structuredOutput, content) : content + flushStop(scanner)
        const calls = answeredCalls(event.toolCalls, context)
        return {
          id: completionId(turnId),
          object: "chat.completion",
          created,
          model: event.model,
          choices: [{
            index: 0,
            message: {
              role: "assistant",
              // OpenAI's content is null when the model only called tools.
              content: calls.length > 0 && content.length === 0 ? null : content,
              refusal: null,
              ...(reasoning.length > 0 ? { reasoning_content: reasoning } : {}),
              ...(tools.length > 0 ? { claude_code_tool_uses: tools } : {}),
              ...callFieldsOf(calls, context)
            },
            logprobs: null,
            finish_reason: calls.length > 0 ? toolFinish(context) : finishReasonOf(event.stopReason, scanner.stopped)
          }],
          usage: usageOf(event.usage, event.costUsd),
          system_fingerprint: null,
          session_id: context.sessionId,
          project_id: context.projectId
        }
      }
      default:
        break
    }
  }
  return { _tag: "Failed", error: new InternalFailure({ message: "the turn's events end before the turn does" }) }
}

// ---------------------------------------------------------------------------
// Streaming

/** One SSE payload: a chunk, an error object, or the `[DONE]` marker. */
export type StreamFrame =
  | { readonly _tag: "Chunk"; readonly chunk: ChatCompletionChunk }
  | { readonly _tag: "Error"; readonly failure: TurnFailure }
  | { readonly _tag: "Done" }

export interface ChunkState {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly roleSent: boolean
  readonly scanner: StopScanner
  /** Text held back from a structured answer (sent only if no structured output comes). */
  readonly heldText: string
  /** The arguments sent so far of each started call of the client's tools, by call index. */
  readonly sentArguments: Readonly<Record<number, string>>
  /** The id of each started call, by call index. */
  readonly sentCallIds: Readonly<Record<number, string>>
}

export const initialChunkState: ChunkState = {
  id: "",
  created: 0,
  model: "claude-code",
  roleSent: false,
  scanner: initialStopScanner,
  heldText: "",
  sentArguments: {},
  sentCallIds: {}
}

type Delta = ChatCompletionChunk["choices"][number]["delta"]

/**
 * The first delta of a call: its index, id, type and name (the openai SDK's stream helper
 * and the AI SDK need all of them there), with empty arguments.
 */
const callStartDelta = (index: number, id: string, name: string, context: ProjectionContext): Delta =>
  context.legacyFunctions
    ? { function_call: { name, arguments: "" } }
    : { tool_calls: [{ index, id, type: "function", function: { name, arguments: "" } }] }

/** A piece of a call's arguments; it always carries `index` and `function` (LangChain drops it otherwise). */
const callArgumentsDelta = (index: number, fragment: string, context: ProjectionContext): Delta =>
  context.legacyFunctions
    ? { function_call: { arguments: fragment } }
    : { tool_calls: [{ index, function: { arguments: fragment } }] }

/**
 * What the stream still owes of the calls a turn ended with, matched to the started ones by
 * id: calls that were never started (given the next free indexes), and arguments the deltas
 * left out (a call without arguments is sent `{}`). Each entry is a delta, in order.
 */
const missingCallDeltas = (
  state: ChunkState,
  calls: ReadonlyArray<ToolCall>,
  context: ProjectionContext
): ReadonlyArray<Delta> => {
  const started = new Map(Object.entries(state.sentCallIds).map(([index, id]) => [id, Number(index)]))
  let nextIndex = Math.max(-1, ...started.values()) + 1
  return calls.flatMap((call) => {
    const full = argumentsOf(call)
    const index = started.get(call.id)
    if (index === undefined) {
      const fresh = nextIndex++
      return [callStartDelta(fresh, call.id, call.name, context), callArgumentsDelta(fresh, full, context)]
    }
    const sent = state.sentArguments[index] ?? ""
    return full.length > sent.length && full.startsWith(sent)
      ? [callArgumentsDelta(index, full.slice(sent.length), context)]
      : []
  })
}

/** The frames one logged event adds to the stream. */
export const chunksOf = (
  state: ChunkState,
  stored: StoredEvent,
  context: ProjectionContext
): [ChunkState, ReadonlyArray<StreamFrame>] => {
  const event = stored.event
  const chunk = (s: ChunkState, delta: Delta, finish: FinishReason | null = null): StreamFrame => ({
    _tag: "Chunk",
    chunk: {
      id: s.id,
      object: "chat.completion.chunk",
      created: s.created,
      model: s.model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
    }
  })
  /** The first frame of every stream carries the role (and empty content). */
  const withRole = (s: ChunkState, frames: ReadonlyArray<StreamFrame>): [ChunkState, ReadonlyArray<StreamFrame>] =>
    s.roleSent
      ? [s, frames]
      : [{ ...s, roleSent: true }, [chunk(s, { role: "assistant", content: "" }), ...frames]]

  switch (event._tag) {
    case "TurnStarted":
      return [{
        ...state,
        id: completionId(event.turnId),
        created: Math.floor(stored.timestamp / 1000),
        model: event.resolvedModel ?? event.requestedModel ?? state.model
      }, []]
    case "TurnAttached":
      return withRole({ ...state, model: event.model }, [])
    case "TextDelta": {
      if (context.structured) return withRole({ ...state, heldText: state.heldText + event.text }, [])
      const [scanner, released] = scanStop(state.scanner, event.text, context.stop)
      const next = { ...state, scanner }
      return withRole(next, released.length > 0 ? [chunk(next, { content: released })] : [])
    }
    case "ThinkingDelta":
      return withRole(state, [chunk(state, { reasoning_content: event.text })])
    case "ToolUse":
      return withRole(state, [
        chunk(state, { claude_code_tool_use: { id: event.toolUseId, name: event.name, input: event.input } })
      ])
    case "ToolResult":
      return withRole(state, [
        chunk(state, {
          claude_code_tool_result: { id: event.toolUseId, output: event.content, is_error: event.isError }
        })
      ])
    case "ToolCallStarted": {
      // A legacy function call answer has room for the first call only.
      if (context.legacyFunctions && event.index !== 0) return [state, []]
      const [scanner, released] = context.structured ? [state.scanner, ""] : releaseBeforeCall(state.scanner)
      const next = {
        ...state,
        scanner,
        sentArguments: { ...state.sentArguments, [event.index]: "" },
        sentCallIds: { ...state.sentCallIds, [event.index]: event.callId }
      }
      return withRole(next, [
        ...(released.length > 0 ? [chunk(next, { content: released })] : []),
        chunk(next, callStartDelta(event.index, event.callId, event.name, context))
      ])
    }
    case "ToolCallDelta": {
      const sent = state.sentArguments[event.index]
      if (sent === undefined || event.arguments.length === 0) return [state, []]
      const next = { ...state, sentArguments: { ...state.sentArguments, [event.index]: sent + event.arguments } }
      return withRole(next, [chunk(next, callArgumentsDelta(event.index, event.arguments, context))])
    }
    case "TurnCompleted": {
      const rest = context.structured
        ? structuredAnswer(event.structuredOutput, state.heldText)
        : flushStop(state.scanner)
      const next = { ...state, model: event.model }
      const calls = answeredCalls(event.toolCalls, context)
      const frames: Array<StreamFrame> = []
      if (rest.length > 0) frames.push(chunk(next, { content: rest }))
      for (const delta of missingCallDeltas(state, calls, context)) frames.push(chunk(next, delta))
      frames.push(
        chunk(
          next,
          {},
          calls.length > 0 ? toolFinish(context) : finishReasonOf(event.stopReason, state.scanner.stopped)
        )
      )
      if (context.includeUsage) {
        frames.push({
          _tag: "Chunk",
          chunk: {
            id: next.id,
            object: "chat.completion.chunk",
            created: next.created,
            model: next.model,
            system_fingerprint: null,
            choices: [],
            usage: usageOf(event.usage, event.costUsd)
          }
        })
      }
      frames.push({ _tag: "Done" })
      return withRole(next, frames)
    }
    case "TurnFailed":
      return [state, [{ _tag: "Error", failure: { _tag: "Failed", error: event.error } }, { _tag: "Done" }]]
    case "TurnCancelled":
      return [state, [{ _tag: "Error", failure: { _tag: "Cancelled", reason: event.reason } }, { _tag: "Done" }]]
    default:
      return [state, []]
  }
}
