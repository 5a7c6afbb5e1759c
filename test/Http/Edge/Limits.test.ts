/**
 * Bad input at the HTTP edge, against the full gateway (the stand-in CLI behind it): the body
 * limit (413 before the body is read whole, for a declared length and for a chunked body that
 * never ends), nesting depth and NUL characters (400 naming the parameter, on every route),
 * the bounds of strings that reach the CLI, the per-client limit on wrong API keys, and the
 * `Host` check against DNS rebinding.
 */
import { Redacted } from "effect"
import * as NodeHttp from "node:http"
import * as NodeNet from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Gateway, startGateway } from "../../support/Gateway.js"

interface Answer {
  readonly status: number
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly body: any
}

/** A request through node:http, which (unlike fetch) sends the `Host` header it is given. */
const request = (
  gateway: Gateway,
  options: {
    readonly method?: string
    readonly path: string
    readonly headers?: Record<string, string>
    readonly body?: string
  }
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const outgoing = NodeHttp.request(`${gateway.url}${options.path}`, {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      headers: { "content-type": "application/json", ...options.headers }
    }, (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (text += chunk))
      response.on("end", () =>
        resolve({ status: response.statusCode!, headers: response.headers, body: text ? JSON.parse(text) : null }))
    })
    outgoing.on("error", reject)
    outgoing.end(options.body)
  })

const post = (gateway: Gateway, path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(gateway, { path, headers, body: typeof body === "string" ? body : JSON.stringify(body) })

const hello = [{ role: "user", content: "hi" }]
const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)

describe("request body limit", () => {
  const limit = 64 * 1024
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway({ maxRequestBodyBytes: limit })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  /**
   * Sends only the head of a request that declares a 1 GB body (and a few bytes of it), and
   * reads what comes back: the gateway must answer without waiting for the rest.
   */
  const declareHugeBody = (path: string) =>
    new Promise<{ readonly head: string; readonly body: any }>((resolve, reject) => {
      const socket = NodeNet.connect(Number(new URL(gateway.url).port), "127.0.0.1")
      let received = ""
      socket.setEncoding("utf8")
      socket.on("data", (chunk: string) => (received += chunk))
      socket.on("error", reject)
      socket.on("end", () => {
        const split = received.indexOf("\r\n\r\n")
        resolve({ head: received.slice(0, split), body: JSON.parse(received.slice(split + 4)) })
      })
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${1024 * 1024 * 1024}\r\n\r\n{"messages": [`
      )
    })

  it("answers a declared length over the limit with 413 at once, and closes the connection", async () => {
    const { body, head } = await declareHugeBody("/v1/chat/completions")
    expect(head).toMatch(/^HTTP\/1\.1 413 /)
    expect(head.toLowerCase()).toContain("connection: close")
    expect(body.error).toMatchObject({ type: "invalid_request_error", code: "request_too_large", param: null })
    expect(body.error.message).toContain("MAX_REQUEST_BODY_MB")
  })

  it("answers in Anthropic's envelope on the Messages API", async () => {
    const { body, head } = await declareHugeBody("/v1/messages")
    expect(head).toMatch(/^HTTP\/1\.1 413 /)
    expect(body).toMatchObject({ type: "error", error: { type: "request_too_large" } })
  })

  it("stops reading a chunked body that never ends once it passes the limit", async () => {
    let sent = 0
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`{"messages": ${JSON.stringify(hello)}, "user": "`))
      },
      pull(controller) {
        const chunk = new Uint8Array(16 * 1024).fill(0x61)
        sent += chunk.length
        controller.enqueue(chunk)
      }
    })
    // This body has no end: only a gateway that stops reading can answer it.
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: endless,
      duplex: "half"
    } as RequestInit)
    expect(response.status).toBe(413)
    expect(response.headers.get("transfer-encoding")).toBeNull()
    expect(((await response.json()) as any).error.code).toBe("request_too_large")
    // What was sent before the answer came is the limit plus what the sockets buffer.
    expect(sent).toBeLessThan(limit + 16 * 1024 * 1024)
  })

  it("takes a body at the limit, and refuses one byte more", async () => {
    // `padding` is a field the schema ignores: only the size matters here.
    const padded = (size: number) => {
      const base = JSON.stringify({ messages: hello, padding: "" })
      return JSON.stringify({ messages: hello, padding: "p".repeat(size - base.length) })
    }
    expect((await post(gateway, "/v1/chat/completions", padded(limit))).status).toBe(200)
    const over = await post(gateway, "/v1/chat/completions", padded(limit + 1))
    expect(over.status).toBe(413)
    expect(over.headers["connection"]).toBe("close")
  })
})

describe("nesting depth and NUL characters", () => {
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("takes 64 levels of nesting and refuses 65 with a 400 naming the parameter", async () => {
    // The body object is level 1; `prediction` is accepted and ignored.
    const ok = await post(
      gateway,
      "/v1/chat/completions",
      `{"messages": ${JSON.stringify(hello)}, "prediction": ${deep(63)}}`
    )
    expect(ok.status).toBe(200)
    const deeper = await post(
      gateway,
      "/v1/chat/completions",
      `{"messages": ${JSON.stringify(hello)}, "prediction": ${deep(64)}}`
    )
    expect(deeper.status).toBe(400)
    expect(deeper.body.error).toMatchObject({
      type: "invalid_request_error",
      code: "invalid_value",
      param: `prediction${"[0]".repeat(63)}`
    })
    expect(deeper.body.error.message).toContain("nested more than 64 levels deep")
  })

  it.each([
    ["/v1/chat/completions", `{"messages": ${JSON.stringify(hello)}, "audio": ${deep(100_000)}}`, "audio"],
    ["/v1/responses", `{"input": "hi", "reasoning": ${deep(100_000)}}`, "reasoning"],
    ["/v1/sessions", `{"title": "t", "extra": ${deep(100_000)}}`, "extra"],
    ["/v1/projects", `{"name": "p", "extra": ${deep(100_000)}}`, "extra"]
  ])("refuses JSON nested 100 000 deep on %s with a 400, not a 500", async (path, body, field) => {
    const answer = await post(gateway, path, body)
    expect(answer.status).toBe(400)
    expect(answer.body.error.code).toBe("invalid_value")
    expect(answer.body.error.param.startsWith(`${field}[0]`)).toBe(true)
  })

  it("answers the Messages API's deep body in Anthropic's envelope", async () => {
    const answer = await post(
      gateway,
      "/v1/messages",
      `{"model": "sonnet", "max_tokens": 5, "messages": ${JSON.stringify(hello)}, "thinking": ${deep(100_000)}}`
    )
    expect(answer.status).toBe(400)
    expect(answer.body.type).toBe("error")
    expect(answer.body.error.type).toBe("invalid_request_error")
    expect(answer.body.error.message).toContain("'thinking[0]")
  })

  it.each<[string, string, unknown, string]>([
    ["model", "/v1/chat/completions", { model: "son\u0000net", messages: hello }, "model"],
    ["a system prompt", "/v1/chat/completions", { system_prompt: "be\u0000brief", messages: hello }, "system_prompt"],
    [
      "a system message",
      "/v1/chat/completions",
      { messages: [{ role: "system", content: "a\u0000" }, ...hello] },
      "messages[0].content"
    ],
    [
      "message text",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: "hi\u0000" }] },
      "messages[0].content"
    ],
    [
      "a tool name",
      "/v1/chat/completions",
      { messages: hello, tools: [{ type: "function", function: { name: "get\u0000weather" } }] },
      "tools[0].function.name"
    ],
    ["a key", "/v1/chat/completions", { messages: hello, metadata: { "k\u0000": "v" } }, "metadata.k\\u0000"],
    ["instructions", "/v1/responses", { input: "hi", instructions: "\u0000" }, "instructions"],
    ["a session's system prompt", "/v1/sessions", { system_prompt: "x\u0000" }, "system_prompt"],
    ["a project's description", "/v1/projects", { name: "p", description: "\u0000" }, "description"]
  ])("refuses a NUL character in %s with a 400 naming the parameter", async (_, path, body, param) => {
    const answer = await post(gateway, path, body)
    expect(answer.status).toBe(400)
    expect(answer.body.error).toMatchObject({ type: "invalid_request_error", code: "invalid_value", param })
    expect(answer.body.error.message).toContain("NUL")
  })

  it("refuses a NUL character in the Messages API's system prompt, in Anthropic's envelope", async () => {
    const answer = await post(gateway, "/v1/messages", {
      model: "sonnet",
      max_tokens: 5,
      system: "be\u0000brief",
      messages: hello
    })
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
    expect(answer.body.error.message).toContain("'system'")
  })

  it("answers malformed JSON on the sessions and projects routes with 400 invalid_json", async () => {
    for (const path of ["/v1/sessions", "/v1/projects"]) {
      const answer = await post(gateway, path, "{not json")
      expect(answer.status).toBe(400)
      expect(answer.body.error.code).toBe("invalid_json")
    }
  })
})

describe("strings that reach the CLI", () => {
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(async () => {
    await gateway?.close()
  })

  const megabyte = "m".repeat(1024 * 1024)

  it.each<[string, string, unknown, string]>([
    ["a 1 MB model", "/v1/chat/completions", { model: megabyte, messages: hello }, "model"],
    ["a model with a space", "/v1/chat/completions", { model: "son net", messages: hello }, "model"],
    ["a model that reads as a flag", "/v1/chat/completions", { model: "--help", messages: hello }, "model"],
    ["a 1 MB model", "/v1/responses", { model: megabyte, input: "hi" }, "model"],
    ["a 1 MB model", "/v1/sessions", { model: megabyte }, "model"],
    ["a long session id", "/v1/chat/completions", { session_id: "s".repeat(129), messages: hello }, "session_id"],
    ["a session id with a slash", "/v1/responses", { session_id: "../x", input: "hi" }, "session_id"],
    [
      "a long previous_response_id",
      "/v1/responses",
      { previous_response_id: "r".repeat(129), input: "hi" },
      "previous_response_id"
    ],
    ["a long project id", "/v1/chat/completions", { project_id: "p".repeat(129), messages: hello }, "project_id"],
    ["a long user", "/v1/chat/completions", { user: "u".repeat(257), messages: hello }, "user"],
    [
      "17 metadata pairs",
      "/v1/chat/completions",
      { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])), messages: hello },
      "metadata"
    ],
    ["a long metadata value", "/v1/responses", { metadata: { k: "v".repeat(513) }, input: "hi" }, "metadata.k"],
    ["a long title", "/v1/sessions", { title: "t".repeat(513) }, "title"]
  ])("refuses %s on %s with a 400 naming the parameter", async (_, path, body, param) => {
    const answer = await post(gateway, path, body)
    expect(answer.status).toBe(400)
    expect(answer.body.error).toMatchObject({ type: "invalid_request_error", param })
  })

  it("refuses a 1 MB model on the Messages API, in Anthropic's envelope", async () => {
    const answer = await post(gateway, "/v1/messages", { model: megabyte, max_tokens: 5, messages: hello })
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
    expect(answer.body.error.message).toContain("'model'")
  })

  it("takes the model names clients use", async () => {
    for (const model of ["sonnet", "claude-opus-4-8[1m]", ""]) {
      const answer = await post(gateway, "/v1/chat/completions", { model, messages: hello })
      expect(answer.status).toBe(200)
    }
  })
})

describe("wrong API keys per client", () => {
  const keys = [Redacted.make("k-right")]
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway({
      requireAuth: true,
      apiKeys: keys,
      rateLimitPerMinute: 0,
      authFailureLimit: 3,
      authFailureWindowSeconds: 600
    })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  const models = (key?: string) =>
    request(gateway, { path: "/v1/models", headers: key === undefined ? {} : { authorization: `Bearer ${key}` } })

  it("holds a client back after 3 wrong keys, whatever it sends next", async () => {
    // A request without a key is not a guess.
    for (let i = 0; i < 5; i++) expect((await models()).status).toBe(401)
    expect((await models("k-right")).status).toBe(200)
    for (let i = 0; i < 3; i++) expect((await models(`k-wrong-${i}`)).status).toBe(401)

    const held = await models("k-wrong-3")
    expect(held.status).toBe(429)
    expect(held.body.error).toMatchObject({ type: "rate_limit_error", code: "too_many_auth_failures" })
    const retryAfter = Number(held.headers["retry-after"])
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(600)

    // The right key is held back too: the client cannot learn that its guess was right.
    expect((await models("k-right")).status).toBe(429)
    expect((await models()).status).toBe(429)
    // Public paths stay open.
    expect((await request(gateway, { path: "/health" })).status).toBe(200)
  })
})

describe("Host check", () => {
  describe("with auth off", () => {
    let gateway: Gateway

    beforeAll(async () => {
      gateway = await startGateway({ allowedHosts: ["gateway.lan"] })
    })
    afterAll(async () => {
      await gateway?.close()
    })

    const withHost = (host: string, path = "/v1/sessions") => request(gateway, { path, headers: { host } })

    it("refuses a foreign Host with 403 host_not_allowed, on every path (DNS rebinding)", async () => {
      for (const path of ["/v1/sessions", "/health", "/"]) {
        const answer = await withHost("attacker.example", path)
        expect(answer.status).toBe(403)
        expect(answer.body.error).toMatchObject({ type: "invalid_request_error", code: "host_not_allowed" })
      }
      const post = await request(gateway, {
        path: "/v1/chat/completions",
        headers: { host: "attacker.example:8000" },
        body: JSON.stringify({ messages: hello })
      })
      expect(post.status).toBe(403)
    })

    it("answers the Messages API in Anthropic's envelope", async () => {
      const answer = await request(gateway, {
        path: "/v1/messages",
        headers: { host: "attacker.example" },
        body: JSON.stringify({ model: "sonnet", max_tokens: 5, messages: hello })
      })
      expect(answer.status).toBe(403)
      expect(answer.body).toMatchObject({ type: "error", error: { type: "permission_error" } })
    })

    it("takes loopback names, with or without a port, and the configured names", async () => {
      for (
        const host of [
          "localhost",
          "LOCALHOST:8000",
          "127.0.0.1:1234",
          "127.1.2.3",
          "[::1]:8000",
          "gateway.lan:8000",
          "Gateway.LAN"
        ]
      ) {
        expect((await withHost(host)).status, host).toBe(200)
      }
    })
  })

  describe("with auth on", () => {
    const keys = [Redacted.make("k-host")]
    const authorization = "Bearer k-host"
    let open: Gateway
    let listed: Gateway

    beforeAll(async () => {
      open = await startGateway({ requireAuth: true, apiKeys: keys })
      listed = await startGateway({ requireAuth: true, apiKeys: keys, allowedHosts: ["api.example.com"] })
    })
    afterAll(async () => {
      await open?.close()
      await listed?.close()
    })

    it("takes any Host when ALLOWED_HOSTS is not set (the keys protect it)", async () => {
      const answer = await request(open, { path: "/v1/sessions", headers: { host: "api.example.com", authorization } })
      expect(answer.status).toBe(200)
    })

    it("holds to ALLOWED_HOSTS when it is set", async () => {
      const good = await request(listed, { path: "/v1/sessions", headers: { host: "api.example.com", authorization } })
      expect(good.status).toBe(200)
      const bad = await request(listed, { path: "/v1/sessions", headers: { host: "other.example", authorization } })
      expect(bad.status).toBe(403)
      expect(bad.body.error.code).toBe("host_not_allowed")
    })
  })
})
