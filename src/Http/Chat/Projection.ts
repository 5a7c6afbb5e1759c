/**
 * Pure projections of a turn's logged events into OpenAI responses: one
 * `chat.completion`, or the `chat.completion.chunk` frames of an SSE stream. Both apply
 * the request's `stop` sequences to the text (not to a structured answer, which is JSON);
 * neither ever produces `tool_calls`. Streamed or not, a turn answers the same text.
 */
import { InternalFailure, type TurnError } from "../../Domain/Errors.js"
import type { CancelReason, StoredEvent, TurnUsage } from "../../Domain/SessionEvent.js"
import { flushStop, initialStopScanner, scanStop, type StopScanner } from "./StopSequences.js"
import type { ChatCompletion, ChatCompletionChunk, ClaudeCodeToolUse, FinishReason, Usage } from "./Wire.js"

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

/** Claude's stop reason in OpenAI's terms; a tool-use stop is never `tool_calls`. */
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

/** How a turn ended, when it did not complete. */
export type TurnFailure =
  | { readonly _tag: "Failed"; readonly error: TurnError }
  | { readonly _tag: "Cancelled"; readonly reason: CancelReason }

const completionId = (turnId: string) => `chatcmpl-${turnId.replace(/^turn_/, "")}`

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
      case "TurnFailed":
        return { _tag: "Failed", error: event.error }
      case "TurnCancelled":
        return { _tag: "Cancelled", reason: event.reason }
      case "TurnCompleted":
        content = context.structured ? structuredAnswer(event.structuredOutput, content) : content + flushStop(scanner)
        return {
          id: completionId(turnId),
          object: "chat.completion",
          created,
          model: event.model,
          choices: [{
            index: 0,
            message: {
              role: "assistant",
              content,
              refusal: null,
              ...(reasoning.length > 0 ? { reasoning_content: reasoning } : {}),
              ...(tools.length > 0 ? { claude_code_tool_uses: tools } : {})
            },
            logprobs: null,
            finish_reason: finishReasonOf(event.stopReason, scanner.stopped)
          }],
          usage: usageOf(event.usage, event.costUsd),
          system_fingerprint: null,
          session_id: context.sessionId,
          project_id: context.projectId
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
}

export const initialChunkState: ChunkState = {
  id: "",
  created: 0,
  model: "claude-code",
  roleSent: false,
  scanner: initialStopScanner,
  heldText: ""
}

type Delta = ChatCompletionChunk["choices"][number]["delta"]

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
    case "TurnCompleted": {
      const rest = context.structured
        ? structuredAnswer(event.structuredOutput, state.heldText)
        : flushStop(state.scanner)
      const next = { ...state, model: event.model }
      const frames: Array<StreamFrame> = []
      if (rest.length > 0) frames.push(chunk(next, { content: rest }))
      frames.push(chunk(next, {}, finishReasonOf(event.stopReason, state.scanner.stopped)))
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

/** Whether an event settles the HTTP status of a streamed turn (the model answered, or the turn ended). */
export const settlesStatus = (stored: StoredEvent): boolean => {
  switch (stored.event._tag) {
    case "TurnAttached":
    case "TextDelta":
    case "ThinkingDelta":
    case "ToolUse":
    case "TurnCompleted":
    case "TurnFailed":
    case "TurnCancelled":
      return true
    default:
      return false
  }
}
