/**
 * What the CLI is asked for a turn. The CLI holds one conversation per session; a
 * request that brings earlier messages (a stateless OpenAI client resending history)
 * gets them as a transcript ahead of the new user message, so the model sees them.
 */
import { type ContentPart, type ConversationMessage, textOf } from "../Domain/Conversation.js"
import { InvalidTurnRequest } from "../Domain/Errors.js"

const transcriptLine = (message: ConversationMessage): string => {
  const images = message.content.filter((part) => part._tag === "image").length
  const text = textOf(message.content)
  const note = images > 0 ? ` [${images} image${images === 1 ? "" : "s"} omitted]` : ""
  return `${message.role === "user" ? "User" : "Assistant"}: ${text}${note}`
}

/**
 * The content of the stdin message for a turn: the last user message, preceded by a
 * transcript of the earlier messages when there are any.
 */
export const promptContent = (
  messages: ReadonlyArray<ConversationMessage>
): ReadonlyArray<ContentPart> | InvalidTurnRequest => {
  const last = messages[messages.length - 1]
  if (last === undefined) {
    return new InvalidTurnRequest({
      message: "messages must contain at least one user message",
      param: "messages",
      code: null
    })
  }
  if (last.role !== "user") {
    return new InvalidTurnRequest({
      message: "The last message must have role 'user' (Claude Code cannot continue a partial assistant message)",
      param: "messages",
      code: null
    })
  }
  if (last.content.length === 0 || last.content.every((part) => part._tag === "text" && part.text.trim() === "")) {
    return new InvalidTurnRequest({ message: "The last user message is empty", param: "messages", code: null })
  }
  const earlier = messages.slice(0, -1)
  if (earlier.length === 0) return last.content
  const transcript = [
    "Earlier messages of this conversation, oldest first:",
    "<conversation>",
    ...earlier.map(transcriptLine),
    "</conversation>",
    "",
    "Reply to the user's new message:",
    ""
  ].join("\n")
  return [{ _tag: "text", text: transcript }, ...last.content]
}
