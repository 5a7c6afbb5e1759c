/**
 * What the CLI is asked for a turn: the last user message, after a transcript of the
 * earlier ones when a stateless client resends history (tool calls and results included); the
 * results of the calls a process holds, matched by id (or, for legacy messages, by tool name);
 * and the note that puts the request's tool choice to the model.
 */
import { describe, expect, it } from "@effect/vitest"
import type { ContentPart, ConversationMessage } from "../../src/Domain/Conversation.js"
import { InvalidTurnRequest } from "../../src/Domain/Errors.js"
import type { ToolCall } from "../../src/Domain/Tools.js"
import {
  conversationProblem,
  notExecuted,
  promptContent,
  toolChoiceNote,
  type TurnInput,
  turnInputFor
} from "../../src/SessionRunner/prompt.js"

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

// ---------------------------------------------------------------------------
// The client's tools

const call = (id: string, name: string, args: string): ToolCall => ({ id, name, arguments: args })
const calling = (text: string, ...toolCalls: ReadonlyArray<ToolCall>): ConversationMessage => ({
  role: "assistant",
  content: text.length > 0 ? [txt(text)] : [],
  toolCalls
})
const tool = (toolCallId: string | undefined, text: string, isError = false): ConversationMessage => ({
  role: "tool",
  content: [txt(text)],
  ...(toolCallId !== undefined ? { toolCallId } : {}),
  ...(isError ? { isError } : {})
})
const transcriptOf = (result: ReturnType<typeof promptContent>): string => {
  const content = parts(result)
  expect(content).toHaveLength(1)
  return content[0]?._tag === "text" ? content[0].text : ""
}

describe("conversationProblem", () => {
  it("no messages, a last assistant message, a blank last user message → InvalidTurnRequest with its message", () => {
    expect(conversationProblem([])).toMatchObject({
      _tag: "InvalidTurnRequest",
      message: "messages must contain at least one user message",
      param: "messages"
    })
    expect(conversationProblem([user(txt("hi")), calling("", call("c1", "get_weather", "{}"))])).toMatchObject({
      message:
        "The last message must have role 'user' or 'tool' (Claude Code cannot continue a partial assistant message)",
      param: "messages"
    })
    expect(conversationProblem([user(txt(" \n "))])).toMatchObject({ message: "The last user message is empty" })
  })

  it("a last tool message is fine, even an empty one; so is a last user message with text", () => {
    expect(conversationProblem([user(txt("q")), calling("", call("c1", "f", "{}")), tool("c1", "ok")])).toBeNull()
    expect(conversationProblem([{ role: "tool", content: [], toolCallId: "c1" }])).toBeNull()
    expect(conversationProblem([user(txt("q"))])).toBeNull()
  })
})

describe("promptContent with tool calls and results", () => {
  it("a conversation ending with tool results is all transcript, asking the model to go on from them", () => {
    const transcript = transcriptOf(promptContent([
      user(txt("Weather in Paris and the time?")),
      calling(
        "",
        call("call_1", "get_weather", "{\"city\":\"Paris\"}"),
        call("call_2", "get_time", "{}")
      ),
      tool("call_1", "sunny"),
      tool("call_2", "no clock", true)
    ]))
    expect(transcript).toBe([
      "Earlier messages of this conversation, oldest first:",
      "<conversation>",
      "User: Weather in Paris and the time?",
      "Assistant called tool get_weather (call call_1) with arguments {\"city\":\"Paris\"}",
      "Assistant called tool get_time (call call_2) with arguments {}",
      "Tool result (call call_1): sunny",
      "Tool error (call call_2): no clock",
      "</conversation>",
      "",
      "The tool calls above were run by the user's client and their results are in. Continue from them.",
      ""
    ].join("\n"))
  })

  it("an assistant message with text and calls gives its text line, then a line per call", () => {
    const result = parts(promptContent([
      user(txt("q")),
      calling("Let me check.", call("c1", "get_weather", "{\"city\":\"Rome\"}")),
      tool("c1", "rain"),
      user(txt("thanks, and tomorrow?"))
    ]))
    expect(result).toHaveLength(2)
    expect(result[1]).toEqual(txt("thanks, and tomorrow?"))
    expect(result[0]?._tag === "text" ? result[0].text : "").toBe([
      "Earlier messages of this conversation, oldest first:",
      "<conversation>",
      "User: q",
      "Assistant: Let me check.",
      "Assistant called tool get_weather (call c1) with arguments {\"city\":\"Rome\"}",
      "Tool result (call c1): rain",
      "</conversation>",
      "",
      "Reply to the user's new message:",
      ""
    ].join("\n"))
  })

  it("a tool message without a call id, or with images, is still named in the transcript", () => {
    const transcript = transcriptOf(promptContent([
      user(txt("q")),
      { role: "tool", content: [txt("see"), image] },
      tool(undefined, "plain")
    ]))
    expect(transcript).toContain("\nTool result (call ?): see [1 image omitted]\nTool result (call ?): plain\n")
  })

  it("a conversation of one tool message is a transcript of it", () => {
    expect(transcriptOf(promptContent([tool("c9", "42")]))).toContain(
      "<conversation>\nTool result (call c9): 42\n</conversation>"
    )
  })
})

describe("toolChoiceNote", () => {
  it("asks for no call, some call, or the named tool; says nothing for auto or no choice", () => {
    expect(toolChoiceNote({ _tag: "none" })).toBe("Answer this message without calling any tool.")
    expect(toolChoiceNote({ _tag: "required" })).toBe(
      "Answer this message by calling at least one of the available tools."
    )
    expect(toolChoiceNote({ _tag: "named", name: "get_weather" })).toBe(
      "Answer this message by calling the tool get_weather."
    )
    expect(toolChoiceNote({ _tag: "auto" })).toBeNull()
    expect(toolChoiceNote(null)).toBeNull()
  })
})

describe("turnInputFor", () => {
  const question = user(txt("Weather in Paris and the time?"))
  const answer = calling(
    "Let me look.",
    call("toolu_1", "get_weather", "{\"city\":\"Paris\"}"),
    call("toolu_2", "get_time", "{}")
  )
  const holding = { holdsConversation: true, heldCalls: ["toolu_1", "toolu_2"] }
  const input = (
    added: ReadonlyArray<ConversationMessage>,
    options: {
      readonly held?: ReadonlyArray<ConversationMessage>
      readonly toolChoice?: Parameters<typeof toolChoiceNote>[0]
      readonly process?: { readonly holdsConversation: boolean; readonly heldCalls: ReadonlyArray<string> }
    } = {}
  ): TurnInput => {
    const result = turnInputFor(
      { held: options.held ?? [question, answer], added, toolChoice: options.toolChoice ?? null },
      options.process ?? holding
    )
    if (result instanceof InvalidTurnRequest) throw new Error(`unexpected InvalidTurnRequest: ${result.message}`)
    return result
  }
  const unanswered = (callId: string) => ({ callId, content: [txt(notExecuted)], isError: true })

  it("held calls are answered by id, in the order the process holds them, errors kept", () => {
    expect(input([tool("toolu_2", "noon", true), tool("toolu_1", "sunny")])).toEqual({
      _tag: "Results",
      results: [
        { callId: "toolu_1", content: [txt("sunny")], isError: false },
        { callId: "toolu_2", content: [txt("noon")], isError: true }
      ],
      message: null
    })
  })

  it("a held call the client did not answer is answered as not executed, an error", () => {
    expect(notExecuted).toBe("Not executed: the client did not run this tool call.")
    expect(input([tool("toolu_2", "noon")])).toEqual({
      _tag: "Results",
      results: [unanswered("toolu_1"), { callId: "toolu_2", content: [txt("noon")], isError: false }],
      message: null
    })
  })

  it("a user message after the results comes along, with the tool-choice note", () => {
    expect(input([tool("toolu_1", "sunny"), tool("toolu_2", "noon"), user(txt("and tomorrow?"))], {
      toolChoice: { _tag: "none" }
    })).toEqual({
      _tag: "Results",
      results: [
        { callId: "toolu_1", content: [txt("sunny")], isError: false },
        { callId: "toolu_2", content: [txt("noon")], isError: false }
      ],
      message: [txt("and tomorrow?"), txt("\n\n(Answer this message without calling any tool.)")]
    })
  })

  it("a client that answers none of the calls and says something new: all not executed, its message along", () => {
    expect(input([user(txt("never mind"))])).toEqual({
      _tag: "Results",
      results: [unanswered("toolu_1"), unanswered("toolu_2")],
      message: [txt("never mind")]
    })
  })

  it("a blank user message after the results is refused", () => {
    const result = turnInputFor({
      held: [question, answer],
      added: [tool("toolu_1", "x"), user(txt("  "))],
      toolChoice: null
    }, holding)
    expect(result).toBeInstanceOf(InvalidTurnRequest)
  })

  it("a legacy result named by its tool answers the one held call of that name", () => {
    const held = [question, calling("", call("toolu_1", "get_weather", "{\"city\":\"Paris\"}"))]
    expect(
      input([tool("get_weather", "sunny")], { held, process: { holdsConversation: true, heldCalls: ["toolu_1"] } })
    )
      .toEqual({
        _tag: "Results",
        results: [{ callId: "toolu_1", content: [txt("sunny")], isError: false }],
        message: null
      })
    // Next to another held call of another tool.
    expect(input([tool("get_time", "noon")])).toEqual({
      _tag: "Results",
      results: [unanswered("toolu_1"), { callId: "toolu_2", content: [txt("noon")], isError: false }],
      message: null
    })
  })

  it("a legacy result whose tool was called twice is ambiguous: the process cannot take it", () => {
    const held = [
      question,
      calling(
        "",
        call("toolu_1", "get_weather", "{\"city\":\"Paris\"}"),
        call("toolu_2", "get_weather", "{\"city\":\"Rome\"}")
      )
    ]
    expect(input([tool("get_weather", "sunny")], { held })).toEqual({ _tag: "Unfit" })
  })

  it("a legacy result names only a call the process holds, from the conversation's last answer", () => {
    // The last answer's get_weather call is not held (the process holds only toolu_2).
    expect(input([tool("get_weather", "sunny")], { process: { holdsConversation: true, heldCalls: ["toolu_2"] } }))
      .toEqual({ _tag: "Unfit" })
  })

  it("a call answered twice takes the first answer", () => {
    const result = input([tool("toolu_1", "first"), tool("toolu_1", "second"), tool("toolu_2", "noon")])
    expect(result).toEqual({
      _tag: "Results",
      results: [
        { callId: "toolu_1", content: [txt("first")], isError: false },
        { callId: "toolu_2", content: [txt("noon")], isError: false }
      ],
      message: null
    })
  })

  it("a result for a call the process does not hold makes it unfit: only the whole conversation can carry it", () => {
    expect(input([tool("toolu_old", "stale")])).toEqual({ _tag: "Unfit" })
    expect(input([tool("toolu_1", "sunny"), tool("toolu_old", "stale")])).toEqual({ _tag: "Unfit" })
  })

  it("results alone carry a tool choice other than auto as a message after them", () => {
    expect(input([tool("toolu_1", "sunny"), tool("toolu_2", "noon")], { toolChoice: { _tag: "none" } })).toEqual({
      _tag: "Results",
      results: [
        { callId: "toolu_1", content: [txt("sunny")], isError: false },
        { callId: "toolu_2", content: [txt("noon")], isError: false }
      ],
      message: [txt("Answer this message without calling any tool.")]
    })
  })

  it("a process without the conversation gets it all as a transcript, with the note", () => {
    const result = input([tool("toolu_1", "sunny"), tool("toolu_2", "noon")], {
      toolChoice: { _tag: "required" },
      process: { holdsConversation: false, heldCalls: [] }
    })
    expect(result._tag).toBe("Message")
    const content = result._tag === "Message" ? result.content : []
    expect(content).toHaveLength(2)
    expect(content[0]?._tag === "text" ? content[0].text : "").toBe([
      "Earlier messages of this conversation, oldest first:",
      "<conversation>",
      "User: Weather in Paris and the time?",
      "Assistant: Let me look.",
      "Assistant called tool get_weather (call toolu_1) with arguments {\"city\":\"Paris\"}",
      "Assistant called tool get_time (call toolu_2) with arguments {}",
      "Tool result (call toolu_1): sunny",
      "Tool result (call toolu_2): noon",
      "</conversation>",
      "",
      "The tool calls above were run by the user's client and their results are in. Continue from them.",
      ""
    ].join("\n"))
    expect(content[1]).toEqual(txt("\n\n(Answer this message by calling at least one of the available tools.)"))
  })

  it("a process that holds the conversation but no calls gets the new message, with the note (none for auto)", () => {
    const process = { holdsConversation: true, heldCalls: [] }
    expect(input([user(txt("hi"))], { process, toolChoice: { _tag: "named", name: "get_weather" } })).toEqual({
      _tag: "Message",
      content: [txt("hi"), txt("\n\n(Answer this message by calling the tool get_weather.)")]
    })
    expect(input([user(txt("hi"))], { process, toolChoice: { _tag: "auto" } })).toEqual({
      _tag: "Message",
      content: [txt("hi")]
    })
  })

  it("a conversation that cannot be sent is refused", () => {
    const result = turnInputFor(
      { held: [], added: [calling("", call("c1", "f", "{}"))], toolChoice: null },
      { holdsConversation: false, heldCalls: [] }
    )
    expect(result).toBeInstanceOf(InvalidTurnRequest)
  })
})
