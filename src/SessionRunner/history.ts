/**
 * A session's conversation, projected from its log: the messages each completed turn
 * added, then that turn's answer. Its digest identifies a conversation so that a
 * stateless client resending the whole history finds the session that holds it.
 */
import * as NodeCrypto from "node:crypto"
import { type ContentPart, type ConversationMessage, textOf } from "../Domain/Conversation.js"
import type { StoredEvent, TurnCompleted } from "../Domain/SessionEvent.js"

/** What the log says about a session, folded once. */
export interface SessionHistory {
  readonly owner: string | null
  readonly projectId: string | null
  readonly cwd: string | null
  readonly configDir: string | null
  /** The session's own model and system prompt (given when it was created), for turns that bring none. */
  readonly model: string | null
  readonly systemPrompt: string | null
  readonly closed: boolean
  /** The conversation of the completed turns, in order. */
  readonly conversation: ReadonlyArray<ConversationMessage>
  /** The last completed turn (its CLI session id is the one to resume). */
  readonly lastCompleted: TurnCompleted | null
  /**
   * A turn the log shows started but not ended: one running now, or one whose node stopped
   * while it ran (a session that moved to this node in a cluster).
   */
  readonly unfinishedTurnId: string | null
  readonly lastSequence: number
}

export const historyOf = (events: ReadonlyArray<StoredEvent>): SessionHistory => {
  let owner: string | null = null
  let projectId: string | null = null
  let cwd: string | null = null
  let configDir: string | null = null
  let model: string | null = null
  let systemPrompt: string | null = null
  let closed = false
  let lastCompleted: TurnCompleted | null = null
  const conversation: Array<ConversationMessage> = []
  let pending: { readonly turnId: string; readonly messages: ReadonlyArray<ConversationMessage>; text: string } | null =
    null
  for (const { event } of events) {
    switch (event._tag) {
      case "SessionCreated":
        owner = event.owner
        projectId = event.projectId
        cwd = event.cwd
        configDir = event.configDir
        model = event.model
        systemPrompt = event.systemPrompt
        break
      case "SessionClosed":
        closed = true
        break
      case "TurnStarted":
        pending = { turnId: event.turnId, messages: event.messages, text: "" }
        break
      case "TextDelta":
        if (pending?.turnId === event.turnId) pending.text += event.text
        break
      case "TurnCompleted":
        if (pending?.turnId === event.turnId) {
          for (const message of pending.messages) conversation.push(message)
          conversation.push(answerMessage(event, pending.text))
          lastCompleted = event
        }
        pending = null
        break
      case "TurnFailed":
      case "TurnCancelled":
        pending = null
        break
      default:
        break
    }
  }
  const last = events[events.length - 1]
  return {
    owner,
    projectId,
    cwd,
    configDir,
    model,
    systemPrompt,
    closed,
    conversation,
    lastCompleted,
    unfinishedTurnId: pending?.turnId ?? null,
    lastSequence: last?.sequence ?? 0
  }
}

/** The answer a client received: the structured output as JSON when there is one, else the text. */
export const answerOf = (completed: TurnCompleted, text: string): string =>
  completed.structuredOutput !== null && completed.structuredOutput !== undefined
    ? JSON.stringify(completed.structuredOutput)
    : text

/** The assistant message a completed turn adds to the conversation: its answer, and the client's tools it called. */
export const answerMessage = (completed: TurnCompleted, text: string): ConversationMessage => {
  const answer = answerOf(completed, text)
  return {
    role: "assistant",
    content: answer.length > 0 || completed.toolCalls.length === 0 ? [{ _tag: "text", text: answer }] : [],
    ...(completed.toolCalls.length > 0 ? { toolCalls: completed.toolCalls } : {})
  }
}

/** Arguments as canonical JSON (keys sorted), so a client that re-serialises them still matches. */
const canonicalArguments = (text: string): string => {
  const sorted = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(sorted)
      : typeof value === "object" && value !== null
      ? Object.fromEntries(
        Object.keys(value).sort().map((key) => [key, sorted((value as Record<string, unknown>)[key])])
      )
      : value
  try {
    return JSON.stringify(sorted(JSON.parse(text)))
  } catch {
    return text.trim()
  }
}

const normalizedPart = (part: ContentPart) =>
  part._tag === "text"
    ? { t: part.text }
    : { i: NodeCrypto.createHash("sha256").update(part.data).digest("hex"), m: part.mediaType }

/**
 * A digest of a conversation: roles, texts and images, tool calls (names and arguments) and
 * the calls tool results answer, with adjacent text parts joined, outer whitespace ignored
 * and arguments in canonical JSON, so clients that re-serialise content slightly still match.
 * An assistant message that called tools is known by its calls alone (clients often drop the
 * text that came with them), ids included: two conversations that went alike so far are
 * told apart by the model's call ids, and a held call is only ever answered by its own.
 */
export const digestOf = (messages: ReadonlyArray<ConversationMessage>): string => {
  const normalized = messages.map((message) => {
    const images = message.content.filter((part) => part._tag === "image").map(normalizedPart)
    const text = textOf(message.content).trim()
    const calls = (message.toolCalls ?? []).map((call) => [call.id, call.name, canonicalArguments(call.arguments)])
    return message.role === "tool"
      ? [message.role, text, images, message.toolCallId ?? ""]
      : calls.length > 0
      ? [message.role, calls]
      : [message.role, text, images]
  })
  return NodeCrypto.createHash("sha256").update(JSON.stringify(normalized)).digest("hex")
}

/** Index just after the conversation's last assistant message (0 when there is none). */
export const afterLastAssistant = (messages: ReadonlyArray<ConversationMessage>): number => {
  for (let index = messages.length - 1; index >= 0; index--) {
    if (messages[index]!.role === "assistant") return index + 1
  }
  return 0
}

/**
 * The messages a request adds to a session that already holds `held`: what follows the
 * held conversation when the request repeats it, otherwise the request's trailing user
 * messages (a client that sends only the new message).
 */
export const newMessagesOf = (
  held: ReadonlyArray<ConversationMessage>,
  requested: ReadonlyArray<ConversationMessage>
): ReadonlyArray<ConversationMessage> => {
  if (requested.length > held.length && digestOf(requested.slice(0, held.length)) === digestOf(held)) {
    return requested.slice(held.length)
  }
  return requested.slice(afterLastAssistant(requested))
}
