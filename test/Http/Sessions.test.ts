/**
 * Sessions over HTTP, end to end with the fake CLI: multi-turn conversations by
 * `session_id` (on the session's warm process, or resumed after it idled out), stateless
 * clients recognised by the history they resend, the sessions API (create, list, stats,
 * one session's totals, its messages, its raw events as JSON pages or SSE, the chunk
 * replay of a streamed turn, close and purge), and the running-turn controls: busy
 * sessions, status, cancellation, the global turn limit and the turn timeout.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Gateway, startGateway, tempDirectory } from "../support/Gateway.js"

// ---------------------------------------------------------------------------
// Helpers

interface ErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

interface Completion {
  readonly id: string
  readonly object: string
  readonly model: string
  readonly session_id: string
  readonly project_id: string
  readonly choices: ReadonlyArray<
    { readonly message: { readonly role: string; readonly content: string }; readonly finish_reason: string }
  >
  readonly usage: {
    readonly prompt_tokens: number
    readonly completion_tokens: number
    readonly total_tokens: number
    readonly prompt_tokens_details: { readonly cached_tokens: number }
    readonly cost_usd: number | null
  }
}

interface SessionBody {
  readonly id: string
  readonly object: "session"
  readonly project_id: string
  readonly created_at: number
  readonly updated_at: number
  readonly status: "running" | "idle" | "closed"
  readonly model: string | null
  readonly turn_count: number
  readonly completed_turns: number
  readonly total_tokens: number
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly cached_tokens: number
  readonly total_cost_usd: number
  readonly warm: boolean
  readonly last_event_id: number
}

interface SessionListBody {
  readonly object: "list"
  readonly data: ReadonlyArray<SessionBody>
  readonly total: number
  readonly limit: number
  readonly offset: number
  readonly has_more: boolean
}

interface StatsBody {
  readonly object: "session.stats"
  readonly total_sessions: number
  readonly active_sessions: number
  readonly closed_sessions: number
  readonly running_turns: number
  readonly warm_processes: number
  readonly total_turns: number
  readonly completed_turns: number
  readonly failed_turns: number
  readonly cancelled_turns: number
  readonly total_tokens: number
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_cost_usd: number
}

interface EventJson {
  readonly id: number
  readonly type: string
  readonly created_at: number
  readonly data: Record<string, unknown> & { readonly _tag: string }
}

interface EventPageBody {
  readonly object: "list"
  readonly session_id: string
  readonly data: ReadonlyArray<EventJson>
  readonly has_more: boolean
  readonly last_event_id: number
}

interface StatusBody {
  readonly session_id: string
  readonly object: "chat.completion.status"
  readonly status: "running" | "idle" | "closed"
  readonly is_running: boolean
  readonly turn_id: string | null
  readonly started_at: number | null
  readonly project_id: string
  readonly warm: boolean
}

interface LogRow {
  readonly sequence: number
  readonly type: string
  readonly data: string
}

/** A session's log, in order, read on the gateway's own database connection. */
const logOf = (gateway: Gateway, sessionId: string): Promise<ReadonlyArray<LogRow>> =>
  gateway.query((sql) =>
    sql<LogRow>`SELECT sequence, type, data FROM session_events WHERE session_id = ${sessionId} ORDER BY sequence`
  )

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls until `f` returns a value (not undefined) or the deadline passes. */
const eventually = async <A>(
  f: () => Promise<A | undefined> | A | undefined,
  timeoutMs = 10_000,
  intervalMs = 25
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await f()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(intervalMs)
  }
}

const request = (
  gateway: Gateway,
  method: string,
  path: string,
  options: { readonly body?: unknown; readonly headers?: Record<string, string>; readonly signal?: AbortSignal } = {}
) =>
  fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      authorization: "Bearer test",
      ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
      ...options.headers
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {})
  })

/** A JSON response with the expected status. */
const json = async <A>(response: Response | Promise<Response>, status = 200): Promise<A> => {
  const answer = await response
  const text = await answer.text()
  expect(answer.status, text).toBe(status)
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/)
  return JSON.parse(text) as A
}

const getJson = <A>(gateway: Gateway, path: string, status = 200) => json<A>(request(gateway, "GET", path), status)

/** Asserts an OpenAI error envelope with exactly its four fields. */
const expectEnvelope = async (
  response: Response | Promise<Response>,
  status: number,
  expected: { readonly code?: string | null; readonly param?: string | null; readonly type?: string } = {}
): Promise<ErrorBody["error"]> => {
  const body = await json<ErrorBody>(response, status)
  expect(Object.keys(body)).toEqual(["error"])
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"])
  expect(body.error.message.length).toBeGreaterThan(0)
  if (expected.code !== undefined) expect(body.error.code).toBe(expected.code)
  if (expected.param !== undefined) expect(body.error.param).toBe(expected.param)
  if (expected.type !== undefined) expect(body.error.type).toBe(expected.type)
  return body.error
}

const chatRequest = (gateway: Gateway, body: Record<string, unknown>, signal?: AbortSignal) =>
  request(gateway, "POST", "/v1/chat/completions", {
    body: { model: "sonnet", ...body },
    ...(signal !== undefined ? { signal } : {})
  })

/** One user message, optionally continuing a session. */
const say = (gateway: Gateway, text: string, sessionId?: string) =>
  json<Completion>(
    chatRequest(gateway, {
      messages: [{ role: "user", content: text }],
      ...(sessionId !== undefined ? { session_id: sessionId } : {})
    })
  )

const contentOf = (completion: Completion) => completion.choices[0]!.message.content

const createSession = (gateway: Gateway, body: Record<string, unknown> = {}) =>
  json<SessionBody>(request(gateway, "POST", "/v1/sessions", { body }), 201)

const sessionOf = (gateway: Gateway, sessionId: string) => getJson<SessionBody>(gateway, `/v1/sessions/${sessionId}`)
const statusOf = (gateway: Gateway, sessionId: string) =>
  getJson<StatusBody>(gateway, `/v1/chat/completions/${sessionId}/status`)

/** Waits until the session runs a turn. */
const runningStatus = (gateway: Gateway, sessionId: string) =>
  eventually(async () => {
    const status = await statusOf(gateway, sessionId)
    return status.is_running ? status : undefined
  })

/** An SSE body being read, frame by frame. */
interface SseReader {
  readonly text: () => string
  /** Reads until `until(text)` holds (or throws after `ms`). */
  readonly readUntil: (until: (text: string) => boolean, ms?: number) => Promise<string>
  /** Reads to the end of the body. */
  readonly readToEnd: (ms?: number) => Promise<string>
  readonly close: () => Promise<void>
}

const sseReader = (response: Response, controller: AbortController): SseReader => {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ""
  let done = false
  const step = async (deadline: number): Promise<void> => {
    const result = await Promise.race([
      reader.read(),
      sleep(Math.max(1, deadline - Date.now())).then(() => "timeout" as const)
    ])
    if (result === "timeout") throw new Error(`SSE body did not get there in time; got:\n${text}`)
    if (result.done) {
      done = true
      return
    }
    text += decoder.decode(result.value, { stream: true })
  }
  return {
    text: () => text,
    readUntil: async (until, ms = 10_000) => {
      const deadline = Date.now() + ms
      while (!until(text)) {
        if (done) throw new Error(`SSE body ended early; got:\n${text}`)
        await step(deadline)
      }
      return text
    },
    readToEnd: async (ms = 10_000) => {
      const deadline = Date.now() + ms
      while (!done) await step(deadline)
      return text
    },
    close: async () => {
      controller.abort()
      await reader.cancel().catch(() => undefined)
    }
  }
}

const openSse = async (gateway: Gateway, path: string, headers: Record<string, string> = {}) => {
  const controller = new AbortController()
  const response = await request(gateway, "GET", path, { headers, signal: controller.signal })
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
  return sseReader(response, controller)
}

interface SseFrame {
  readonly id: number | null
  readonly event: string | null
  readonly data: string
}

/** The frames of an SSE body (comments skipped; an unfinished last frame ignored). */
const framesOf = (body: string): ReadonlyArray<SseFrame> => {
  const complete = body.slice(0, body.lastIndexOf("\n\n") + 2)
  const frames: Array<SseFrame> = []
  for (const block of complete.split("\n\n")) {
    const lines = block.split("\n").filter((line) => line.length > 0 && !line.startsWith(":"))
    if (lines.length === 0) continue
    let id: number | null = null
    let event: string | null = null
    const data: Array<string> = []
    for (const line of lines) {
      if (line.startsWith("id: ")) id = Number(line.slice(4))
      else if (line.startsWith("event: ")) event = line.slice(7)
      else if (line.startsWith("data: ")) data.push(line.slice(6))
      else throw new Error(`unexpected SSE line ${JSON.stringify(line)}`)
    }
    frames.push({ id, event, data: data.join("\n") })
  }
  return frames
}

/** The `data:` lines of an SSE body, in order. */
const dataLinesOf = (body: string) => body.split("\n").filter((line) => line.startsWith("data: "))

const terminalTypes = ["TurnCompleted", "TurnFailed", "TurnCancelled"]

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)

const SONNET = "claude-sonnet-4-5-20250929"

// ---------------------------------------------------------------------------
// Conversations and the sessions API

describe("sessions over HTTP", () => {
  let gateway: Gateway
  let stateDir: string
  beforeAll(async () => {
    stateDir = tempDirectory("cca-fake-state-")
    gateway = await startGateway({ cliEnv: { FAKE_CLAUDE_STATE_DIR: stateDir, FAKE_CLAUDE_DELAY_MS: "100" } })
  })
  afterAll(async () => {
    await gateway?.close()
    NodeFs.rmSync(stateDir, { recursive: true, force: true })
  })

  /** A session with two completed turns, shared by the read-model tests below. */
  let sessionId: string
  let turns: Array<Completion> = []

  it("continues a session by session_id on its warm process", async () => {
    const first = await say(gateway, "first")
    expect(contentOf(first)).toBe("Echo: first [turn=1]")
    sessionId = first.session_id
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/)

    const afterFirst = await sessionOf(gateway, sessionId)
    expect(afterFirst.warm).toBe(true)
    expect(afterFirst.status).toBe("idle")
    expect((await statusOf(gateway, sessionId)).warm).toBe(true)

    const response = await chatRequest(gateway, {
      session_id: sessionId,
      messages: [{ role: "user", content: "second" }]
    })
    expect(response.headers.get("x-session-id")).toBe(sessionId)
    const second = await json<Completion>(response)
    expect(contentOf(second)).toBe("Echo: second [turn=2]")
    expect(second.session_id).toBe(sessionId)
    expect(second.project_id).toBe("default")
    expect((await sessionOf(gateway, sessionId)).warm).toBe(true)
    turns = [first, second]
  })

  it("GET /v1/sessions/{id}: token and cost totals are the sum of the turns' usage", async () => {
    const session = await sessionOf(gateway, sessionId)
    const prompt = sum(turns.map((turn) => turn.usage.prompt_tokens))
    const completion = sum(turns.map((turn) => turn.usage.completion_tokens))
    expect(prompt).toBe(300)
    expect(session).toEqual({
      id: sessionId,
      object: "session",
      project_id: "default",
      created_at: expect.any(Number),
      updated_at: expect.any(Number),
      status: "idle",
      model: SONNET,
      turn_count: 2,
      completed_turns: 2,
      total_tokens: prompt + completion,
      prompt_tokens: prompt,
      completion_tokens: completion,
      cached_tokens: 60,
      total_cost_usd: expect.closeTo(0.0246, 10),
      warm: true,
      last_event_id: (await logOf(gateway, sessionId)).length,
      // The original project's fields, alongside.
      title: `Session ${sessionId.slice(0, 8)}`,
      is_active: true,
      system_prompt: null,
      message_count: 4,
      total_cost: expect.closeTo(0.0246, 10)
    })
    expect(session.updated_at).toBeGreaterThanOrEqual(session.created_at)
    expect(Math.abs(session.created_at - Date.now() / 1000)).toBeLessThan(60)
  })

  it("GET /v1/sessions/{id}/messages is the conversation as OpenAI messages", async () => {
    const body = await getJson<{ object: string; session_id: string; data: ReadonlyArray<unknown> }>(
      gateway,
      `/v1/sessions/${sessionId}/messages`
    )
    expect(body).toEqual({
      object: "list",
      session_id: sessionId,
      data: [
        { role: "user", content: "first" },
        { role: "assistant", content: "Echo: first [turn=1]" },
        { role: "user", content: "second" },
        { role: "assistant", content: "Echo: second [turn=2]" }
      ]
    })
  })

  it("GET /v1/sessions/{id}/events pages the raw events as JSON", async () => {
    const log = await logOf(gateway, sessionId)
    const all = await getJson<EventPageBody>(gateway, `/v1/sessions/${sessionId}/events`)
    expect(all.object).toBe("list")
    expect(all.session_id).toBe(sessionId)
    expect(all.has_more).toBe(false)
    expect(all.data.map((event) => event.id)).toEqual(log.map((row) => row.sequence))
    expect(all.data.map((event) => event.type)).toEqual(log.map((row) => row.type))
    expect(all.last_event_id).toBe(log.length)
    expect(all.data[0]!.type).toBe("SessionCreated")
    expect(all.data[0]!.data).toMatchObject({ _tag: "SessionCreated", projectId: "default" })
    for (const event of all.data) {
      expect(event.data._tag).toBe(event.type)
      expect(event.created_at).toBeGreaterThan(0)
      expect(Object.keys(event).sort()).toEqual(["created_at", "data", "id", "timestamp_ms", "type"])
      // Unix seconds like every other resource; the millisecond time rides along.
      expect(event.created_at).toBe(Math.floor((event as unknown as { timestamp_ms: number }).timestamp_ms / 1000))
    }

    const first = await getJson<EventPageBody>(gateway, `/v1/sessions/${sessionId}/events?limit=3`)
    expect(first.data.map((event) => event.id)).toEqual([1, 2, 3])
    expect(first.has_more).toBe(true)
    expect(first.last_event_id).toBe(3)

    const next = await getJson<EventPageBody>(
      gateway,
      `/v1/sessions/${sessionId}/events?after=${first.last_event_id}&limit=1000`
    )
    expect(next.data.map((event) => event.id)).toEqual(log.slice(3).map((row) => row.sequence))
    expect(next.has_more).toBe(false)
    expect(next.last_event_id).toBe(log.length)

    // Exactly one page left: no more after it.
    const exact = await getJson<EventPageBody>(
      gateway,
      `/v1/sessions/${sessionId}/events?after=${log.length - 2}&limit=2`
    )
    expect(exact.data.map((event) => event.id)).toEqual([log.length - 1, log.length])
    expect(exact.has_more).toBe(false)

    const past = await getJson<EventPageBody>(gateway, `/v1/sessions/${sessionId}/events?after=${log.length}`)
    expect(past.data).toEqual([])
    expect(past.has_more).toBe(false)
    expect(past.last_event_id).toBe(log.length)

    await expectEnvelope(request(gateway, "GET", `/v1/sessions/${sessionId}/events?limit=0`), 400)
    await expectEnvelope(request(gateway, "GET", `/v1/sessions/${sessionId}/events?after=-1`), 400)
  })

  it("GET /v1/sessions/{id}/events streams SSE frames with id = sequence (stream=true and Accept)", async () => {
    const log = await logOf(gateway, sessionId)
    const complete = (text: string) => framesOf(text).length >= log.length

    const viaParam = await openSse(gateway, `/v1/sessions/${sessionId}/events?stream=true`)
    const byParam = framesOf(await viaParam.readUntil(complete))
    await viaParam.close()
    expect(byParam.map((frame) => frame.id)).toEqual(log.map((row) => row.sequence))
    expect(byParam.map((frame) => frame.event)).toEqual(log.map((row) => row.type))
    for (const frame of byParam) {
      const event = JSON.parse(frame.data) as EventJson
      expect(event.id).toBe(frame.id)
      expect(event.type).toBe(frame.event)
      expect(event.data._tag).toBe(frame.event)
    }

    const viaAccept = await openSse(gateway, `/v1/sessions/${sessionId}/events`, { accept: "text/event-stream" })
    const byAccept = framesOf(await viaAccept.readUntil(complete))
    await viaAccept.close()
    expect(byAccept.map((frame) => frame.id)).toEqual(log.map((row) => row.sequence))

    // `after` skips what the client has.
    const viaAfter = await openSse(gateway, `/v1/sessions/${sessionId}/events?stream=true&after=4`)
    const byAfter = framesOf(await viaAfter.readUntil((text) => framesOf(text).length >= log.length - 4))
    await viaAfter.close()
    expect(byAfter.map((frame) => frame.id)).toEqual(log.slice(4).map((row) => row.sequence))
  })

  it("resumes an SSE event stream after Last-Event-ID", async () => {
    const log = await logOf(gateway, sessionId)
    const resumed = await openSse(gateway, `/v1/sessions/${sessionId}/events?stream=true`, { "last-event-id": "3" })
    const frames = framesOf(await resumed.readUntil((text) => framesOf(text).length >= log.length - 3))
    await resumed.close()
    expect(frames[0]!.id).toBe(4)
    expect(frames.map((frame) => frame.id)).toEqual(log.slice(3).map((row) => row.sequence))
  })

  it("answers an SSE event request at once, even when there is nothing to replay yet", async () => {
    // A client following a quiet session must get its 200 and headers before the next
    // event (or keep-alive, 15 s by default) arrives.
    const after = (await logOf(gateway, sessionId)).length
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 2_000)
    try {
      const response = await request(gateway, "GET", `/v1/sessions/${sessionId}/events?stream=true&after=${after}`, {
        signal: controller.signal
      }).catch((error: unknown) => {
        throw new Error(`no response headers within 2 s (${String(error)})`)
      })
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
      expect(response.headers.get("cache-control")).toBe("no-cache")
    } finally {
      clearTimeout(timer)
      controller.abort()
    }
  })

  it("follows a session live: a reader sees a new turn from TurnStarted to TurnCompleted", async () => {
    const before = (await logOf(gateway, sessionId)).length
    const controller = new AbortController()
    // The reader subscribes first; the headers may only come with the first event.
    const pending = request(gateway, "GET", `/v1/sessions/${sessionId}/events?stream=true&after=${before}`, {
      signal: controller.signal
    })
    pending.catch(() => undefined)
    await sleep(150)
    const third = await say(gateway, "third", sessionId)
    expect(contentOf(third)).toBe("Echo: third [turn=3]")
    const response = await pending
    expect(response.status).toBe(200)
    const live = sseReader(response, controller)
    try {
      const frames = framesOf(
        await live.readUntil((text) => framesOf(text).some((frame) => frame.event === "TurnCompleted"))
      )
      const types = frames.map((frame) => frame.event)
      expect(types[0]).toBe("TurnStarted")
      expect(types[1]).toBe("TurnAttached")
      expect(types[types.length - 1]).toBe("TurnCompleted")
      expect(types.slice(2, -1).every((type) => type === "TextDelta")).toBe(true)
      expect(frames.map((frame) => frame.id)).toEqual(frames.map((_, index) => before + index + 1))
      const text = frames
        .filter((frame) => frame.event === "TextDelta")
        .map((frame) => (JSON.parse(frame.data) as EventJson).data["text"])
        .join("")
      expect(text).toBe("Echo: third [turn=3]")

      // Still following: the next turn shows up on the same stream.
      const fourth = await say(gateway, "fourth", sessionId)
      expect(contentOf(fourth)).toBe("Echo: fourth [turn=4]")
      const more = framesOf(
        await live.readUntil((body) => framesOf(body).filter((frame) => frame.event === "TurnCompleted").length === 2)
      )
      expect(more.filter((frame) => frame.event === "TurnStarted")).toHaveLength(2)
      expect(more.map((frame) => frame.id)).toEqual(more.map((_, index) => before + index + 1))
    } finally {
      await live.close()
    }
  })

  it("replays a streamed turn as exactly the chunk data lines it sent (format=chunks&turn_id)", async () => {
    const response = await chatRequest(gateway, {
      messages: [{ role: "user", content: "say QQQ for me" }],
      stream: true,
      stream_options: { include_usage: true },
      stop: ["QQQ"]
    })
    expect(response.status).toBe(200)
    const streamed = await response.text()
    const replaySession = response.headers.get("x-session-id")!
    const sent = dataLinesOf(streamed)
    expect(sent[sent.length - 1]).toBe("data: [DONE]")
    // The stop sequence cut the echo, and the usage chunk is there.
    const chunks = sent.slice(0, -1).map((line) =>
      JSON.parse(line.slice(6)) as { choices: ReadonlyArray<{ delta: { content?: string } }>; usage?: unknown }
    )
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("Echo: say ")
    expect(chunks[chunks.length - 1]!.choices).toEqual([])
    expect(chunks[chunks.length - 1]!.usage).toBeDefined()

    const events = await getJson<EventPageBody>(gateway, `/v1/sessions/${replaySession}/events`)
    const turnId = events.data.find((event) => event.type === "TurnStarted")!.data["turnId"] as string

    const replay = await openSse(
      gateway,
      `/v1/sessions/${replaySession}/events?stream=true&format=chunks&turn_id=${turnId}`
    )
    const replayed = await replay.readToEnd()
    await replay.close()
    expect(dataLinesOf(replayed)).toEqual(sent)
    // Every replayed frame names the sequence of the event that produced it.
    const frames = framesOf(replayed)
    expect(frames.length).toBe(sent.length)
    const ids = frames.map((frame) => frame.id!)
    expect(ids.every((id) => Number.isInteger(id) && id >= 2 && id <= events.last_event_id)).toBe(true)
    expect([...ids].sort((a, b) => a - b)).toEqual(ids)

    // Through Accept as well.
    const viaAccept = await openSse(gateway, `/v1/sessions/${replaySession}/events?format=chunks&turn_id=${turnId}`, {
      accept: "text/event-stream"
    })
    expect(dataLinesOf(await viaAccept.readToEnd())).toEqual(sent)
    await viaAccept.close()
  })

  it("continues the session of a stateless client that resends the whole history", async () => {
    const first = await say(gateway, "stateless one")
    expect(contentOf(first)).toBe("Echo: stateless one [turn=1]")
    const second = await json<Completion>(chatRequest(gateway, {
      messages: [
        { role: "user", content: "stateless one" },
        { role: "assistant", content: contentOf(first) },
        { role: "user", content: "stateless two" }
      ]
    }))
    expect(second.session_id).toBe(first.session_id)
    expect(contentOf(second)).toBe("Echo: stateless two [turn=2]")
    // Only the new message was added to the session.
    const messages = await getJson<{ data: ReadonlyArray<{ role: string; content: string }> }>(
      gateway,
      `/v1/sessions/${first.session_id}/messages`
    )
    expect(messages.data.map((message) => message.content)).toEqual([
      "stateless one",
      "Echo: stateless one [turn=1]",
      "stateless two",
      "Echo: stateless two [turn=2]"
    ])
  })

  it("POST /v1/sessions creates an empty session that a chat request continues", async () => {
    const created = await createSession(gateway)
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      object: "session",
      project_id: "default",
      created_at: expect.any(Number),
      updated_at: expect.any(Number),
      status: "idle",
      model: null,
      turn_count: 0,
      completed_turns: 0,
      total_tokens: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cached_tokens: 0,
      total_cost_usd: 0,
      warm: false,
      last_event_id: 1,
      title: expect.stringMatching(/^Session [0-9a-f-]{8}$/),
      is_active: true,
      system_prompt: null,
      message_count: 0,
      total_cost: 0
    })
    const answer = await say(gateway, "into the new session", created.id)
    expect(answer.session_id).toBe(created.id)
    expect(contentOf(answer)).toBe("Echo: into the new session [turn=1]")
    const after = await sessionOf(gateway, created.id)
    expect(after.turn_count).toBe(1)
    expect(after.completed_turns).toBe(1)
    expect(after.prompt_tokens).toBe(150)

    const inProject = await createSession(gateway, { project_id: "elsewhere" })
    expect(inProject.project_id).toBe("elsewhere")
    expect(NodeFs.statSync(NodePath.join(gateway.projectRoot, "elsewhere")).isDirectory()).toBe(true)
    await expectEnvelope(request(gateway, "POST", "/v1/sessions", { body: { project_id: "../escape" } }), 400, {
      param: "project_id"
    })
  })

  it("GET /v1/sessions pages sessions (limit, offset, has_more, total) and filters by project_id", async () => {
    const ids: Array<string> = []
    for (let index = 0; index < 3; index++) {
      ids.push((await createSession(gateway, { project_id: "paging" })).id)
      await sleep(5)
    }
    const newestFirst = [...ids].reverse()

    const first = await getJson<SessionListBody>(gateway, "/v1/sessions?project_id=paging&limit=2")
    expect(first.object).toBe("list")
    expect(first.data.map((session) => session.id)).toEqual(newestFirst.slice(0, 2))
    expect(first).toMatchObject({ total: 3, limit: 2, offset: 0, has_more: true })
    expect(first.data.every((session) => session.project_id === "paging" && session.object === "session")).toBe(true)

    const second = await getJson<SessionListBody>(gateway, "/v1/sessions?project_id=paging&limit=2&offset=2")
    expect(second.data.map((session) => session.id)).toEqual(newestFirst.slice(2))
    expect(second).toMatchObject({ total: 3, limit: 2, offset: 2, has_more: false })

    const none = await getJson<SessionListBody>(gateway, "/v1/sessions?project_id=no-such-project")
    expect(none).toMatchObject({ data: [], total: 0, has_more: false })

    // Unfiltered: every session, most recently active first, default limit 20.
    const all = await getJson<SessionListBody>(gateway, "/v1/sessions")
    expect(all.limit).toBe(20)
    expect(all.offset).toBe(0)
    expect(all.total).toBeGreaterThanOrEqual(3 + 1)
    expect(all.data.slice(0, 3).map((session) => session.id)).toEqual(newestFirst)
    expect(all.data.map((session) => session.id)).toContain(sessionId)
    const updated = all.data.map((session) => session.updated_at)
    expect([...updated].sort((a, b) => b - a)).toEqual(updated)

    await expectEnvelope(request(gateway, "GET", "/v1/sessions?limit=0"), 400)
    await expectEnvelope(request(gateway, "GET", "/v1/sessions?limit=101"), 400)
    await expectEnvelope(request(gateway, "GET", "/v1/sessions?offset=-1"), 400)
  })

  it("GET /v1/sessions still reports the total on a page past the last session", async () => {
    const filtered = await getJson<SessionListBody>(gateway, "/v1/sessions?project_id=paging")
    expect(filtered.total).toBe(3)
    const beyond = await getJson<SessionListBody>(gateway, "/v1/sessions?project_id=paging&offset=10")
    expect(beyond.data).toEqual([])
    expect(beyond).toMatchObject({ total: 3, limit: 20, offset: 10, has_more: false })
    const all = await getJson<SessionListBody>(gateway, "/v1/sessions?limit=1")
    const allBeyond = await getJson<SessionListBody>(gateway, `/v1/sessions?offset=${all.total}`)
    expect(allBeyond.data).toEqual([])
    expect(allBeyond.total).toBe(all.total)
  })

  it("GET /v1/sessions/stats totals the log", async () => {
    const before = await getJson<StatsBody>(gateway, "/v1/sessions/stats")
    expect(before.object).toBe("session.stats")
    expect(before.active_sessions).toBe(before.total_sessions - before.closed_sessions)
    expect(before.total_tokens).toBe(before.prompt_tokens + before.completion_tokens)
    expect(before.running_turns).toBe(0)
    expect(before.warm_processes).toBeGreaterThan(0)

    const answer = await say(gateway, "count me")
    const after = await getJson<StatsBody>(gateway, "/v1/sessions/stats")
    expect(after.total_sessions).toBe(before.total_sessions + 1)
    expect(after.active_sessions).toBe(before.active_sessions + 1)
    expect(after.closed_sessions).toBe(before.closed_sessions)
    expect(after.total_turns).toBe(before.total_turns + 1)
    expect(after.completed_turns).toBe(before.completed_turns + 1)
    expect(after.failed_turns).toBe(before.failed_turns)
    expect(after.cancelled_turns).toBe(before.cancelled_turns)
    expect(after.prompt_tokens).toBe(before.prompt_tokens + 150)
    expect(after.completion_tokens).toBe(before.completion_tokens + answer.usage.completion_tokens)
    expect(after.total_tokens).toBe(before.total_tokens + answer.usage.total_tokens)
    expect(after.total_cost_usd).toBeCloseTo(before.total_cost_usd + 0.0123, 10)

    // The totals agree with the per-session read model.
    const all = await getJson<SessionListBody>(gateway, "/v1/sessions?limit=100")
    expect(all.total).toBe(after.total_sessions)
    expect(sum(all.data.map((session) => session.prompt_tokens))).toBe(after.prompt_tokens)
    expect(sum(all.data.map((session) => session.turn_count))).toBe(after.total_turns)
  })

  it("DELETE /v1/sessions/{id} closes a session: it keeps its history and takes no more turns", async () => {
    const answer = await say(gateway, "soon closed")
    const id = answer.session_id
    const statsBefore = await getJson<StatsBody>(gateway, "/v1/sessions/stats")
    expect(await json(request(gateway, "DELETE", `/v1/sessions/${id}`))).toEqual({
      id,
      object: "session",
      deleted: true,
      purged: false,
      session_id: id,
      status: "deleted"
    })
    const closed = await sessionOf(gateway, id)
    expect(closed.status).toBe("closed")
    expect(closed.warm).toBe(false)
    expect(closed.turn_count).toBe(1)
    expect((await statusOf(gateway, id)).status).toBe("closed")
    expect((await logOf(gateway, id)).at(-1)!.type).toBe("SessionClosed")
    const statsAfter = await getJson<StatsBody>(gateway, "/v1/sessions/stats")
    expect(statsAfter.closed_sessions).toBe(statsBefore.closed_sessions + 1)
    expect(statsAfter.active_sessions).toBe(statsBefore.active_sessions - 1)

    await expectEnvelope(
      chatRequest(gateway, { session_id: id, messages: [{ role: "user", content: "are you there" }] }),
      409,
      { code: "session_closed", param: "session_id", type: "invalid_request_error" }
    )
    // The history is still readable.
    const messages = await getJson<{ data: ReadonlyArray<unknown> }>(gateway, `/v1/sessions/${id}/messages`)
    expect(messages.data).toHaveLength(2)

    // Closing twice is harmless and records nothing more.
    const length = (await logOf(gateway, id)).length
    await json(request(gateway, "DELETE", `/v1/sessions/${id}`))
    expect(await logOf(gateway, id)).toHaveLength(length)

    // A stateless client resending that history starts a new session instead.
    const resent = await json<Completion>(chatRequest(gateway, {
      messages: [
        { role: "user", content: "soon closed" },
        { role: "assistant", content: contentOf(answer) },
        { role: "user", content: "again" }
      ]
    }))
    expect(resent.session_id).not.toBe(id)
  })

  it("DELETE /v1/sessions/{id}?purge=true deletes the session's history", async () => {
    const answer = await say(gateway, "purge me")
    const id = answer.session_id
    expect(await json(request(gateway, "DELETE", `/v1/sessions/${id}?purge=true`))).toEqual({
      id,
      object: "session",
      deleted: true,
      purged: true,
      session_id: id,
      status: "deleted"
    })
    expect(await logOf(gateway, id)).toEqual([])
    await expectEnvelope(request(gateway, "GET", `/v1/sessions/${id}`), 404, {
      code: "session_not_found",
      param: "session_id"
    })
    await expectEnvelope(request(gateway, "GET", `/v1/sessions/${id}/messages`), 404, { code: "session_not_found" })
    const list = await getJson<SessionListBody>(gateway, "/v1/sessions?limit=100")
    expect(list.data.map((session) => session.id)).not.toContain(id)
  })

  it("answers an unknown session id with a 404 envelope on every session route", async () => {
    const unknown = "00000000-0000-4000-8000-000000000000"
    const expectNotFound = (response: Promise<Response>) =>
      expectEnvelope(response, 404, { code: "session_not_found", param: "session_id", type: "invalid_request_error" })
    await expectNotFound(request(gateway, "GET", `/v1/sessions/${unknown}`))
    await expectNotFound(request(gateway, "DELETE", `/v1/sessions/${unknown}`))
    await expectNotFound(request(gateway, "DELETE", `/v1/sessions/${unknown}?purge=true`))
    await expectNotFound(request(gateway, "GET", `/v1/sessions/${unknown}/messages`))
    await expectNotFound(request(gateway, "GET", `/v1/sessions/${unknown}/events`))
    await expectNotFound(request(gateway, "GET", `/v1/sessions/${unknown}/events?stream=true`))
    await expectNotFound(
      request(gateway, "GET", `/v1/sessions/${unknown}/events`, { headers: { accept: "text/event-stream" } })
    )
    await expectNotFound(
      request(gateway, "GET", `/v1/sessions/${unknown}/events?stream=true&format=chunks&turn_id=turn_x`)
    )
    await expectNotFound(request(gateway, "GET", `/v1/chat/completions/${unknown}/status`))
    await expectNotFound(request(gateway, "DELETE", `/v1/chat/completions/${unknown}`))
    await expectNotFound(chatRequest(gateway, { session_id: unknown, messages: [{ role: "user", content: "hello?" }] }))
    // Nothing was created for it.
    expect(await logOf(gateway, unknown)).toEqual([])
  })

  it("a busy session refuses a second turn (409); status shows the turn; DELETE cancels it", async () => {
    const { id } = await createSession(gateway)
    const slow = chatRequest(gateway, { session_id: id, messages: [{ role: "user", content: "FAKE_SLOW please" }] })
    const status = await runningStatus(gateway, id)
    expect(status).toEqual({
      session_id: id,
      object: "chat.completion.status",
      status: "running",
      is_running: true,
      turn_id: expect.stringMatching(/^turn_[0-9a-f]{32}$/),
      started_at: expect.any(Number),
      project_id: "default",
      warm: expect.any(Boolean),
      model: null,
      created_at: expect.any(Number),
      updated_at: expect.any(Number),
      total_tokens: 0,
      total_cost: 0,
      message_count: 0
    })
    expect(Math.abs(status.started_at! - Date.now() / 1000)).toBeLessThan(60)
    expect((await sessionOf(gateway, id)).status).toBe("running")
    const started = (await logOf(gateway, id)).find((row) => row.type === "TurnStarted")!
    expect((JSON.parse(started.data) as { turnId: string }).turnId).toBe(status.turn_id)

    await expectEnvelope(
      chatRequest(gateway, { session_id: id, messages: [{ role: "user", content: "me too" }] }),
      409,
      { code: "session_busy", param: "session_id", type: "invalid_request_error" }
    )
    expect((await getJson<StatsBody>(gateway, "/v1/sessions/stats")).running_turns).toBe(1)

    expect(await json(request(gateway, "DELETE", `/v1/chat/completions/${id}`))).toEqual({
      session_id: id,
      object: "chat.completion.cancellation",
      cancelled: true,
      status: "cancelled"
    })
    // The cancellation is recorded by the time DELETE answers.
    const log = await logOf(gateway, id)
    const last = log[log.length - 1]!
    expect(last.type).toBe("TurnCancelled")
    expect(JSON.parse(last.data)).toMatchObject({ _tag: "TurnCancelled", turnId: status.turn_id, reason: "client" })
    expect(log.filter((row) => terminalTypes.includes(row.type))).toHaveLength(1)

    // The waiting request learns that its turn was cancelled.
    await expectEnvelope(slow, 409, { code: "turn_cancelled" })

    const after = await statusOf(gateway, id)
    expect(after).toMatchObject({ is_running: false, status: "idle", turn_id: null, started_at: null })
    expect(await json(request(gateway, "DELETE", `/v1/chat/completions/${id}`))).toEqual({
      session_id: id,
      object: "chat.completion.cancellation",
      cancelled: false,
      status: "not_running"
    })

    // The session takes turns again.
    const next = await say(gateway, "after the cancel", id)
    expect(next.session_id).toBe(id)
    expect(contentOf(next)).toMatch(/^Echo: after the cancel \[turn=\d+\]$/)
  })
})

// ---------------------------------------------------------------------------
// Idle processes

describe("idle sessions (sessionIdleSeconds: 1)", () => {
  let gateway: Gateway
  let stateDir: string
  beforeAll(async () => {
    stateDir = tempDirectory("cca-fake-state-")
    gateway = await startGateway({ sessionIdleSeconds: 1, cliEnv: { FAKE_CLAUDE_STATE_DIR: stateDir } })
  })
  afterAll(async () => {
    await gateway?.close()
    NodeFs.rmSync(stateDir, { recursive: true, force: true })
  })

  it("stops an idle process and resumes the conversation on a new one", async () => {
    const first = await say(gateway, "warm up")
    const id = first.session_id
    expect(contentOf(first)).toBe("Echo: warm up [turn=1]")
    expect((await sessionOf(gateway, id)).warm).toBe(true)

    // Still warm: the next turn runs on the same process, started without --resume.
    const echo = await say(gateway, "FAKE_ECHO_ARGS warm", id)
    const warmArgs = JSON.parse(contentOf(echo)) as { argv: ReadonlyArray<string> }
    expect(warmArgs.argv).not.toContain("--resume")

    await sleep(1_500)
    const idle = await eventually(async () => {
      const session = await sessionOf(gateway, id)
      return session.warm ? undefined : session
    }, 3_000)
    expect(idle.status).toBe("idle")
    expect((await statusOf(gateway, id)).warm).toBe(false)

    // The next turn resumes the CLI session on a new process, which keeps counting.
    const resumed = await say(gateway, "FAKE_ECHO_ARGS cold", id)
    const coldArgs = JSON.parse(contentOf(resumed)) as { argv: ReadonlyArray<string> }
    const cliSessionId =
      (JSON.parse((await logOf(gateway, id)).filter((row) => row.type === "TurnCompleted")[1]!.data) as {
        cliSessionId: string
      }).cliSessionId
    expect(coldArgs.argv).toContain("--resume")
    expect(coldArgs.argv[coldArgs.argv.indexOf("--resume") + 1]).toBe(cliSessionId)
    expect((await sessionOf(gateway, id)).warm).toBe(true)

    const fourth = await say(gateway, "still here", id)
    expect(contentOf(fourth)).toBe("Echo: still here [turn=4]")
    expect(fourth.session_id).toBe(id)
  })
})

// ---------------------------------------------------------------------------
// Limits

describe("the global turn limit (maxConcurrentTurns: 1, queueTimeoutSeconds: 0)", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({
      maxConcurrentTurns: 1,
      queueTimeoutSeconds: 0,
      cliEnv: { FAKE_CLAUDE_DELAY_MS: "100" }
    })
  })
  afterAll(() => gateway?.close())

  it("answers 429 too_many_running_turns with retry-after while another session runs a turn", async () => {
    const { id } = await createSession(gateway)
    const slow = chatRequest(gateway, {
      session_id: id,
      messages: [{ role: "user", content: "FAKE_SLOW hold the slot" }]
    })
    await runningStatus(gateway, id)

    const refused = await chatRequest(gateway, { messages: [{ role: "user", content: "a new session" }] })
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
    await expectEnvelope(refused, 429, { code: "too_many_running_turns", type: "rate_limit_error" })

    const other = await createSession(gateway)
    const refusedToo = await chatRequest(gateway, {
      session_id: other.id,
      messages: [{ role: "user", content: "me neither" }]
    })
    expect(refusedToo.headers.get("retry-after")).toMatch(/^\d+$/)
    await expectEnvelope(refusedToo, 429, { code: "too_many_running_turns" })
    // The refused request left no turn behind.
    expect((await logOf(gateway, other.id)).map((row) => row.type)).toEqual(["SessionCreated"])
    expect((await statusOf(gateway, other.id)).is_running).toBe(false)

    expect((await json<{ cancelled: boolean }>(request(gateway, "DELETE", `/v1/chat/completions/${id}`))).cancelled)
      .toBe(true)
    await expectEnvelope(slow, 409, { code: "turn_cancelled" })

    // The slot is free again.
    const answer = await say(gateway, "now there is room", other.id)
    expect(contentOf(answer)).toBe("Echo: now there is room [turn=1]")
  })
})

describe("the turn timeout (turnTimeoutSeconds: 1)", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ turnTimeoutSeconds: 1, cliEnv: { FAKE_CLAUDE_DELAY_MS: "100" } })
  })
  afterAll(() => gateway?.close())

  it("cancels a turn that runs too long (TurnCancelled timeout) and answers 504 turn_timeout", async () => {
    const { id } = await createSession(gateway)
    const startedAt = Date.now()
    await expectEnvelope(
      chatRequest(gateway, { session_id: id, messages: [{ role: "user", content: "FAKE_SLOW forever" }] }),
      504,
      { code: "turn_timeout", type: "server_error" }
    )
    const elapsed = Date.now() - startedAt
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(elapsed).toBeLessThan(5_000)
    const log = await eventually(async () => {
      const rows = await logOf(gateway, id)
      return terminalTypes.includes(rows.at(-1)?.type ?? "") ? rows : undefined
    })
    expect(JSON.parse(log.at(-1)!.data)).toMatchObject({ _tag: "TurnCancelled", reason: "timeout" })
    // Fewer than the 30 words of the whole answer were produced.
    expect(log.filter((row) => row.type === "TextDelta").length).toBeLessThan(30)
    expect((await statusOf(gateway, id)).is_running).toBe(false)
  })
})
