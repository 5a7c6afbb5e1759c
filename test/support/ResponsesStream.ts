/**
 * A strict reader of Responses API event streams, stricter than any client: the SSE framing
 * (`event:` equal to the data's `type`, `data: [DONE]` last), `sequence_number` consecutive
 * from 0, `response.created` then `response.in_progress` first, every output item opened
 * (`output_item.added`, empty) before its parts and deltas and closed (`output_item.done`,
 * complete and schema-valid) before the next opens, the done events repeating what the
 * deltas said, and one terminal event whose response lists exactly the closed items.
 */
import { Schema } from "effect"
import * as assert from "node:assert/strict"
import {
  OutputItem,
  ResponseObject,
  ResponseStreamEvent,
  type ResponseStreamEvent as ResponseStreamEventType
} from "../../src/Http/Responses/Wire.js"

const strict = { onExcessProperty: "error" } as const
const decodeEvent = Schema.decodeUnknownSync(ResponseStreamEvent, strict)
const decodeItem = Schema.decodeUnknownSync(OutputItem, strict)
const decodeResponse = Schema.decodeUnknownSync(ResponseObject, strict)

/** One SSE frame: its `event:` line (null without one) and its data. */
export interface SseFrame {
  readonly event: string | null
  readonly data: string
}

/** The frames of an SSE body (comments dropped). */
export const sseFrames = (body: string): ReadonlyArray<SseFrame> =>
  body.split("\n\n").filter((block) => block.trim().length > 0).flatMap((block) => {
    let event: string | null = null
    const data: Array<string> = []
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice("event: ".length)
      else if (line.startsWith("data: ")) data.push(line.slice("data: ".length))
    }
    return data.length === 0 ? [] : [{ event, data: data.join("\n") }]
  })

type Item = typeof OutputItem.Type
type Terminal = Extract<
  ResponseStreamEventType,
  { readonly type: "response.completed" | "response.incomplete" | "response.failed" }
>

/** What a checked stream said. */
export interface CheckedStream {
  readonly events: ReadonlyArray<ResponseStreamEventType>
  /** The items of the `output_item.done` events, in order. */
  readonly items: ReadonlyArray<Item>
  readonly terminal: Terminal
}

/**
 * Checks a whole Responses stream (the raw SSE body) and returns its events; throws an
 * assertion error naming the first violation.
 */
export const checkResponseStream = (body: string): CheckedStream => {
  const frames = sseFrames(body)
  assert.ok(frames.length >= 4, "a stream has at least created, in_progress, a terminal event and [DONE]")
  assert.equal(frames[frames.length - 1]!.data, "[DONE]", "the stream ends with data: [DONE]")
  assert.equal(frames[frames.length - 1]!.event, null, "[DONE] has no event line")
  const events = frames.slice(0, -1).map((frame, index) => {
    assert.notEqual(frame.data, "[DONE]", `[DONE] only at the end (frame ${index})`)
    const raw = JSON.parse(frame.data) as { type: string }
    assert.equal(frame.event, raw.type, `frame ${index}: the event line names the data's type`)
    assert.ok(!("error" in raw), `frame ${index}: no top-level error key (the openai SDK would throw)`)
    return decodeEvent(raw)
  })
  events.forEach((event, index) => assert.equal(event.sequence_number, index, `sequence_number of event ${index}`))
  assert.equal(events[0]!.type, "response.created")
  assert.equal(events[1]!.type, "response.in_progress")
  const created = events[0] as Extract<ResponseStreamEventType, { type: "response.created" }>
  assert.equal(created.response.status, "in_progress")
  assert.deepEqual(created.response.output, [])

  const items: Array<Item> = []
  let open: { item: Item; text: string; parts: number; arguments: string } | null = null
  let terminal: Terminal | null = null
  const atOpen = (event: { item_id: string; output_index: number }, what: string) => {
    assert.ok(open !== null, `${what}: no item is open`)
    assert.equal(event.item_id, open.item.id, `${what}: item_id of the open item`)
    assert.equal(event.output_index, items.length, `${what}: output_index of the open item`)
    return open
  }
  for (const event of events.slice(2)) {
    assert.equal(terminal, null, `${event.type} after the terminal event`)
    switch (event.type) {
      case "keepalive":
        break
      case "response.output_item.added": {
        if (open !== null) assert.fail(`output_item.added (${event.item.id}) while another item is open`)
        assert.equal(event.output_index, items.length, "output_index of a new item counts the closed ones")
        const item = decodeItem(event.item)
        if (item.type === "message") {
          assert.deepEqual(item.content, [], "a message is added empty")
          assert.equal(item.status, "in_progress")
        } else if (item.type === "reasoning") {
          assert.deepEqual(item.summary, [], "a reasoning item is added with an empty summary")
        } else {
          assert.equal(item.arguments, "", "a function call is added with empty arguments")
          assert.equal(item.status, "in_progress")
        }
        open = { item, text: "", parts: 0, arguments: "" }
        break
      }
      case "response.content_part.added": {
        const current = atOpen(event, "content_part.added")
        assert.equal(current.item.type, "message")
        assert.equal(event.content_index, current.parts, "content_index")
        assert.equal(event.part.text, "")
        current.parts++
        break
      }
      case "response.output_text.delta": {
        const current = atOpen(event, "output_text.delta")
        assert.equal(current.item.type, "message")
        assert.ok(event.content_index < current.parts, "output_text.delta before its content_part.added")
        current.text += event.delta
        break
      }
      case "response.output_text.done":
        assert.equal(event.text, atOpen(event, "output_text.done").text, "output_text.done repeats the deltas")
        break
      case "response.content_part.done":
        assert.equal(event.part.text, atOpen(event, "content_part.done").text, "content_part.done has the text")
        break
      case "response.reasoning_summary_part.added": {
        const current = atOpen(event, "reasoning_summary_part.added")
        assert.equal(current.item.type, "reasoning")
        assert.equal(event.summary_index, current.parts, "summary_index")
        current.parts++
        break
      }
      case "response.reasoning_summary_text.delta": {
        const current = atOpen(event, "reasoning_summary_text.delta")
        assert.ok(event.summary_index < current.parts, "summary delta before its summary_part.added")
        current.text += event.delta
        break
      }
      case "response.reasoning_summary_text.done":
        assert.equal(event.text, atOpen(event, "reasoning_summary_text.done").text)
        break
      case "response.reasoning_summary_part.done":
        assert.equal(event.part.text, atOpen(event, "reasoning_summary_part.done").text)
        break
      case "response.function_call_arguments.delta": {
        const current = atOpen(event, "function_call_arguments.delta")
        assert.equal(current.item.type, "function_call")
        current.arguments += event.delta
        break
      }
      case "response.function_call_arguments.done": {
        const current = atOpen(event, "function_call_arguments.done")
        assert.ok(
          event.arguments === current.arguments || (current.arguments === "" && event.arguments === "{}"),
          "function_call_arguments.done repeats the deltas"
        )
        assert.equal(current.item.type === "function_call" ? current.item.name : null, event.name)
        break
      }
      case "response.output_item.done": {
        assert.ok(open !== null, "output_item.done without an open item")
        assert.equal(event.output_index, items.length, "output_item.done: output_index")
        const item = decodeItem(event.item)
        assert.equal(item.id, open.item.id, "output_item.done closes the open item")
        assert.equal(item.type, open.item.type)
        if (item.type === "message") {
          assert.equal(item.content.map((part) => part.text).join(""), open.text, "the message holds the deltas")
          assert.equal(item.content.length, open.parts)
        } else if (item.type === "reasoning") {
          assert.equal(item.summary.map((part) => part.text).join(""), open.text)
        } else if (open.item.type === "function_call") {
          assert.equal(item.call_id, open.item.call_id)
          assert.equal(item.name, open.item.name)
          assert.doesNotThrow(() => JSON.parse(item.arguments), "a call's arguments are JSON")
        }
        if (item.type !== "reasoning") assert.notEqual(item.status, "in_progress", "a done item is not in progress")
        items.push(item)
        open = null
        break
      }
      case "response.completed":
      case "response.incomplete":
      case "response.failed":
        assert.equal(open, null, `${event.type} while an item is open`)
        decodeResponse(event.response)
        assert.equal(event.response.id, created.response.id, "one response id throughout")
        assert.deepEqual(event.response.output, items, "the terminal response lists the closed items")
        assert.equal(event.response.status, event.type.slice("response.".length))
        if (event.type === "response.failed") assert.ok(event.response.error !== null, "a failed response has an error")
        else assert.ok(event.response.usage !== null, "a finished response has usage")
        terminal = event
        break
      default:
        assert.fail(`unexpected event ${event.type}`)
    }
  }
  assert.ok(terminal !== null, "the stream has a terminal event")
  return { events, items, terminal }
}
