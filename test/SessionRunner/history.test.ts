/**
 * The pure fold of a session's log into its conversation, the conversation digest that
 * stateless clients are recognised by, and what a request adds to a session; with the
 * client's tools, the calls an answer made and the results that answer them.
 */
import { describe, expect, it } from "@effect/vitest"
import type { ConversationMessage } from "../../src/Domain/Conversation.js"
import { InternalFailure } from "../../src/Domain/Errors.js"
import {
  SessionClosed,
  SessionCreated,
  type SessionEvent,
  StoredEvent,
  TextDelta,
  ThinkingDelta,
  ToolCallDelta,
  ToolCallStarted,
  TurnAttached,
  TurnCancelled,
  TurnCompleted,
  TurnFailed,
  TurnStarted
} from "../../src/Domain/SessionEvent.js"
import type { ToolCall } from "../../src/Domain/Tools.js"
import {
  afterLastAssistant,
  answerMessage,
  digestOf,
  historyOf,
  newMessagesOf
} from "../../src/SessionRunner/history.js"

// ---------------------------------------------------------------------------
// Builders

const user = (...texts: ReadonlyArray<string>): ConversationMessage => ({
  role: "user",
  content: texts.map((text) => ({ _tag: "text" as const, text }))
})
const assistant = (...texts: ReadonlyArray<string>): ConversationMessage => ({
  role: "assistant",
  content: texts.map((text) => ({ _tag: "text" as const, text }))
})
const image = (data: string, mediaType = "image/png"): ConversationMessage["content"][number] => ({
  _tag: "image",
  mediaType,
  data
})

/** Numbers events from 1, one millisecond apart, as the store would. */
const stored = (events: ReadonlyArray<SessionEvent>, sessionId = "s-1"): ReadonlyArray<StoredEvent> =>
  events.map((event, index) =>
    new StoredEvent({ sessionId, sequence: index + 1, timestamp: 1_700_000_000_000 + index, event })
  )

const created = (projectId = "default", cwd = "/root/default", configDir: string | null = "/home/u/.claude") =>
  new SessionCreated({ projectId, cwd, configDir })

const started = (turnId: string, messages: ReadonlyArray<ConversationMessage>) =>
  new TurnStarted({
    turnId,
    messages,
    systemPrompt: null,
    requestedModel: "sonnet",
    resolvedModel: "claude-sonnet-4-5-20250929",
    fallbackModels: [],
    parameters: {}
  })

const attached = (turnId: string, cliSessionId: string) =>
  new TurnAttached({ turnId, model: "claude-sonnet-4-5-20250929", cliSessionId, cliVersion: "2.1.197" })

const completed = (turnId: string, cliSessionId: string) =>
  new TurnCompleted({
    turnId,
    model: "claude-sonnet-4-5-20250929",
    cliSessionId,
    stopReason: "end_turn",
    usage: { inputTokens: 100, outputTokens: 4, cacheReadInputTokens: 30, cacheCreationInputTokens: 20 },
    costUsd: 0.0123,
    durationMs: 12,
    numTurns: 1,
    conversationDigest: null
  })

/** A whole completed turn: started, attached, its text in pieces, completed. */
const completedTurn = (
  turnId: string,
  messages: ReadonlyArray<ConversationMessage>,
  pieces: ReadonlyArray<string>,
  cliSessionId = `cli-${turnId}`
): ReadonlyArray<SessionEvent> => [
  started(turnId, messages),
  attached(turnId, cliSessionId),
  ...pieces.map((text) => new TextDelta({ turnId, text })),
  completed(turnId, cliSessionId)
]

// ---------------------------------------------------------------------------
// historyOf

describe("historyOf", () => {
  it("is empty for an empty log", () => {
    expect(historyOf([])).toEqual({
      owner: null,
      projectId: null,
      cwd: null,
      configDir: null,
      model: null,
      systemPrompt: null,
      closed: false,
      conversation: [],
      lastCompleted: null,
      unfinishedTurnId: null,
      lastSequence: 0
    })
  })

  it("takes project, cwd and config dir from SessionCreated", () => {
    const history = historyOf(stored([created("proj", "/root/proj", "/cfg")]))
    expect(history.projectId).toBe("proj")
    expect(history.cwd).toBe("/root/proj")
    expect(history.configDir).toBe("/cfg")
    expect(history.closed).toBe(false)
    expect(history.conversation).toEqual([])
    expect(history.lastCompleted).toBeNull()
    expect(history.lastSequence).toBe(1)
  })

  it("folds completed turns into their messages followed by the joined answer text", () => {
    const events = stored([
      created(),
      ...completedTurn("t1", [user("hello")], ["Echo: ", "hello ", "[turn=1]"]),
      ...completedTurn("t2", [user("again")], ["Echo: ", "again ", "[turn=2]"])
    ])
    const history = historyOf(events)
    expect(history.conversation).toEqual([
      user("hello"),
      assistant("Echo: hello [turn=1]"),
      user("again"),
      assistant("Echo: again [turn=2]")
    ])
    expect(history.lastSequence).toBe(events.length)
    expect(history.lastCompleted?.turnId).toBe("t2")
    expect(history.lastCompleted?.cliSessionId).toBe("cli-t2")
    expect(history.closed).toBe(false)
  })

  it("keeps every message a turn added (a client that sent several), in order", () => {
    const history = historyOf(stored([
      created(),
      ...completedTurn("t1", [user("one"), assistant("pretend"), user("two")], ["answer"])
    ]))
    expect(history.conversation).toEqual([user("one"), assistant("pretend"), user("two"), assistant("answer")])
  })

  it("records an answer with no text as an assistant message with empty text", () => {
    const history = historyOf(stored([created(), ...completedTurn("t1", [user("quiet")], [])]))
    expect(history.conversation).toEqual([user("quiet"), assistant("")])
  })

  it("ignores thinking and text of other turns", () => {
    const history = historyOf(stored([
      created(),
      started("t1", [user("q")]),
      new ThinkingDelta({ turnId: "t1", text: "hmm" }),
      new TextDelta({ turnId: "other", text: "stray " }),
      new TextDelta({ turnId: "t1", text: "a" }),
      completed("t1", "cli-1")
    ]))
    expect(history.conversation).toEqual([user("q"), assistant("a")])
  })

  it("leaves failed turns out of the conversation", () => {
    const history = historyOf(stored([
      created(),
      ...completedTurn("t1", [user("first")], ["one"]),
      started("t2", [user("broken")]),
      new TextDelta({ turnId: "t2", text: "partial" }),
      new TurnFailed({ turnId: "t2", error: new InternalFailure({ message: "boom" }) }),
      ...completedTurn("t3", [user("third")], ["three"])
    ]))
    expect(history.conversation).toEqual([user("first"), assistant("one"), user("third"), assistant("three")])
    expect(history.lastCompleted?.turnId).toBe("t3")
  })

  it("leaves cancelled turns out of the conversation", () => {
    const history = historyOf(stored([
      created(),
      ...completedTurn("t1", [user("first")], ["one"]),
      started("t2", [user("stop me")]),
      new TextDelta({ turnId: "t2", text: "w1 " }),
      new TurnCancelled({ turnId: "t2", reason: "client" })
    ]))
    expect(history.conversation).toEqual([user("first"), assistant("one")])
    // The last completed turn is still the one to resume.
    expect(history.lastCompleted?.turnId).toBe("t1")
    expect(history.lastCompleted?.cliSessionId).toBe("cli-t1")
  })

  it("leaves a turn that is still running out of the conversation", () => {
    const events = stored([
      created(),
      ...completedTurn("t1", [user("first")], ["one"]),
      started("t2", [user("running")]),
      new TextDelta({ turnId: "t2", text: "so far" })
    ])
    const history = historyOf(events)
    expect(history.conversation).toEqual([user("first"), assistant("one")])
    expect(history.lastCompleted?.turnId).toBe("t1")
    expect(history.lastSequence).toBe(events.length)
    expect(history.unfinishedTurnId).toBe("t2")
  })

  it("has no unfinished turn once every started turn ended, however it ended", () => {
    const history = historyOf(stored([
      created(),
      ...completedTurn("t1", [user("first")], ["one"]),
      started("t2", [user("stop me")]),
      new TurnCancelled({ turnId: "t2", reason: "interrupted" }),
      started("t3", [user("broken")]),
      new TurnFailed({ turnId: "t3", error: new InternalFailure({ message: "boom" }) })
    ]))
    expect(history.unfinishedTurnId).toBeNull()
  })

  it("ignores a TurnCompleted that does not end the pending turn", () => {
    const history = historyOf(stored([
      created(),
      started("t1", [user("q")]),
      new TextDelta({ turnId: "t1", text: "a" }),
      completed("someone-else", "cli-x")
    ]))
    expect(history.conversation).toEqual([])
    expect(history.lastCompleted).toBeNull()
  })

  it("has no lastCompleted when every turn failed or was cancelled", () => {
    const history = historyOf(stored([
      created(),
      started("t1", [user("a")]),
      new TurnFailed({ turnId: "t1", error: new InternalFailure({ message: "x" }) }),
      started("t2", [user("b")]),
      new TurnCancelled({ turnId: "t2", reason: "timeout" })
    ]))
    expect(history.conversation).toEqual([])
    expect(history.lastCompleted).toBeNull()
  })

  it("marks the session closed after SessionClosed, keeping its conversation", () => {
    const events = stored([
      created(),
      ...completedTurn("t1", [user("hello")], ["hi"]),
      new SessionClosed({ reason: "closed by client" })
    ])
    const history = historyOf(events)
    expect(history.closed).toBe(true)
    expect(history.conversation).toEqual([user("hello"), assistant("hi")])
    expect(history.lastCompleted?.turnId).toBe("t1")
    expect(history.lastSequence).toBe(events.length)
  })

  it("takes lastSequence from the last stored event", () => {
    const events = [
      new StoredEvent({ sessionId: "s", sequence: 41, timestamp: 1, event: created() }),
      new StoredEvent({ sessionId: "s", sequence: 42, timestamp: 2, event: started("t", [user("x")]) })
    ]
    expect(historyOf(events).lastSequence).toBe(42)
  })
})

// ---------------------------------------------------------------------------
// digestOf

describe("digestOf", () => {
  const conversation = [user("hello"), assistant("Echo: hello [turn=1]"), user("again")]

  it("is a stable hex sha-256", () => {
    const digest = digestOf(conversation)
    expect(digest).toMatch(/^[0-9a-f]{64}$/)
    expect(digestOf(conversation)).toBe(digest)
    // Equal content, different objects.
    expect(digestOf(conversation.map((message) => ({ ...message, content: [...message.content] })))).toBe(digest)
  })

  it("ignores outer whitespace of each message's text", () => {
    expect(digestOf([user("  hello\n"), assistant("\tEcho: hello [turn=1]  "), user("again\n\n")])).toBe(
      digestOf(conversation)
    )
  })

  it("ignores how the text is split into parts", () => {
    expect(digestOf([user("hel", "lo"), assistant("Echo: ", "hello ", "[turn=1]"), user("again")])).toBe(
      digestOf(conversation)
    )
  })

  it("differs when a role differs", () => {
    expect(digestOf([user("hello"), user("Echo: hello [turn=1]"), user("again")])).not.toBe(digestOf(conversation))
    expect(digestOf([assistant("x")])).not.toBe(digestOf([user("x")]))
  })

  it("differs when a text differs (inner whitespace included)", () => {
    expect(digestOf([user("hello"), assistant("Echo: hello [turn=2]"), user("again")])).not.toBe(digestOf(conversation))
    expect(digestOf([user("hel lo")])).not.toBe(digestOf([user("hello")]))
  })

  it("differs when messages are split differently, added or removed", () => {
    expect(digestOf([user("ab"), user("c")])).not.toBe(digestOf([user("a"), user("bc")]))
    expect(digestOf(conversation.slice(0, 2))).not.toBe(digestOf(conversation))
    expect(digestOf([])).not.toBe(digestOf([user("")]))
  })

  it("takes images into account by their data and media type", () => {
    const withImage = (data: string, mediaType?: string): ConversationMessage => ({
      role: "user",
      content: [{ _tag: "text", text: "look" }, image(data, mediaType)]
    })
    expect(digestOf([withImage("AAAA")])).toBe(digestOf([withImage("AAAA")]))
    expect(digestOf([withImage("AAAA")])).not.toBe(digestOf([withImage("BBBB")]))
    expect(digestOf([withImage("AAAA")])).not.toBe(digestOf([withImage("AAAA", "image/jpeg")]))
    expect(digestOf([withImage("AAAA")])).not.toBe(digestOf([user("look")]))
  })
})

// ---------------------------------------------------------------------------
// afterLastAssistant

describe("afterLastAssistant", () => {
  it("is 0 without an assistant message", () => {
    expect(afterLastAssistant([])).toBe(0)
    expect(afterLastAssistant([user("a"), user("b")])).toBe(0)
  })

  it("is the index just after the last assistant message", () => {
    expect(afterLastAssistant([user("a"), assistant("b")])).toBe(2)
    expect(afterLastAssistant([user("a"), assistant("b"), user("c")])).toBe(2)
    expect(afterLastAssistant([user("a"), assistant("b"), user("c"), assistant("d"), user("e"), user("f")])).toBe(4)
    expect(afterLastAssistant([assistant("a"), user("b")])).toBe(1)
  })
})

// ---------------------------------------------------------------------------
// newMessagesOf

describe("newMessagesOf", () => {
  const held = [user("hello"), assistant("Echo: hello [turn=1]")]

  it("returns only what follows when the request repeats the held conversation", () => {
    expect(newMessagesOf(held, [...held, user("again")])).toEqual([user("again")])
    expect(newMessagesOf(held, [...held, user("two"), user("three")])).toEqual([user("two"), user("three")])
  })

  it("recognises the held conversation despite whitespace and part splitting", () => {
    const resent = [user(" hello "), assistant("Echo: ", "hello [turn=1]\n")]
    expect(newMessagesOf(held, [...resent, user("again")])).toEqual([user("again")])
  })

  it("keeps assistant messages the client added after the held conversation", () => {
    const requested = [...held, user("u2"), assistant("client-made"), user("u3")]
    expect(newMessagesOf(held, requested)).toEqual([user("u2"), assistant("client-made"), user("u3")])
  })

  it("returns the request's only message when the client sends just the new one", () => {
    expect(newMessagesOf(held, [user("only this")])).toEqual([user("only this")])
    expect(newMessagesOf(held, [user("one"), user("two")])).toEqual([user("one"), user("two")])
  })

  it("returns the trailing user messages when the history diverged", () => {
    const diverged = [user("hello"), assistant("something else entirely"), user("u2"), user("u3")]
    expect(newMessagesOf(held, diverged)).toEqual([user("u2"), user("u3")])
    const longer = [user("x"), assistant("y"), user("z"), assistant("w"), user("new")]
    expect(newMessagesOf(held, longer)).toEqual([user("new")])
  })

  it("returns everything for a session that holds nothing yet", () => {
    expect(newMessagesOf([], [user("first")])).toEqual([user("first")])
    const full = [user("a"), assistant("b"), user("c")]
    expect(newMessagesOf([], full)).toEqual(full)
  })

  it("adds nothing when the request is the held conversation itself", () => {
    expect(newMessagesOf(held, held)).toEqual([])
  })
})

// ---------------------------------------------------------------------------
// The client's tools

const weatherCall: ToolCall = { id: "toolu_1", name: "get_weather", arguments: "{\"city\":\"Paris\",\"days\":2}" }
const timeCall: ToolCall = { id: "toolu_2", name: "get_time", arguments: "{}" }

const suspendedAt = (turnId: string, toolCalls: ReadonlyArray<ToolCall>, cliSessionId = `cli-${turnId}`) =>
  new TurnCompleted({
    turnId,
    model: "claude-sonnet-4-5-20250929",
    cliSessionId,
    stopReason: "tool_use",
    usage: { inputTokens: 10, outputTokens: 3, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 },
    costUsd: null,
    durationMs: null,
    numTurns: null,
    toolCalls
  })

const calling = (text: string, ...toolCalls: ReadonlyArray<ToolCall>): ConversationMessage => ({
  role: "assistant",
  content: text.length > 0 ? [{ _tag: "text", text }] : [],
  toolCalls
})
const toolResult = (toolCallId: string, text: string): ConversationMessage => ({
  role: "tool",
  content: [{ _tag: "text", text }],
  toolCallId
})

describe("historyOf with the client's tools", () => {
  it("a turn that ended on calls adds an assistant message with its text and the calls", () => {
    const history = historyOf(stored([
      created(),
      started("t1", [user("weather and time?")]),
      attached("t1", "cli-1"),
      new TextDelta({ turnId: "t1", text: "Let me look." }),
      new ToolCallStarted({ turnId: "t1", index: 0, callId: "toolu_1", name: "get_weather" }),
      new ToolCallDelta({ turnId: "t1", index: 0, arguments: weatherCall.arguments }),
      new ToolCallStarted({ turnId: "t1", index: 1, callId: "toolu_2", name: "get_time" }),
      new ToolCallDelta({ turnId: "t1", index: 1, arguments: "{}" }),
      suspendedAt("t1", [weatherCall, timeCall], "cli-1")
    ]))
    expect(history.conversation).toEqual([
      user("weather and time?"),
      { role: "assistant", content: [{ _tag: "text", text: "Let me look." }], toolCalls: [weatherCall, timeCall] }
    ])
    expect(history.lastCompleted?.toolCalls).toEqual([weatherCall, timeCall])
  })

  it("calls without text make an assistant message with no content; the continuation follows with the results", () => {
    const history = historyOf(stored([
      created(),
      started("t1", [user("weather?")]),
      suspendedAt("t1", [weatherCall]),
      started("t2", [toolResult("toolu_1", "sunny")]),
      new TextDelta({ turnId: "t2", text: "Sunny." }),
      completed("t2", "cli-t1")
    ]))
    expect(history.conversation).toEqual([
      user("weather?"),
      { role: "assistant", content: [], toolCalls: [weatherCall] },
      toolResult("toolu_1", "sunny"),
      assistant("Sunny.")
    ])
    expect(history.conversation[3]).not.toHaveProperty("toolCalls")
    expect(history.lastCompleted?.turnId).toBe("t2")
  })
})

describe("answerMessage", () => {
  it("an answer without calls is its text (empty included), with no toolCalls", () => {
    expect(answerMessage(completed("t", "c"), "hi")).toEqual(assistant("hi"))
    const empty = answerMessage(completed("t", "c"), "")
    expect(empty).toEqual(assistant(""))
    expect(empty).not.toHaveProperty("toolCalls")
  })

  it("an answer with calls carries them; its content is empty when it had no text", () => {
    expect(answerMessage(suspendedAt("t", [weatherCall]), "")).toEqual({
      role: "assistant",
      content: [],
      toolCalls: [weatherCall]
    })
    expect(answerMessage(suspendedAt("t", [weatherCall]), "Checking.")).toEqual({
      role: "assistant",
      content: [{ _tag: "text", text: "Checking." }],
      toolCalls: [weatherCall]
    })
  })
})

describe("digestOf with the client's tools", () => {
  const question = user("weather?")
  const held = [question, calling("Let me look.", weatherCall, timeCall), toolResult("toolu_1", "sunny")]

  it("an assistant message is known by its calls: re-serialised arguments and missing text match, other ids do not", () => {
    const resent = (firstId: string) => [
      question,
      calling(
        "",
        { id: firstId, name: "get_weather", arguments: "{ \"days\": 2,\n  \"city\": \"Paris\" }" },
        { id: "toolu_2", name: "get_time", arguments: " {} " }
      ),
      toolResult("toolu_1", " sunny\n")
    ]
    expect(digestOf(resent("toolu_1"))).toBe(digestOf(held))
    // Two conversations that went alike are told apart by the model's call ids.
    expect(digestOf(resent("toolu_9"))).not.toBe(digestOf(held))
  })

  it("nested objects are compared with their keys sorted, arrays in order", () => {
    const withArgs = (args: string) => [question, calling("", { ...weatherCall, arguments: args })]
    expect(digestOf(withArgs("{\"a\":{\"y\":1,\"x\":[{\"b\":1,\"a\":2}]}}"))).toBe(
      digestOf(withArgs("{\"a\":{\"x\":[{\"a\":2,\"b\":1}],\"y\":1}}"))
    )
    expect(digestOf(withArgs("[1,2]"))).not.toBe(digestOf(withArgs("[2,1]")))
    // Arguments that are not JSON are compared as trimmed text.
    expect(digestOf(withArgs(" {oops "))).toBe(digestOf(withArgs("{oops")))
    expect(digestOf(withArgs("{oops"))).not.toBe(digestOf(withArgs("{oops2")))
  })

  it("differs when a call's arguments or name differ, or a call is missing", () => {
    const base = digestOf(held)
    expect(
      digestOf([
        question,
        calling("", { ...weatherCall, arguments: "{\"city\":\"Rome\",\"days\":2}" }, timeCall),
        held[2]!
      ])
    )
      .not.toBe(base)
    expect(digestOf([question, calling("", { ...weatherCall, name: "get_forecast" }, timeCall), held[2]!])).not.toBe(
      base
    )
    expect(digestOf([question, calling("", weatherCall), held[2]!])).not.toBe(base)
    // The same text without the calls is another message.
    expect(digestOf([question, assistant("Let me look."), held[2]!])).not.toBe(base)
  })

  it("tool messages differ by the call they answer and by their text", () => {
    expect(digestOf([toolResult("toolu_1", "sunny")])).not.toBe(digestOf([toolResult("toolu_2", "sunny")]))
    expect(digestOf([toolResult("toolu_1", "sunny")])).not.toBe(digestOf([toolResult("toolu_1", "rain")]))
    expect(digestOf([toolResult("toolu_1", "sunny")])).not.toBe(digestOf([user("sunny")]))
    expect(digestOf([toolResult("toolu_1", "sunny")])).toBe(digestOf([toolResult("toolu_1", "sunny  ")]))
  })

  it("newMessagesOf finds what follows a held conversation with calls, resent by a client that re-ids them", () => {
    const history = historyOf(
      stored([created(), started("t1", [question]), suspendedAt("t1", [weatherCall, timeCall])])
    )
    const resent = [
      question,
      calling("", { ...weatherCall, id: "call_x", arguments: "{\"days\":2,\"city\":\"Paris\"}" }, {
        ...timeCall,
        id: "call_y"
      }),
      toolResult("call_x", "sunny"),
      toolResult("call_y", "noon")
    ]
    expect(newMessagesOf(history.conversation, resent)).toEqual([
      toolResult("call_x", "sunny"),
      toolResult("call_y", "noon")
    ])
  })
})
