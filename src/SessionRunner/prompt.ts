/**
 * What the CLI is asked for a turn. The CLI holds one conversation per session; a
 * request that brings earlier messages (a stateless OpenAI client resending history, or a
 * conversation whose process is gone) gets them as a transcript ahead of the new message,
 * so the model sees them, tool calls and results included. A turn that answers calls the
 * CLI holds open hands it their results instead (`TurnInput.Results`).
 */
import { type ContentPart, type ConversationMessage, textOf } from "../Domain/Conversation.js"
import { InvalidTurnRequest } from "../Domain/Errors.js"
import type { ToolCall, ToolChoice } from "../Domain/Tools.js"

/** What a client answered for one held call. */
export interface CallResult {
  readonly callId: string
  readonly content: ReadonlyArray<ContentPart>
  readonly isError: boolean
}

/** What a turn writes to its CLI process. */
export type TurnInput =
  /** A user message (with a transcript ahead of it when the process lacks the conversation). */
  | { readonly _tag: "Message"; readonly content: ReadonlyArray<ContentPart> }
  /** Results of the calls the process holds open, and a message the client added after them, if any. */
  | {
    readonly _tag: "Results"
    readonly results: ReadonlyArray<CallResult>
    readonly message: ReadonlyArray<ContentPart> | null
  }
  /** The process cannot take the turn: the client answers calls it does not hold. */
  | { readonly _tag: "Unfit" }

/** Told to the model for a held call the client did not answer. */
export const notExecuted = "Not executed: the client did not run this tool call."

const invalid = (message: string) => new InvalidTurnRequest({ message, param: "messages", code: null })

const isBlank = (content: ReadonlyArray<ContentPart>) =>
  content.length === 0 || content.every((part) => part._tag === "text" && part.text.trim() === "")

/** Why a turn's messages cannot be sent to the CLI, or null. */
export const conversationProblem = (messages: ReadonlyArray<ConversationMessage>): InvalidTurnRequest | null => {
  const last = messages[messages.length - 1]
  if (last === undefined) return invalid("messages must contain at least one user message")
  if (last.role === "assistant") {
    return invalid(
      "The last message must have role 'user' or 'tool' (Claude Code cannot continue a partial assistant message)"
    )
  }
  if (last.role === "user" && isBlank(last.content)) return invalid("The last user message is empty")
  return null
}

const imagesNote = (content: ReadonlyArray<ContentPart>) => {
  const images = content.filter((part) => part._tag === "image").length
  return images > 0 ? ` [${images} image${images === 1 ? "" : "s"} omitted]` : ""
}

const transcriptLines = (message: ConversationMessage): ReadonlyArray<string> => {
  const text = textOf(message.content) + imagesNote(message.content)
  switch (message.role) {
    case "user":
      return [`User: ${text}`]
    case "tool":
      return [`${message.isError === true ? "Tool error" : "Tool result"} (call ${message.toolCallId ?? "?"}): ${text}`]
    case "assistant":
      return [
        ...(text.length > 0 || message.toolCalls === undefined ? [`Assistant: ${text}`] : []),
        ...(message.toolCalls ?? []).map((call) =>
          `Assistant called tool ${call.name} (call ${call.id}) with arguments ${call.arguments}`
        )
      ]
  }
}

/**
 * The content of a user message for a turn: the last user message, preceded by a transcript
 * of the earlier messages when there are any. A conversation that ends with tool results is
 * all transcript, and the model is asked to go on from them.
 */
export const promptContent = (
  messages: ReadonlyArray<ConversationMessage>
): ReadonlyArray<ContentPart> | InvalidTurnRequest => {
  const problem = conversationProblem(messages)
  if (problem !== null) return problem
  const last = messages[messages.length - 1]!
  const endsWithResults = last.role === "tool"
  const earlier = endsWithResults ? messages : messages.slice(0, -1)
  if (earlier.length === 0) return last.content
  const transcript = [
    "Earlier messages of this conversation, oldest first:",
    "<conversation>",
    ...earlier.flatMap(transcriptLines),
    "</conversation>",
    "",
    endsWithResults
      ? "The tool calls above were run by the user's client and their results are in. Continue from them."
      : "Reply to the user's new message:",
    ""
  ].join("\n")
  return endsWithResults ? [{ _tag: "text", text: transcript }] : [{ _tag: "text", text: transcript }, ...last.content]
}

/**
 * How the request's `tool_choice` is put to the model (Claude Code has no way to force or
 * forbid a call): a line after the user's message, or nothing for `auto`.
 */
export const toolChoiceNote = (choice: ToolChoice | null): string | null => {
  switch (choice?._tag) {
    case "none":
      return "Answer this message without calling any tool."
    case "required":
      return "Answer this message by calling at least one of the available tools."
    case "named":
      return `Answer this message by calling the tool ${choice.name}.`
    default:
      return null
  }
}

const withNote = (content: ReadonlyArray<ContentPart>, note: string | null): ReadonlyArray<ContentPart> =>
  note === null ? content : [...content, { _tag: "text", text: `\n\n(${note})` }]

/**
 * The held call a tool message answers: by call id, or by the name of the tool (legacy
 * `function` messages carry no id) when exactly one of the calls the conversation's last
 * answer made has that name.
 */
const answeredCall = (
  message: ConversationMessage,
  heldCalls: ReadonlyArray<string>,
  lastCalls: ReadonlyArray<ToolCall>
): string | null => {
  const id = message.toolCallId ?? ""
  if (heldCalls.includes(id)) return id
  const named = lastCalls.filter((call) => call.name === id && heldCalls.includes(call.id))
  return named.length === 1 ? named[0]!.id : null
}

/**
 * What a turn writes to a process: the results of the calls it holds, when it holds any,
 * matched by call id (a held call without one is answered `notExecuted`), then whatever
 * the client added after them as a message (or the tool choice's note); `Unfit` when the
 * client answers a call the process does not hold. Else the turn's message, with the whole
 * conversation as a transcript when the process does not hold it.
 */
export const turnInputFor = (
  turn: {
    readonly held: ReadonlyArray<ConversationMessage>
    readonly added: ReadonlyArray<ConversationMessage>
    readonly toolChoice: ToolChoice | null
  },
  process: { readonly holdsConversation: boolean; readonly heldCalls: ReadonlyArray<string> }
): TurnInput | InvalidTurnRequest => {
  const note = toolChoiceNote(turn.toolChoice)
  if (process.holdsConversation && process.heldCalls.length > 0) {
    const lastCalls = turn.held[turn.held.length - 1]?.toolCalls ?? []
    const answers = new Map<string, ConversationMessage>()
    for (const message of turn.added) {
      if (message.role !== "tool") continue
      const callId = answeredCall(message, process.heldCalls, lastCalls)
      // A result for a call this process does not hold: only the whole conversation can carry it.
      if (callId === null) return { _tag: "Unfit" }
      if (!answers.has(callId)) answers.set(callId, message)
    }
    const results = process.heldCalls.map((callId): CallResult => {
      const answer = answers.get(callId)
      return answer === undefined
        ? { callId, content: [{ _tag: "text", text: notExecuted }], isError: true }
        : { callId, content: answer.content, isError: answer.isError === true }
    })
    const rest = turn.added.filter((message) => message.role !== "tool")
    if (rest.length === 0 || rest[rest.length - 1]!.role !== "user") {
      // The tool choice still reaches the model, as a message after the results.
      return { _tag: "Results", results, message: note === null ? null : [{ _tag: "text", text: note }] }
    }
    const message = promptContent(rest)
    return message instanceof InvalidTurnRequest
      ? message
      : { _tag: "Results", results, message: withNote(message, note) }
  }
  const content = promptContent(process.holdsConversation ? turn.added : [...turn.held, ...turn.added])
  return content instanceof InvalidTurnRequest ? content : { _tag: "Message", content: withNote(content, note) }
}
