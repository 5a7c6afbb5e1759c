/**
 * API keys, per-key rate limiting, public paths and CORS at the HTTP edge, against the
 * full gateway. The openai SDK is the client where it applies; `fetch` shows raw
 * statuses and headers.
 */
import { Redacted } from "effect"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Gateway, startGateway } from "../support/Gateway.js"

const keys = [Redacted.make("k-one"), Redacted.make("k-two")]

const envelopeOf = async (response: Response) => {
  expect(response.headers.get("content-type")).toMatch(/application\/json/)
  return (await response.json()) as { error: { message: string; type: string; param: unknown; code: string | null } }
}

describe("authentication", () => {
  let gateway: Gateway

  beforeAll(async () => {
    // Rate limiting off here: the budget is exercised in its own suite.
    gateway = await startGateway({ requireAuth: true, apiKeys: keys, rateLimitPerMinute: 0 })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("refuses a request without a key with 401 invalid_api_key", async () => {
    const response = await fetch(`${gateway.baseURL}/models`)
    expect(response.status).toBe(401)
    const body = await envelopeOf(response)
    expect(body.error.code).toBe("invalid_api_key")
    expect(body.error.type).toBe("invalid_request_error")
    expect(body.error.param).toBeNull()
    expect(typeof body.error.message).toBe("string")
  })

  it("refuses a wrong key with 401 (SDK: AuthenticationError)", async () => {
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "k-wrong", maxRetries: 0 })
    const error = await client.models.list().then(() => null, (e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401)
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe("invalid_api_key")

    const raw = await fetch(`${gateway.baseURL}/models`, { headers: { authorization: "Bearer k-wrong" } })
    expect(raw.status).toBe(401)
    expect((await envelopeOf(raw)).error.code).toBe("invalid_api_key")
    const prefix = await fetch(`${gateway.baseURL}/models`, { headers: { "x-api-key": "k-on" } })
    expect(prefix.status).toBe(401)
  })

  it("accepts Authorization: Bearer with the first key", async () => {
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "k-one", maxRetries: 0 })
    const page = await client.models.list()
    expect(page.data.length).toBe(4)
    const raw = await fetch(`${gateway.baseURL}/models`, { headers: { authorization: "Bearer k-one" } })
    expect(raw.status).toBe(200)
  })

  it("accepts x-api-key with the second key", async () => {
    const response = await fetch(`${gateway.baseURL}/models`, { headers: { "x-api-key": "k-two" } })
    expect(response.status).toBe(200)
    expect(((await response.json()) as { object: string }).object).toBe("list")
  })

  it("guards the other API routes too", async () => {
    expect((await fetch(`${gateway.baseURL}/models/opus`)).status).toBe(401)
    expect((await fetch(`${gateway.baseURL}/models/capabilities`)).status).toBe(401)
    const chat = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "opus", messages: [{ role: "user", content: "hi" }] })
    })
    expect(chat.status).toBe(401)
    expect((await envelopeOf(chat)).error.code).toBe("invalid_api_key")
  })

  it.each(["/", "/health", "/docs", "/openapi.json"])("serves %s without a key", async (path) => {
    const response = await fetch(`${gateway.url}${path}`)
    expect(response.status).toBe(200)
    await response.arrayBuffer()
  })
})

describe("rate limiting", () => {
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway({ requireAuth: true, apiKeys: keys, rateLimitPerMinute: 60, rateLimitBurst: 2 })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("answers the third quick request of a key with 429 and Retry-After; other keys are unaffected", async () => {
    const get = (key: string) => fetch(`${gateway.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } })
    const first = await get("k-one")
    const second = await get("k-one")
    const third = await get("k-one")
    expect(first.status).toBe(200)
    expect(second.status).toBe(200)
    expect(third.status).toBe(429)
    const retryAfter = Number(third.headers.get("retry-after"))
    expect(Number.isFinite(retryAfter)).toBe(true)
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    const body = await envelopeOf(third)
    expect(body.error.type).toBe("rate_limit_error")
    expect(body.error.code).toBe("rate_limit_exceeded")

    const other = await fetch(`${gateway.baseURL}/models`, { headers: { "x-api-key": "k-two" } })
    expect(other.status).toBe(200)

    // The SDK sees a RateLimitError (no retries, so no waiting).
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "k-one", maxRetries: 0 })
    await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.RateLimitError)
  })

  it("does not spend the budget on public paths", async () => {
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${gateway.url}/health`, { headers: { "x-api-key": "k-two" } })
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
  })
})

describe("auth off (the default)", () => {
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("needs no key", async () => {
    const response = await fetch(`${gateway.baseURL}/models`)
    expect(response.status).toBe(200)
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "anything", maxRetries: 0 })
    expect((await client.models.list()).data.length).toBe(4)
  })

  it("does not rate-limit anonymous callers", async () => {
    for (let i = 0; i < 15; i++) {
      const response = await fetch(`${gateway.baseURL}/models`)
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
  })
})

describe("CORS", () => {
  const origin = "http://localhost:8000"
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway({ requireAuth: true, apiKeys: keys, corsOrigins: [origin] })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  const requestedHeaders = ["authorization", "content-type", "x-stainless-os", "x-stainless-retry-count"]

  const preflight = (from: string) =>
    fetch(`${gateway.baseURL}/chat/completions`, {
      method: "OPTIONS",
      headers: {
        origin: from,
        "access-control-request-method": "POST",
        "access-control-request-headers": requestedHeaders.join(", ")
      }
    })

  it("answers a preflight from an allowed origin, without an API key, echoing the requested headers", async () => {
    const response = await preflight(origin)
    expect(response.status).toBeGreaterThanOrEqual(200)
    expect(response.status).toBeLessThan(300)
    expect(response.headers.get("access-control-allow-origin")).toBe(origin)
    const allowHeaders = (response.headers.get("access-control-allow-headers") ?? "")
      .split(",")
      .map((header) => header.trim().toLowerCase())
    for (const header of requestedHeaders) expect(allowHeaders).toContain(header)
    const allowMethods = response.headers.get("access-control-allow-methods") ?? ""
    expect(allowMethods.toUpperCase()).toContain("POST")
  })

  it("gives another origin no access-control-allow-origin", async () => {
    const response = await preflight("http://evil.example")
    expect(response.headers.get("access-control-allow-origin")).toBeNull()
    await response.arrayBuffer()

    const actual = await fetch(`${gateway.url}/health`, { headers: { origin: "http://evil.example" } })
    expect(actual.headers.get("access-control-allow-origin")).toBeNull()
    await actual.arrayBuffer()
  })

  it("exposes retry-after and x-session-id on actual requests from the allowed origin", async () => {
    const response = await fetch(`${gateway.baseURL}/models`, { headers: { origin, authorization: "Bearer k-one" } })
    expect(response.status).toBe(200)
    expect(response.headers.get("access-control-allow-origin")).toBe(origin)
    const exposed = (response.headers.get("access-control-expose-headers") ?? "")
      .split(",")
      .map((header) => header.trim().toLowerCase())
    expect(exposed).toContain("retry-after")
    expect(exposed).toContain("x-session-id")
    await response.arrayBuffer()
  })

  it("adds CORS headers to error responses too, so a browser can read the envelope", async () => {
    const response = await fetch(`${gateway.baseURL}/models`, { headers: { origin } })
    expect(response.status).toBe(401)
    expect(response.headers.get("access-control-allow-origin")).toBe(origin)
    expect((await envelopeOf(response)).error.code).toBe("invalid_api_key")
  })
})

describe("CORS with no allowed origin", () => {
  let gateway: Gateway

  beforeAll(async () => {
    // What CORS_ORIGINS="" gives: no origin is allowed (only "*" allows every origin).
    gateway = await startGateway({ corsOrigins: [] })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("allows no origin at all", async () => {
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "POST" }
    })
    expect(response.headers.get("access-control-allow-origin")).toBeNull()
    await response.arrayBuffer()
  })
})

describe("cross-site requests without a preflight (auth off)", () => {
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway({ corsOrigins: ["http://localhost:8000"] })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("does not run a turn for a text/plain POST from a foreign origin", async () => {
    // What any web page can send to a local gateway with a plain <form> or fetch(no-cors):
    // no preflight happens, so CORS alone cannot stop it, and the CLI would run with the
    // gateway's permissions.
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8", origin: "http://evil.example" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] })
    })
    expect(response.status).toBeGreaterThanOrEqual(400)
    expect(response.status).toBeLessThan(500)
    await response.arrayBuffer()
  })
})

describe("sessions belong to the key that created them", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ requireAuth: true, apiKeys: keys, rateLimitPerMinute: 0 })
  })
  afterAll(() => gateway.close())

  const as = (key: string, path: string, init: RequestInit = {}) =>
    fetch(`${gateway.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers }
    })
  const chat = (key: string, body: unknown) =>
    as(key, "/v1/chat/completions", { method: "POST", body: JSON.stringify(body) })

  it("another key can neither see, continue, replay, cancel nor close a session", async () => {
    const first = await chat("k-one", { messages: [{ role: "user", content: "private to one" }] })
    expect(first.status).toBe(200)
    const answer = (await first.json()) as { session_id: string; choices: Array<{ message: { content: string } }> }
    const sessionId = answer.session_id

    const ownList = (await (await as("k-one", "/v1/sessions")).json()) as { data: Array<{ id: string }>; total: number }
    expect(ownList.data.map((session) => session.id)).toEqual([sessionId])
    const otherList = (await (await as("k-two", "/v1/sessions")).json()) as {
      data: Array<{ id: string }>
      total: number
    }
    expect(otherList).toMatchObject({ data: [], total: 0 })
    const otherStats = (await (await as("k-two", "/v1/sessions/stats")).json()) as { total_sessions: number }
    expect(otherStats.total_sessions).toBe(0)

    for (
      const [method, path] of [
        ["GET", `/v1/sessions/${sessionId}`],
        ["GET", `/v1/sessions/${sessionId}/messages`],
        ["GET", `/v1/sessions/${sessionId}/events`],
        ["GET", `/v1/chat/completions/${sessionId}/status`],
        ["DELETE", `/v1/chat/completions/${sessionId}`],
        ["DELETE", `/v1/sessions/${sessionId}`]
      ] as const
    ) {
      const response = await as("k-two", path, { method })
      expect(response.status, `${method} ${path}`).toBe(404)
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("session_not_found")
    }
    const continued = await chat("k-two", { session_id: sessionId, messages: [{ role: "user", content: "let me in" }] })
    expect(continued.status).toBe(404)

    // Resending the same history with the other key starts that key's own session.
    const history = [
      { role: "user", content: "private to one" },
      { role: "assistant", content: answer.choices[0]!.message.content },
      { role: "user", content: "and then" }
    ]
    const stateless = (await (await chat("k-two", { messages: history })).json()) as { session_id: string }
    expect(stateless.session_id).not.toBe(sessionId)
    const sameKey = (await (await chat("k-one", { messages: history })).json()) as { session_id: string }
    expect(sameKey.session_id).toBe(sessionId)

    // The owner still has it all.
    expect((await as("k-one", `/v1/sessions/${sessionId}`)).status).toBe(200)
    expect((await as("k-one", `/v1/sessions/${sessionId}`, { method: "DELETE" })).status).toBe(200)
  })
})
