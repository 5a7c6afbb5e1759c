/**
 * Seed parity: the original project's extension APIs (see reference/seed/api-shapes.md)
 * answered in the seed's shape, route by route, by a real gateway running the fake CLI.
 * Each test holds the seed's field names and value types; the gateway's own fields may
 * sit alongside them and are not checked here (their own suites do that).
 *
 * Deliberate differences from the seed, asserted in our form: timestamps are Unix seconds
 * (numbers), validation errors are 400 with OpenAI's envelope, the default project is
 * `default`, a project's id is a slug of its name, and `POST /v1/sessions` answers 201.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Gateway, startGateway } from "../support/Gateway.js"

// ---------------------------------------------------------------------------
// Helpers

interface ErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly code: string | null }
}

/** The seed's `SessionInfo`. */
interface SessionInfo {
  readonly id: string
  readonly project_id: string
  readonly title: string
  readonly model: string | null
  readonly system_prompt: string | null
  readonly created_at: number
  readonly updated_at: number
  readonly is_active: boolean
  readonly total_tokens: number
  readonly total_cost: number
  readonly message_count: number
}

/** The seed's `ProjectInfo`. */
interface ProjectInfo {
  readonly id: string
  readonly name: string
  readonly description: string | null
  readonly path: string
  readonly created_at: number
  readonly updated_at: number
  readonly is_active: boolean
}

interface Pagination {
  readonly page: number
  readonly per_page: number
  readonly total_items: number
  readonly total_pages: number
  readonly has_next: boolean
  readonly has_prev: boolean
}

interface Page<A> {
  readonly data: ReadonlyArray<A>
  readonly pagination: Pagination
}

interface Completion {
  readonly session_id: string
  readonly project_id: string
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }>
}

interface EchoedArgs {
  readonly argv: ReadonlyArray<string>
  readonly initialize: { readonly appendSystemPrompt?: string; readonly systemPrompt?: string } | null
  readonly cwd: string
}

const HAIKU = "claude-haiku-4-5-20251001"
const SONNET = "claude-sonnet-4-5-20250929"

const packageVersion = (JSON.parse(
  NodeFs.readFileSync(NodePath.resolve(import.meta.dirname, "..", "..", "package.json"), "utf8")
) as { readonly version: string }).version

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const request = (
  gateway: Gateway,
  method: string,
  path: string,
  options: { readonly body?: unknown; readonly signal?: AbortSignal } = {}
) =>
  fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      authorization: "Bearer test",
      ...(options.body !== undefined ? { "content-type": "application/json" } : {})
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

/** An error answer with OpenAI's envelope; returns its `error`. */
const expectError = async (response: Response | Promise<Response>, status: number, code?: string) => {
  const body = await json<ErrorBody>(response, status)
  expect(typeof body.error.message).toBe("string")
  expect(typeof body.error.type).toBe("string")
  if (code !== undefined) expect(body.error.code).toBe(code)
  return body.error
}

/** A Unix timestamp in seconds, close to now (not an ISO string, not milliseconds). */
const expectUnixSeconds = (value: unknown) => {
  expect(typeof value).toBe("number")
  expect(Number.isInteger(value)).toBe(true)
  expect(Math.abs((value as number) - Date.now() / 1000)).toBeLessThan(120)
}

/** Every field of the seed's `SessionInfo`, with its type. */
const expectSessionInfo = (body: SessionInfo) => {
  expect(typeof body.id).toBe("string")
  expect(typeof body.project_id).toBe("string")
  expect(typeof body.title).toBe("string")
  expect(body.model === null || typeof body.model === "string").toBe(true)
  expect(body.system_prompt === null || typeof body.system_prompt === "string").toBe(true)
  expectUnixSeconds(body.created_at)
  expectUnixSeconds(body.updated_at)
  expect(body.updated_at).toBeGreaterThanOrEqual(body.created_at)
  expect(typeof body.is_active).toBe("boolean")
  expect(typeof body.total_tokens).toBe("number")
  expect(typeof body.total_cost).toBe("number")
  expect(typeof body.message_count).toBe("number")
}

/** Every field of the seed's `ProjectInfo`, with its type. */
const expectProjectInfo = (body: ProjectInfo) => {
  expect(typeof body.id).toBe("string")
  expect(typeof body.name).toBe("string")
  expect(body.description === null || typeof body.description === "string").toBe(true)
  expect(typeof body.path).toBe("string")
  expectUnixSeconds(body.created_at)
  expectUnixSeconds(body.updated_at)
  expect(typeof body.is_active).toBe("boolean")
}

/** The seed's `pagination` object, exactly. */
const expectPagination = (body: { readonly pagination: Pagination }, expected: Pagination) => {
  expect(body.pagination).toEqual(expected)
}

const createSession = (gateway: Gateway, body: Record<string, unknown>) =>
  json<SessionInfo>(request(gateway, "POST", "/v1/sessions", { body }), 201)

const sessionInfo = (gateway: Gateway, id: string) => getJson<SessionInfo>(gateway, `/v1/sessions/${id}`)

const chat = (gateway: Gateway, body: Record<string, unknown>, signal?: AbortSignal) =>
  request(gateway, "POST", "/v1/chat/completions", { body, ...(signal !== undefined ? { signal } : {}) })

const say = (gateway: Gateway, body: Record<string, unknown>) => json<Completion>(chat(gateway, body))

const contentOf = (completion: Completion) => completion.choices[0]!.message.content

/** A turn that echoes the CLI's argv (the fake CLI's FAKE_ECHO_ARGS). */
const echoedArgs = async (gateway: Gateway, body: Record<string, unknown>): Promise<EchoedArgs> => {
  const completion = await say(gateway, { messages: [{ role: "user", content: "FAKE_ECHO_ARGS" }], ...body })
  return JSON.parse(contentOf(completion)) as EchoedArgs
}

/** The value after `flag` in argv, or undefined when the flag is absent. */
const flagValue = (argv: ReadonlyArray<string>, flag: string) => {
  const index = argv.indexOf(flag)
  return index < 0 ? undefined : argv[index + 1]
}

/** Reads a streamed body until `until(text)` holds or it ends (throws after `ms`). */
const readUntil = async (
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (text: string) => boolean,
  ms = 10_000
) => {
  const decoder = new TextDecoder()
  const deadline = Date.now() + ms
  let text = ""
  while (!until(text)) {
    const result = await Promise.race([
      reader.read(),
      sleep(Math.max(1, deadline - Date.now())).then(() => "timeout" as const)
    ])
    if (result === "timeout") throw new Error(`stream did not get there in time; got:\n${text}`)
    if (result.done) return { text, done: true }
    text += decoder.decode(result.value, { stream: true })
  }
  return { text, done: false }
}

/** The JSON payloads of an SSE body's `data:` lines (`[DONE]` left out). */
const ssePayloads = (body: string): ReadonlyArray<Record<string, unknown>> =>
  body.split("\n")
    .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)

const unknownSession = "00000000-0000-4000-8000-000000000000"

// ---------------------------------------------------------------------------
// Sessions

describe("seed parity: /v1/sessions", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(() => gateway?.close())

  /** A session created with every seed field, shared by the tests below. */
  let configured: SessionInfo

  it("POST /v1/sessions {project_id, title, model, system_prompt} answers a SessionInfo (201)", async () => {
    configured = await createSession(gateway, {
      project_id: "seed-sessions",
      title: "Parity session",
      model: HAIKU,
      system_prompt: "You are terse."
    })
    expectSessionInfo(configured)
    expect(configured).toMatchObject({
      project_id: "seed-sessions",
      title: "Parity session",
      model: HAIKU,
      system_prompt: "You are terse.",
      is_active: true,
      total_tokens: 0,
      total_cost: 0,
      message_count: 0
    })
  })

  it("POST /v1/sessions without a title: \"Session <first 8 chars of id>\"", async () => {
    const session = await createSession(gateway, { project_id: "seed-sessions" })
    expectSessionInfo(session)
    expect(session.title).toBe(`Session ${session.id.slice(0, 8)}`)
    expect(session).toMatchObject({ project_id: "seed-sessions", model: null, system_prompt: null })
  })

  it("turns on the session use its model and system prompt (--model, and the appended prompt in initialize); totals grow", async () => {
    const echoed = await echoedArgs(gateway, { session_id: configured.id })
    expect(flagValue(echoed.argv, "--model")).toBe(HAIKU)
    expect(echoed.initialize?.appendSystemPrompt).toBe("You are terse.")
    expect(echoed.cwd).toBe(NodePath.join(gateway.projectRoot, "seed-sessions"))

    const afterOne = await sessionInfo(gateway, configured.id)
    expectSessionInfo(afterOne)
    expect(afterOne.message_count).toBe(2)
    expect(afterOne.total_tokens).toBeGreaterThan(0)
    expect(afterOne.total_cost).toBeGreaterThan(0)

    const second = await say(gateway, { session_id: configured.id, messages: [{ role: "user", content: "again" }] })
    expect(contentOf(second)).toBe("Echo: again [turn=2]")
    const afterTwo = await sessionInfo(gateway, configured.id)
    expect(afterTwo.message_count).toBe(4)
    expect(afterTwo.total_tokens).toBeGreaterThan(afterOne.total_tokens)
    expect(afterTwo.total_cost).toBeGreaterThan(afterOne.total_cost)
    expect(afterTwo).toMatchObject({ title: "Parity session", system_prompt: "You are terse.", is_active: true })
  })

  it("the request's own model and system message win over the session's", async () => {
    const session = await createSession(gateway, {
      project_id: "seed-sessions",
      model: HAIKU,
      system_prompt: "session prompt"
    })
    const echoed = await echoedArgs(gateway, {
      session_id: session.id,
      model: "sonnet",
      messages: [{ role: "system", content: "request prompt" }, { role: "user", content: "FAKE_ECHO_ARGS" }]
    })
    expect(flagValue(echoed.argv, "--model")).toBe(SONNET)
    expect(echoed.initialize?.appendSystemPrompt).toBe("request prompt")

    // The request's `system_prompt` extension also wins over the session's.
    const other = await createSession(gateway, { project_id: "seed-sessions", system_prompt: "session prompt" })
    const viaField = await echoedArgs(gateway, { session_id: other.id, system_prompt: "field prompt" })
    expect(viaField.initialize?.appendSystemPrompt).toBe("field prompt")
  })

  it("GET /v1/sessions?page&per_page&project_id pages with the seed's pagination object", async () => {
    const created: Array<string> = []
    for (let i = 0; i < 5; i++) {
      created.push((await createSession(gateway, { project_id: "seed-paging", title: `paged ${i}` })).id)
      await sleep(5)
    }
    const pageOf = (query: string) => getJson<Page<SessionInfo>>(gateway, `/v1/sessions?${query}`)

    const first = await pageOf("page=1&per_page=2&project_id=seed-paging")
    expect(first.data).toHaveLength(2)
    first.data.forEach(expectSessionInfo)
    expectPagination(first, { page: 1, per_page: 2, total_items: 5, total_pages: 3, has_next: true, has_prev: false })

    const second = await pageOf("page=2&per_page=2&project_id=seed-paging")
    expect(second.data).toHaveLength(2)
    expectPagination(second, { page: 2, per_page: 2, total_items: 5, total_pages: 3, has_next: true, has_prev: true })
    const firstIds = first.data.map((session) => session.id)
    const secondIds = second.data.map((session) => session.id)
    expect(secondIds.some((id) => firstIds.includes(id))).toBe(false)

    const third = await pageOf("page=3&per_page=2&project_id=seed-paging")
    expect(third.data).toHaveLength(1)
    expectPagination(third, { page: 3, per_page: 2, total_items: 5, total_pages: 3, has_next: false, has_prev: true })

    // Together the pages are the project's sessions, and nothing else.
    const all = [...firstIds, ...secondIds, ...third.data.map((session) => session.id)]
    expect([...all].sort()).toEqual([...created].sort())
    expect([...first.data, ...second.data, ...third.data].every((s) => s.project_id === "seed-paging")).toBe(true)

    // The seed's default page size is 20.
    const defaults = await pageOf("project_id=seed-paging")
    expectPagination(defaults, {
      page: 1,
      per_page: 20,
      total_items: 5,
      total_pages: 1,
      has_next: false,
      has_prev: false
    })
  })

  it("GET /v1/sessions: per_page outside 1-100 is a 400 (OpenAI's envelope)", async () => {
    for (const query of ["per_page=0", "per_page=101", "page=0", "per_page=abc"]) {
      const error = await expectError(request(gateway, "GET", `/v1/sessions?${query}`), 400)
      expect(error.type).toBe("invalid_request_error")
    }
  })

  it("GET /v1/sessions: our limit/offset still work, and also answer a pagination object", async () => {
    const byPage = await getJson<Page<SessionInfo>>(gateway, "/v1/sessions?project_id=seed-paging&page=2&per_page=2")
    const byOffset = await getJson<Page<SessionInfo> & { total: number; limit: number; offset: number }>(
      gateway,
      "/v1/sessions?project_id=seed-paging&limit=2&offset=2"
    )
    expect(byOffset).toMatchObject({ total: 5, limit: 2, offset: 2 })
    expect(byOffset.data.map((session) => session.id)).toEqual(byPage.data.map((session) => session.id))
    expectPagination(byOffset, { page: 2, per_page: 2, total_items: 5, total_pages: 3, has_next: true, has_prev: true })
  })

  it("GET /v1/sessions/{id} answers a SessionInfo; an unknown id is 404 session_not_found", async () => {
    const session = await sessionInfo(gateway, configured.id)
    expectSessionInfo(session)
    expect(session).toMatchObject({ id: configured.id, title: "Parity session", model: HAIKU })
    await expectError(request(gateway, "GET", `/v1/sessions/${unknownSession}`), 404, "session_not_found")
  })

  it("GET /v1/sessions/stats: session_stats, active_claude_sessions, claude_sessions", async () => {
    const stats = await getJson<{
      session_stats: Record<string, unknown>
      active_claude_sessions: number
      claude_sessions: ReadonlyArray<string>
    }>(gateway, "/v1/sessions/stats")
    expect(typeof stats.session_stats).toBe("object")
    expect(stats.session_stats).not.toBeNull()
    expect(Array.isArray(stats.session_stats)).toBe(false)
    expect(typeof stats.active_claude_sessions).toBe("number")
    expect(Array.isArray(stats.claude_sessions)).toBe(true)
    expect(stats.claude_sessions.every((id) => typeof id === "string")).toBe(true)
    // The session that took turns keeps a live (warm) CLI process; a session that never ran has none.
    expect(stats.claude_sessions).toContain(configured.id)
    expect(stats.active_claude_sessions).toBeGreaterThanOrEqual(stats.claude_sessions.length)
    const paged = await getJson<Page<SessionInfo>>(gateway, "/v1/sessions?project_id=seed-paging")
    for (const session of paged.data) expect(stats.claude_sessions).not.toContain(session.id)
  })

  it("DELETE /v1/sessions/{id} answers {session_id, status: \"deleted\"} and stops its CLI process", async () => {
    const deleted = await json<{ session_id: string; status: string }>(
      request(gateway, "DELETE", `/v1/sessions/${configured.id}`)
    )
    expect(deleted).toMatchObject({ session_id: configured.id, status: "deleted" })
    const stats = await getJson<{ claude_sessions: ReadonlyArray<string> }>(gateway, "/v1/sessions/stats")
    expect(stats.claude_sessions).not.toContain(configured.id)
    await expectError(request(gateway, "DELETE", `/v1/sessions/${unknownSession}`), 404, "session_not_found")
  })
})

// ---------------------------------------------------------------------------
// Chat extensions

describe("seed parity: chat completions extensions", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ cliEnv: { FAKE_CLAUDE_DELAY_MS: "200" } })
  })
  afterAll(() => gateway?.close())

  it("system_prompt reaches the CLI when the request has no system message; a system message wins", async () => {
    const viaField = await echoedArgs(gateway, { system_prompt: "from the field" })
    expect(viaField.initialize?.appendSystemPrompt).toBe("from the field")

    const both = await echoedArgs(gateway, {
      system_prompt: "from the field",
      messages: [{ role: "system", content: "from a message" }, { role: "user", content: "FAKE_ECHO_ARGS" }]
    })
    expect(both.initialize?.appendSystemPrompt).toBe("from a message")
  })

  it("JSON answers carry session_id/project_id and the X-Session-ID/X-Project-ID headers", async () => {
    const response = await chat(gateway, { messages: [{ role: "user", content: "hello" }] })
    const sessionId = response.headers.get("x-session-id")
    expect(response.headers.get("x-project-id")).toBe("default")
    const body = await json<Completion>(response)
    expect(contentOf(body)).toBe("Echo: hello [turn=1]")
    expect(body.session_id).toBe(sessionId)
    expect(typeof body.session_id).toBe("string")
    expect(body.project_id).toBe("default")

    // With project_id and session_id in the request.
    const inProject = await chat(gateway, { project_id: "seed-chat", messages: [{ role: "user", content: "one" }] })
    expect(inProject.headers.get("x-project-id")).toBe("seed-chat")
    const first = await json<Completion>(inProject)
    expect(first.project_id).toBe("seed-chat")
    const next = await chat(gateway, { session_id: first.session_id, messages: [{ role: "user", content: "two" }] })
    expect(next.headers.get("x-session-id")).toBe(first.session_id)
    expect(next.headers.get("x-project-id")).toBe("seed-chat")
    expect(await json<Completion>(next)).toMatchObject({ session_id: first.session_id, project_id: "seed-chat" })
  })

  it("streamed answers carry the X-Session-ID/X-Project-ID headers", async () => {
    const response = await chat(gateway, {
      stream: true,
      project_id: "seed-chat",
      messages: [{ role: "user", content: "streamed" }]
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const sessionId = response.headers.get("x-session-id")
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/)
    expect(response.headers.get("x-project-id")).toBe("seed-chat")
    const body = await response.text()
    expect(body.trimEnd().endsWith("data: [DONE]")).toBe(true)
    const text = ssePayloads(body)
      .map((chunk) => (chunk.choices as ReadonlyArray<{ delta: { content?: string } }>)[0]?.delta.content ?? "")
      .join("")
    expect(text).toBe("Echo: streamed [turn=1]")
    expect((await sessionInfo(gateway, sessionId!)).project_id).toBe("seed-chat")
  })

  it("GET /v1/chat/completions/{id}/status has the seed's fields; unknown is 404 session_not_found", async () => {
    const session = await createSession(gateway, { project_id: "seed-chat", model: HAIKU })
    await say(gateway, { session_id: session.id, messages: [{ role: "user", content: "status please" }] })
    const status = await getJson<Record<string, unknown>>(gateway, `/v1/chat/completions/${session.id}/status`)
    expect(status).toMatchObject({
      session_id: session.id,
      project_id: "seed-chat",
      model: HAIKU,
      is_running: false,
      message_count: 2
    })
    expectUnixSeconds(status.created_at)
    expectUnixSeconds(status.updated_at)
    expect(typeof status.total_tokens).toBe("number")
    expect(status.total_tokens as number).toBeGreaterThan(0)
    expect(typeof status.total_cost).toBe("number")
    expect(status.total_cost as number).toBeGreaterThan(0)
    await expectError(
      request(gateway, "GET", `/v1/chat/completions/${unknownSession}/status`),
      404,
      "session_not_found"
    )
  })

  it("DELETE /v1/chat/completions/{id} stops the session's running turn", async () => {
    const session = await createSession(gateway, { project_id: "seed-chat" })
    const controller = new AbortController()
    const response = await chat(gateway, {
      session_id: session.id,
      stream: true,
      messages: [{ role: "user", content: "FAKE_SLOW take your time" }]
    }, controller.signal)
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    try {
      // The first content chunk: the turn is under way.
      await readUntil(reader, (text) => text.includes("\"content\":\"w1 \""))
      const running = await getJson<{ is_running: boolean }>(gateway, `/v1/chat/completions/${session.id}/status`)
      expect(running.is_running).toBe(true)

      const stopped = await json<Record<string, unknown>>(
        request(gateway, "DELETE", `/v1/chat/completions/${session.id}`)
      )
      // The seed answers {session_id, status: "stopped"}; ours says whether a turn was cancelled.
      expect(stopped).toMatchObject({ session_id: session.id, cancelled: true, status: "cancelled" })

      // The stream ends at once, long before the 30 slow words would have.
      const rest = await readUntil(reader, () => false, 5_000)
      expect(rest.done).toBe(true)
      expect(rest.text).not.toContain("w30")
      expect(rest.text.trimEnd().endsWith("data: [DONE]")).toBe(true)
      const after = await getJson<{ is_running: boolean }>(gateway, `/v1/chat/completions/${session.id}/status`)
      expect(after.is_running).toBe(false)
    } finally {
      controller.abort()
      await reader.cancel().catch(() => undefined)
    }
  })
})

// ---------------------------------------------------------------------------
// Projects

describe("seed parity: /v1/projects", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(() => gateway?.close())

  it("POST /v1/projects {name, description} answers a ProjectInfo whose id is a slug of the name", async () => {
    const project = await json<ProjectInfo>(
      request(gateway, "POST", "/v1/projects", { body: { name: "Seed Parity", description: "parity checks" } }),
      201
    )
    expectProjectInfo(project)
    expect(project).toMatchObject({
      id: "seed-parity",
      name: "Seed Parity",
      description: "parity checks",
      path: NodePath.join(gateway.projectRoot, "seed-parity"),
      is_active: true
    })
    expect(NodeFs.statSync(project.path).isDirectory()).toBe(true)
  })

  it("POST /v1/projects with a path under the project root; one outside it is a 400", async () => {
    const project = await json<ProjectInfo>(
      request(gateway, "POST", "/v1/projects", { body: { name: "Inside", path: "inside-dir" } }),
      201
    )
    expectProjectInfo(project)
    expect(project.path).toBe(NodePath.join(gateway.projectRoot, "inside-dir"))
    await expectError(request(gateway, "POST", "/v1/projects", { body: { name: "Escape", path: "../escape" } }), 400)
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "..", "escape"))).toBe(false)
    await expectError(request(gateway, "POST", "/v1/projects", { body: { name: "Abs", path: "/etc" } }), 400)
  })

  it("GET /v1/projects?page&per_page pages with the seed's pagination object", async () => {
    for (const name of ["Gamma", "Delta", "Epsilon"]) {
      await json(request(gateway, "POST", "/v1/projects", { body: { name } }), 201)
      await sleep(5)
    }
    const first = await getJson<Page<ProjectInfo>>(gateway, "/v1/projects?page=1&per_page=2")
    first.data.forEach(expectProjectInfo)
    expectPagination(first, { page: 1, per_page: 2, total_items: 5, total_pages: 3, has_next: true, has_prev: false })
    const second = await getJson<Page<ProjectInfo>>(gateway, "/v1/projects?page=2&per_page=2")
    expectPagination(second, { page: 2, per_page: 2, total_items: 5, total_pages: 3, has_next: true, has_prev: true })
    const firstIds = first.data.map((project) => project.id)
    expect(second.data).toHaveLength(2)
    expect(second.data.some((project) => firstIds.includes(project.id))).toBe(false)
    const third = await getJson<Page<ProjectInfo>>(gateway, "/v1/projects?page=3&per_page=2")
    expect(third.data).toHaveLength(1)
    expectPagination(third, { page: 3, per_page: 2, total_items: 5, total_pages: 3, has_next: false, has_prev: true })
    await expectError(request(gateway, "GET", "/v1/projects?per_page=101"), 400)
    await expectError(request(gateway, "GET", "/v1/projects?per_page=0"), 400)
  })

  it("GET /v1/projects/{id} answers a ProjectInfo; an unknown id is 404 project_not_found", async () => {
    const project = await getJson<ProjectInfo>(gateway, "/v1/projects/seed-parity")
    expectProjectInfo(project)
    expect(project).toMatchObject({ id: "seed-parity", name: "Seed Parity", description: "parity checks" })
    await expectError(request(gateway, "GET", "/v1/projects/no-such-project"), 404, "project_not_found")
  })

  it("DELETE /v1/projects/{id} answers {project_id, status: \"deleted\"}", async () => {
    const deleted = await json<{ project_id: string; status: string }>(
      request(gateway, "DELETE", "/v1/projects/seed-parity")
    )
    expect(deleted).toMatchObject({ project_id: "seed-parity", status: "deleted" })
    await expectError(request(gateway, "GET", "/v1/projects/seed-parity"), 404, "project_not_found")
    await expectError(request(gateway, "DELETE", "/v1/projects/seed-parity"), 404, "project_not_found")
  })

  it("POST /v1/projects accepts an absolute path directly under the root, naming the project's directory", async () => {
    const inside = NodePath.join(gateway.projectRoot, "absolute-inside")
    const project = await json<ProjectInfo>(
      request(gateway, "POST", "/v1/projects", { body: { name: "Absolute", path: inside } }),
      201
    )
    expect(project).toMatchObject({ id: "absolute-inside", name: "Absolute", path: inside })
  })

  // The seed accepts nested directories under the root; here every project is one directory
  // directly under it (README), so a nested path is refused, naming the field that was sent.
  it("POST /v1/projects refuses a nested path, naming `path`", async () => {
    const response = await request(gateway, "POST", "/v1/projects", { body: { name: "Nested", path: "team/nested" } })
    expect(response.status).toBe(400)
    const body = (await response.json()) as { error: { param: string | null; type: string } }
    expect(body.error).toMatchObject({ param: "path", type: "invalid_request_error" })
  })
})

// ---------------------------------------------------------------------------
// Service routes

describe("seed parity: service routes", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(() => gateway?.close())

  it("GET / answers name, version (package.json's), description, endpoints, docs, health", async () => {
    const root = await getJson<Record<string, unknown>>(gateway, "/")
    expect(typeof root.name).toBe("string")
    expect(root.version).toBe(packageVersion)
    expect(typeof root.description).toBe("string")
    expect(root.endpoints).toMatchObject({
      chat: "/v1/chat/completions",
      models: "/v1/models",
      projects: "/v1/projects",
      sessions: "/v1/sessions"
    })
    expect(root.docs).toBe("/docs")
    expect(root.health).toBe("/health")
  })

  it("GET /health: status \"healthy\", version, claude_version, active_sessions", async () => {
    const health = await getJson<Record<string, unknown>>(gateway, "/health")
    expect(health).toMatchObject({ status: "healthy", version: packageVersion })
    expect(health.claude_version).toMatch(/^2\.1\.197/)
    expect(typeof health.active_sessions).toBe("number")
  })

  it("GET /docs is Swagger UI", async () => {
    const response = await request(gateway, "GET", "/docs")
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/html/)
    expect(await response.text()).toMatch(/swagger/i)
  })

  it("GET /redoc is a ReDoc page over /openapi.json", async () => {
    const response = await request(gateway, "GET", "/redoc")
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/html/)
    const page = await response.text()
    expect(page).toMatch(/redoc/i)
    expect(page).toContain("/openapi.json")
  })

  it("GET /openapi.json documents the seed's fields", async () => {
    const document = await getJson<{
      paths: Record<string, Record<string, unknown>>
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> }
    }>(gateway, "/openapi.json")
    const propertiesOf = (name: string) => Object.keys(document.components.schemas[name]?.properties ?? {})
    expect(propertiesOf("Session")).toEqual(
      expect.arrayContaining([
        "id",
        "project_id",
        "title",
        "model",
        "system_prompt",
        "created_at",
        "updated_at",
        "is_active",
        "total_tokens",
        "total_cost",
        "message_count"
      ])
    )
    expect(propertiesOf("Project")).toEqual(
      expect.arrayContaining(["id", "name", "description", "path", "created_at", "updated_at", "is_active"])
    )
    expect(propertiesOf("SessionList")).toContain("pagination")
    expect(propertiesOf("ProjectList")).toContain("pagination")
    expect(propertiesOf("SessionStats")).toEqual(
      expect.arrayContaining(["session_stats", "active_claude_sessions", "claude_sessions"])
    )
    expect(propertiesOf("ChatCompletionRequest")).toEqual(
      expect.arrayContaining(["session_id", "project_id", "system_prompt"])
    )
    expect(document.paths["/v1/chat/completions/{session_id}/status"]).toHaveProperty("get")
    expect(document.paths["/v1/chat/completions/{session_id}"]).toHaveProperty("delete")
    expect(document.paths["/v1/sessions/stats"]).toHaveProperty("get")
  })
})

describe("seed parity: /health without the CLI", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ claudeBinary: "/nonexistent/claude" })
  })
  afterAll(() => gateway?.close())

  it("answers 503 {status: \"unhealthy\", error}", async () => {
    const health = await getJson<Record<string, unknown>>(gateway, "/health", 503)
    expect(health.status).toBe("unhealthy")
    expect(typeof health.error).toBe("string")
    expect((health.error as string).length).toBeGreaterThan(0)
    expect(health.version).toBe(packageVersion)
  })
})
