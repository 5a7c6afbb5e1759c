/**
 * The operational surface: service info, health, Swagger UI, the OpenAPI document, and
 * how unknown routes and wrong methods are answered.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Gateway, startGateway } from "../support/Gateway.js"

const checkedInOpenApi = NodePath.resolve(import.meta.dirname, "..", "..", "schemas", "openapi.json")

type Envelope = { error: { message: string; type: string; param: unknown; code: string | null } }

const envelopeOf = async (response: Response): Promise<Envelope> => {
  expect(response.headers.get("content-type")).toMatch(/application\/json/)
  const body = (await response.json()) as Envelope
  expect(Object.keys(body)).toEqual(["error"])
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"])
  return body
}

describe("operations", () => {
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("GET / describes the service", async () => {
    const response = await fetch(`${gateway.url}/`)
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, any>
    expect(body).toMatchObject({
      name: "Claude Code API",
      docs: "/docs",
      openapi: "/openapi.json",
      endpoints: {
        chat_completions: "/v1/chat/completions",
        models: "/v1/models",
        model_capabilities: "/v1/models/capabilities",
        health: "/health"
      }
    })
    expect(typeof body.version).toBe("string")
  })

  it("GET /health reports the CLI, the database and the running turns", async () => {
    const response = await fetch(`${gateway.url}/health`)
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, any>
    expect(body.status).toBe("healthy")
    expect(body.claude_cli).toEqual({ available: true, version: "2.1.197 (Claude Code)" })
    expect(body.database).toEqual({ reachable: true, writable: true })
    expect(body.turns).toEqual({ running: 0, limit: 10 })
  })

  it("GET /docs serves a self-contained Swagger UI", async () => {
    const response = await fetch(`${gateway.url}/docs`)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/text\/html/)
    const html = await response.text()
    expect(html.toLowerCase()).toContain("swagger")
    // Works offline: nothing is loaded from another host.
    const remote = /<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//gi
    expect(html.match(remote) ?? []).toEqual([])
    expect(html).not.toMatch(/@import\s+(?:url\()?["']?(?:https?:)?\/\//i)
  })

  it("GET /openapi.json is the checked-in schemas/openapi.json", async () => {
    const response = await fetch(`${gateway.url}/openapi.json`)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/application\/json/)
    const served = await response.json()
    const checkedIn = JSON.parse(NodeFs.readFileSync(checkedInOpenApi, "utf8"))
    expect(served).toEqual(checkedIn)
  })

  it("documents the SSE variant of POST /v1/chat/completions", async () => {
    const document = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as Record<string, any>
    const ok = document.paths["/v1/chat/completions"].post.responses["200"]
    expect(Object.keys(ok.content)).toEqual(expect.arrayContaining(["application/json", "text/event-stream"]))
    expect(JSON.stringify(ok.content["text/event-stream"])).toContain("#/components/schemas/ChatCompletionChunk")
    expect(document.components.schemas.ChatCompletionChunk).toBeDefined()
    expect(document.components.schemas.ErrorEnvelope).toBeDefined()
    expect(ok.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ChatCompletion" })
  })

  it("answers an unknown route with 404 unknown_url", async () => {
    for (const path of ["/nope", "/v1/completions", "/v2/models"]) {
      const response = await fetch(`${gateway.url}${path}`)
      expect(response.status).toBe(404)
      const body = await envelopeOf(response)
      expect(body.error.code).toBe("unknown_url")
      expect(body.error.type).toBe("invalid_request_error")
    }
  })

  it("answers a wrong method with 405 and an Allow header", async () => {
    const remove = await fetch(`${gateway.baseURL}/models`, { method: "DELETE" })
    expect(remove.status).toBe(405)
    expect(remove.headers.get("allow")).toBe("GET")
    expect((await envelopeOf(remove)).error.code).toBe("method_not_allowed")

    const get = await fetch(`${gateway.baseURL}/chat/completions`)
    expect(get.status).toBe(405)
    expect(get.headers.get("allow")).toBe("POST")
    const body = await envelopeOf(get)
    expect(body.error.code).toBe("method_not_allowed")
    expect(body.error.type).toBe("invalid_request_error")
  })

  it("never answers 405 for a method the path does allow (malformed percent-encoding)", async () => {
    // The router cannot decode `%ZZ`; the method is right, so "use GET" would be nonsense.
    const response = await fetch(`${gateway.baseURL}/models/%ZZ`)
    expect([400, 404]).toContain(response.status)
    expect(response.headers.get("allow")).toBeNull()
    const body = await envelopeOf(response)
    expect(body.error.type).toBe("invalid_request_error")
  })

  it("answers a malformed JSON body with a 400 envelope and no internals", async () => {
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json"
    })
    expect(response.status).toBe(400)
    const body = await envelopeOf(response)
    expect(body.error.code).toBe("invalid_json")
    expect(body.error.message).not.toMatch(/at .*\.ts|SyntaxError|node_modules/)
  })
})

describe("operations without a CLI", () => {
  let gateway: Gateway

  beforeAll(async () => {
    gateway = await startGateway({ claudeBinary: "/nonexistent/claude" })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("GET /health is 503 unhealthy when the CLI cannot run", async () => {
    const response = await fetch(`${gateway.url}/health`)
    expect(response.status).toBe(503)
    const body = (await response.json()) as Record<string, any>
    expect(body.status).toBe("unhealthy")
    expect(body.claude_cli).toEqual({ available: false, version: null })
    expect(body.database).toEqual({ reachable: true, writable: true })
    // No path or stderr of the failed spawn leaks.
    expect(JSON.stringify(body)).not.toContain("/nonexistent")
  })

  it("a chat request is 503 cli_unavailable without the binary's path", async () => {
    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "opus", messages: [{ role: "user", content: "hi" }] })
    })
    expect(response.status).toBe(503)
    const body = await envelopeOf(response)
    expect(body.error.code).toBe("cli_unavailable")
    expect(body.error.message).not.toContain("/nonexistent")
  })
})
