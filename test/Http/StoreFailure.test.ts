/**
 * Every turn ends for its reader when the event log cannot be written. The gateway's own
 * SQLite connection is made to refuse writes mid-turn (`PRAGMA query_only`, SQLite's own
 * read-only error) or to run out of space (`PRAGMA max_page_count`, SQLite's own "database or
 * disk is full"), with the stand-in CLI streaming a slow answer; then writes are allowed again.
 * The client must get an error (not wait forever), `/health` must say why, running turns must
 * be right, and the session must carry on, its log consistent, without a restart.
 */
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type Gateway, startGateway } from "../support/Gateway.js"

/** SQLite's driver, as a second connection to the gateway's file (another process, as far as locks go). */
const Database = createRequire(import.meta.url)("better-sqlite3") as new(path: string) => {
  readonly exec: (statement: string) => void
  readonly close: () => void
}

interface Health {
  readonly status: string
  readonly database: { readonly reachable: boolean; readonly writable: boolean }
  readonly turns: { readonly running: number }
  readonly error?: string
}

interface StoredEventBody {
  readonly sequence: number
  readonly type: string
  readonly data: { readonly turnId?: string }
}

let gateway: Gateway

beforeEach(async () => {
  gateway = await startGateway({ maxWarmProcesses: 2 })
})

afterEach(async () => {
  await gateway.sql("PRAGMA query_only = 0")
  await gateway.close()
})

const chat = (body: Record<string, unknown>) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-sonnet-4-5", ...body })
  })

const health = async (): Promise<{ readonly status: number; readonly body: Health }> => {
  const response = await fetch(`${gateway.url}/health`)
  return { status: response.status, body: (await response.json()) as Health }
}

/** Polls `check` until it holds, for at most `seconds`. */
const eventually = async (check: () => Promise<boolean>, seconds = 15) => {
  const deadline = Date.now() + seconds * 1000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time")
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const sessionEvents = async (sessionId: string): Promise<ReadonlyArray<StoredEventBody>> => {
  const response = await fetch(`${gateway.url}/v1/sessions/${sessionId}/events?limit=1000`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { readonly data: ReadonlyArray<StoredEventBody> }).data
}

/** Every turn in the log has exactly one end, after its start. */
const expectConsistent = (events: ReadonlyArray<StoredEventBody>) => {
  const open = new Set<string>()
  for (const event of events) {
    const turnId = event.data.turnId
    if (event.type === "TurnStarted") open.add(turnId!)
    if (["TurnCompleted", "TurnFailed", "TurnCancelled"].includes(event.type)) {
      expect(open.delete(turnId!)).toBe(true)
    }
  }
  expect([...open]).toEqual([])
}

/** Reads an SSE body until `until` holds for the text so far (or the body ends). */
const readUntil = async (reader: ReadableStreamDefaultReader<Uint8Array>, until: (text: string) => boolean) => {
  const decoder = new TextDecoder()
  let text = ""
  while (!until(text)) {
    const { done, value } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  return text
}

describe("when the event log cannot be written", () => {
  it("a streamed turn ends with an error event then [DONE]; health says why; the session carries on once writes are back", async () => {
    const response = await chat({ stream: true, messages: [{ role: "user", content: "FAKE_SLOW count" }] })
    expect(response.status).toBe(200)
    const sessionId = response.headers.get("x-session-id")!
    const reader = response.body!.getReader()
    const before = await readUntil(reader, (text) => text.includes("w1 "))
    expect(before).toContain("w1 ")

    await gateway.sql("PRAGMA query_only = 1")
    const rest = await readUntil(reader, () => false)
    const frames = rest.split("\n\n").filter((frame) => frame.startsWith("data: "))
    expect(frames.at(-1)).toBe("data: [DONE]")
    const error = JSON.parse(frames.at(-2)!.slice("data: ".length)) as { readonly error: { readonly code: string } }
    expect(error.error.code).toBe("storage_unavailable")
    // The answer was cut short: the stand-in writes 30 words.
    expect(rest).not.toContain("w30 ")

    const down = await health()
    expect(down.status).toBe(503)
    expect(down.body.database).toEqual({ reachable: true, writable: false })
    expect(down.body.error).toContain("read-only")
    expect(down.body.turns.running).toBe(0)

    // A new turn cannot be recorded either: refused at once, nothing started.
    const refused = await chat({ messages: [{ role: "user", content: "hello" }] })
    expect(refused.status).toBe(503)
    expect(refused.headers.get("retry-after")).toBe("5")
    expect(((await refused.json()) as { readonly error: { readonly code: string } }).error.code).toBe(
      "storage_unavailable"
    )

    // The session waits for the log, not for a turn: its requests are told so at once.
    const sameSession = await chat({ session_id: sessionId, messages: [{ role: "user", content: "again" }] })
    expect(sameSession.status).toBe(503)
    const close = await fetch(`${gateway.url}/v1/sessions/${sessionId}`, { method: "DELETE" })
    expect(close.status).toBe(503)

    await gateway.sql("PRAGMA query_only = 0")
    await eventually(async () => (await health()).status === 200)
    // The lost end is recorded once the log takes writes, without a restart.
    await eventually(async () => (await sessionEvents(sessionId)).some((event) => event.type === "TurnFailed"))

    const next = await chat({ session_id: sessionId, messages: [{ role: "user", content: "and now?" }] })
    expect(next.status).toBe(200)
    const events = await sessionEvents(sessionId)
    expectConsistent(events)
    expect(events.filter((event) => event.type === "TurnCompleted")).toHaveLength(1)
  })

  it("a JSON turn answers 503 storage_unavailable instead of waiting forever", async () => {
    const pending = chat({ messages: [{ role: "user", content: "FAKE_SLOW count" }] })
    await eventually(async () => (await health()).body.turns.running === 1)
    await gateway.sql("PRAGMA query_only = 1")

    const response = await pending
    expect(response.status).toBe(503)
    const body = (await response.json()) as { readonly error: { readonly code: string; readonly message: string } }
    expect(body.error.code).toBe("storage_unavailable")
    expect(body.error.message).not.toMatch(/sqlite|\/tmp|query_only/i)
    expect((await health()).body.turns.running).toBe(0)

    await gateway.sql("PRAGMA query_only = 0")
    await eventually(async () => (await health()).status === 200)
  })

  it("a database another process keeps locked fails the turn's writes instead of stalling the gateway", async () => {
    const response = await chat({ stream: true, messages: [{ role: "user", content: "FAKE_SLOW count" }] })
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    await readUntil(reader, (text) => text.includes("w1 "))

    const other = new Database(gateway.databasePath)
    try {
      other.exec("BEGIN IMMEDIATE")
      const rest = await readUntil(reader, () => false)
      const frames = rest.split("\n\n").filter((frame) => frame.startsWith("data: "))
      expect(frames.at(-1)).toBe("data: [DONE]")
      expect(frames.at(-2)).toContain("storage_unavailable")
      const down = await health()
      expect(down.status).toBe(503)
      expect(down.body.error).toContain("locked")
    } finally {
      other.exec("ROLLBACK")
      other.close()
    }
    await eventually(async () => (await health()).status === 200)
  })

  it("a database file removed under the running gateway makes /health unhealthy", async () => {
    expect((await health()).status).toBe(200)
    NodeFs.renameSync(gateway.databasePath, `${gateway.databasePath}.moved`)
    try {
      const down = await health()
      expect(down.status).toBe(503)
      expect(down.body.database.writable).toBe(false)
      expect(down.body.error).toContain("removed or replaced")
    } finally {
      NodeFs.renameSync(`${gateway.databasePath}.moved`, gateway.databasePath)
    }
    expect((await health()).status).toBe(200)
  })

  it("a full disk mid-stream ends the answer with an error, and the log stays consistent once space returns", async () => {
    const response = await chat({ stream: true, messages: [{ role: "user", content: "FAKE_SLOW count" }] })
    expect(response.status).toBe(200)
    const sessionId = response.headers.get("x-session-id")!
    const reader = response.body!.getReader()
    await readUntil(reader, (text) => text.includes("w1 "))

    // No more pages than the file has, and its free pages used up: the next page the log needs is refused.
    await gateway.sql("CREATE TABLE filler (data BLOB)")
    const [pages] = (await gateway.sql("PRAGMA page_count")) as Array<{ readonly page_count: number }>
    await gateway.sql(`PRAGMA max_page_count = ${pages!.page_count}`)
    for (let i = 0; i < 10_000; i++) {
      const full = await gateway.sql("INSERT INTO filler VALUES (zeroblob(512))").then(() => false, () => true)
      if (full) break
    }

    const rest = await readUntil(reader, () => false)
    const frames = rest.split("\n\n").filter((frame) => frame.startsWith("data: "))
    expect(frames.at(-1)).toBe("data: [DONE]")
    expect(frames.at(-2)).toContain("\"error\"")
    expect(rest).not.toContain("w30 ")

    await gateway.sql("PRAGMA max_page_count = 1073741823")
    await eventually(async () => (await health()).status === 200)
    const next = await chat({ session_id: sessionId, messages: [{ role: "user", content: "still there?" }] })
    expect(next.status).toBe(200)
    expectConsistent(await sessionEvents(sessionId))
  })
})
