/**
 * What the CLI is asked for a turn: the last user message, after a transcript of the
 * earlier ones when a stateless client resends history.
 */
import { describe, expect, it } from "@effect/vitest"
import type { ContentPart, ConversationMessage } from "../../src/Domain/Conversation.js"
import { InvalidTurnRequest } from "../../src/Domain/Errors.js"
import { promptContent } from "../../src/SessionRunner/prompt.js"

const user = (...content: ReadonlyArray<ContentPart>): ConversationMessage => ({ role: "user", content })
const assistant = (text: string): ConversationMessage => ({ role: "assistant", content: [{ _tag: "text", text }] })
const txt = (text: string): ContentPart => ({ _tag: "text", text })
const image: ContentPart = { _tag: "image", mediaType: "image/png", data: "iVBORw0KGgo=" }

const parts = (result: ReturnType<typeof promptContent>): ReadonlyArray<ContentPart> => {
  if (result instanceof InvalidTurnRequest) throw new Error(`unexpected InvalidTurnRequest: ${result.message}`)
  return result
}

describe("promptContent", () => {
  it("a single user message → its content, unchanged", () => {
    const content = [txt("hello"), image]
    expect(parts(promptContent([user(...content)]))).toEqual(content)
  })

  it("history → a transcript of the earlier messages, then the last user content", () => {
    const result = parts(promptContent([
      user(txt("What is 2+2?")),
      assistant("4"),
      user(txt("Look at this"), image, image),
      assistant("A cat."),
      user(txt("And 3+3?"), image)
    ]))
    expect(result).toHaveLength(3)
    const [transcript, ...rest] = result
    expect(rest).toEqual([txt("And 3+3?"), image])
    expect(transcript?._tag).toBe("text")
    const body = transcript?._tag === "text" ? transcript.text : ""
    expect(body).toBe([
      "Earlier messages of this conversation, oldest first:",
      "<conversation>",
      "User: What is 2+2?",
      "Assistant: 4",
      "User: Look at this [2 images omitted]",
      "Assistant: A cat.",
      "</conversation>",
      "",
      "Reply to the user's new message:",
      ""
    ].join("\n"))
    // The earlier messages appear in order and the new message is not part of the transcript.
    expect(body.indexOf("What is 2+2?")).toBeLessThan(body.indexOf("A cat."))
    expect(body).not.toContain("And 3+3?")
  })

  it("a single omitted image is named in the singular", () => {
    const result = parts(promptContent([user(txt("see"), image), assistant("ok"), user(txt("next"))]))
    expect(result[0]).toMatchObject({ _tag: "text" })
    expect(result[0]?._tag === "text" ? result[0].text : "").toContain("User: see [1 image omitted]")
  })

  it("last message from the assistant → InvalidTurnRequest on messages", () => {
    const result = promptContent([user(txt("hi")), assistant("partial answer")])
    expect(result).toBeInstanceOf(InvalidTurnRequest)
    expect(result).toMatchObject({ _tag: "InvalidTurnRequest", param: "messages" })
  })

  it("no messages → InvalidTurnRequest on messages", () => {
    const result = promptContent([])
    expect(result).toBeInstanceOf(InvalidTurnRequest)
    expect(result).toMatchObject({ param: "messages" })
  })

  it("an empty or blank last user message → InvalidTurnRequest", () => {
    for (
      const messages of [[user()], [user(txt(""))], [user(txt("   \n"))], [assistant("x"), user(txt(" "), txt(""))]]
    ) {
      expect(promptContent(messages)).toBeInstanceOf(InvalidTurnRequest)
    }
  })

  it("a last user message with only an image is accepted", () => {
    expect(parts(promptContent([user(image)]))).toEqual([image])
  })
})
