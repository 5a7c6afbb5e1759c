/**
 * Small log fixtures shared by the event-log suites.
 */
import type { ConversationMessage } from "../../src/Domain/Conversation.js"
import { SessionCreated, type SessionEvent, TextDelta, TurnStarted } from "../../src/Domain/SessionEvent.js"

/** A session's first event. */
export const created = new SessionCreated({ projectId: "default", cwd: "/tmp/x" })

/** The start of turn `turnId`, asked `messages` (none unless given), with no model or system prompt. */
export const started = (turnId: string, messages: ReadonlyArray<ConversationMessage> = []) =>
  new TurnStarted({
    turnId,
    messages,
    systemPrompt: null,
    requestedModel: null,
    resolvedModel: null,
    fallbackModels: [],
    parameters: {}
  })

/** A piece of text of turn `turnId` ("t" unless given). */
export const delta = (text: string, turnId = "t") => new TextDelta({ turnId, text })

/** The events as a list of strings: a delta's text, any other event as `<Tag>`. */
export const texts = (events: ReadonlyArray<{ readonly event: SessionEvent }>) =>
  events.map(({ event }) => (event._tag === "TextDelta" ? event.text : `<${event._tag}>`))
