/**
 * Small log fixtures shared by the event-log suites.
 */
import { SessionCreated, type SessionEvent, TextDelta } from "../../src/Domain/SessionEvent.js"

/** A session's first event. */
export const created = new SessionCreated({ projectId: "default", cwd: "/tmp/x" })

/** A piece of text of turn `turnId` ("t" unless given). */
export const delta = (text: string, turnId = "t") => new TextDelta({ turnId, text })

/** The events as a list of strings: a delta's text, any other event as `<Tag>`. */
export const texts = (events: ReadonlyArray<{ readonly event: SessionEvent }>) =>
  events.map(({ event }) => (event._tag === "TextDelta" ? event.text : `<${event._tag}>`))
