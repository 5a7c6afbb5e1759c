/**
 * `/v1/responses` end to end over the fake CLI: the whole gateway on an ephemeral port, driven
 * by the official `openai` SDK and by `fetch` where the raw bytes or statuses matter (every
 * raw stream goes through the strict reader). Answers in both modes, reasoning, failures
 * before and after the answer began, keep-alive data events (read through by the SDKs' stream
 * helpers), stored responses read back and deleted, references and `previous_response_id`
 * into the log, ownership, and the 400s that name their parameter.
 */
import { createOpenAI } from "@ai-sdk/openai"
import { streamText } from "ai"
import { Redacted } from "effect"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ResponseObject } from "../../../src/Http/Responses/Wire.js"
import { type Gateway, startGateway } from "../../support/Gateway.js"
import { checkResponseStream } from "../../support/ResponsesStream.js"

const post = (gateway: Gateway, body: unknown, key = "test") =>
  fetch(`${gateway.baseURL}/responses`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

const request = (gateway: Gateway, method: "GET" | "DELETE", path: string, key = "test") =>
  fetch(`${gateway.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } })

const created = async (gateway: Gateway, body: Record<string, unknown>, key = "test") => {
  const response = await post(gateway, { model: "sonnet", ...body }, key)
  expect(response.status).toBe(200)
  return (await response.json()) as ResponseObject
}

const errorOf = async (response: Response, status: number) => {
  expect(response.status).toBe(status)
  return ((await response.json()) as { error: { message: string; param: string | null; code: string | null } }).error
}

const textOf = (response: ResponseObject) =>
  response.output.flatMap((item) => (item.type === "message" ? item.content.map((part) => part.text) : [])).join("")

describe("POST /v1/responses", () => {
  let gateway: Gateway
  let client: OpenAI
  beforeAll(async () => {
    gateway = await startGateway()
    client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "test", maxRetries: 0 })
  })
  afterAll(() => gateway.close())

  it("the openai SDK's create: a response, the session headers, and GET answers the same response", async () => {
    const { data, response } = await client.responses.create({ model: "sonnet", input: "Hello" }).withResponse()
    expect(data.id).toMatch(/^resp_[0-9a-f]{32}$/)
    expect(data.status).toBe("completed")
    expect(data.output_text).toBe("Echo: Hello [turn=1]")
    expect(data.output[0]).toMatchObject({ type: "message", id: data.id.replace("resp_", "msg_"), role: "assistant" })
    expect(data.usage).toMatchObject({
      input_tokens: 150,
      input_tokens_details: { cached_tokens: 30 },
      output_tokens: 3
    })
    expect(response.headers.get("x-session-id")).toBe((data as unknown as ResponseObject).session_id)
    const { output_text: _, ...stored } = await client.responses.retrieve(data.id)
    const { output_text: __, ...fresh } = data
    expect(stored).toEqual(fresh)
  })

  it("streamed: thinking is a reasoning item, the raw body passes the strict reader", async () => {
    const response = await post(gateway, { model: "sonnet", input: "FAKE_THINK please", stream: true })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const { items, terminal } = checkResponseStream(await response.text())
    expect(items.map((item) => item.type)).toEqual(["reasoning", "message"])
    expect(items[0]).toMatchObject({ summary: [{ text: "The user wants a short answer. I will think briefly." }] })
    expect(terminal.type).toBe("response.completed")
    // The stored response is the stream's last snapshot.
    const stored = await client.responses.retrieve(terminal.response.id)
    expect(stored.output).toEqual(terminal.response.output)
  })

  it("a CLI that dies mid-answer ends the stream with response.failed; a failure before it is an HTTP status", async () => {
    const response = await post(gateway, { model: "sonnet", input: "FAKE_CRASH now", stream: true })
    expect(response.status).toBe(200)
    const { items, terminal } = checkResponseStream(await response.text())
    expect(terminal.type).toBe("response.failed")
    expect(terminal.response.error).toMatchObject({ code: "server_error" })
    expect(items).toEqual([expect.objectContaining({ type: "message", status: "incomplete" })])

    for (const stream of [false, true]) {
      const error = await errorOf(await post(gateway, { model: "sonnet", input: "FAKE_UPSTREAM_429", stream }), 429)
      expect(error.code).toBe("upstream_rate_limited")
    }
  })

  it("item_reference and previous_response_id continue the conversation from the log", async () => {
    const first = await created(gateway, { input: "first words" })
    const message = first.output[0]!
    // The AI SDK's shape: earlier answers by reference.
    const second = await created(gateway, {
      input: [
        { role: "user", content: "first words" },
        { type: "item_reference", id: message.id },
        { role: "user", content: "second" }
      ]
    })
    expect(second.session_id).toBe(first.session_id)
    expect(textOf(second)).toContain("[turn=2]")
    const third = await created(gateway, { input: "third", previous_response_id: second.id })
    expect(third.session_id).toBe(first.session_id)
    expect(third.previous_response_id).toBe(second.id)
    expect(textOf(third)).toContain("[turn=3]")

    // Only the latest response of a conversation can be continued.
    const branch = await errorOf(await post(gateway, { input: "x", previous_response_id: first.id }), 400)
    expect(branch).toMatchObject({ param: "previous_response_id", code: "unsupported_value" })
  })

  it("GET and DELETE: a deleted response is gone for reads, references and continuations", async () => {
    const response = await created(gateway, { input: "to delete" })
    const deleted = await request(gateway, "DELETE", `/v1/responses/${response.id}`)
    expect(await deleted.json()).toEqual({ id: response.id, object: "response", deleted: true })
    expect((await errorOf(await request(gateway, "GET", `/v1/responses/${response.id}`), 404)).code).toBe(
      "response_not_found"
    )
    await errorOf(await request(gateway, "DELETE", `/v1/responses/${response.id}`), 404)
    const reference = await errorOf(
      await post(gateway, {
        input: [{ role: "user", content: "a" }, { type: "item_reference", id: response.output[0]!.id }]
      }),
      400
    )
    expect(reference.param).toBe("input[1].id")
    const previous = await errorOf(await post(gateway, { input: "b", previous_response_id: response.id }), 404)
    expect(previous).toMatchObject({ param: "previous_response_id", code: "previous_response_not_found" })

    const log = (await (await request(gateway, "GET", `/v1/sessions/${response.session_id}/events`)).json()) as {
      data: ReadonlyArray<{ type: string; data: { turnId?: string } }>
    }
    expect(log.data.map((event) => event.type).at(-1)).toBe("ResponseDeleted")
  })

  it("not found: unknown ids, store: false, and a chat completion's turn", async () => {
    await errorOf(await request(gateway, "GET", "/v1/responses/resp_0000"), 404)
    await errorOf(await request(gateway, "GET", "/v1/responses/nonsense"), 404)
    const unstored = await created(gateway, { input: "not kept", store: false })
    expect(unstored.store).toBe(false)
    await errorOf(await request(gateway, "GET", `/v1/responses/${unstored.id}`), 404)
    const chat = await client.chat.completions.create({ model: "sonnet", messages: [{ role: "user", content: "hi" }] })
    await errorOf(await request(gateway, "GET", `/v1/responses/${chat.id.replace("chatcmpl-", "resp_")}`), 404)
  })

  it("bad requests are 400s naming the parameter", async () => {
    expect((await errorOf(await post(gateway, "{not json"), 400)).code).toBe("invalid_json")
    expect((await errorOf(await post(gateway, { model: "sonnet" }), 400)).param).toBe("input")
    expect(
      (await errorOf(await post(gateway, { input: [{ type: "function_call_output", output: "x" }] }), 400)).param
    ).toBe("input[0].call_id")
    expect(
      (await errorOf(await post(gateway, { input: "x", tools: [{ type: "function", name: "a b" }] }), 400)).param
    ).toBe("tools[0].name")
    expect((await errorOf(await post(gateway, { input: "x", background: true }), 400)).param).toBe("background")
  })
  it("DELETE while a later turn of its session runs: 409 session_busy after a short wait, then deleted", async () => {
    const first = await created(gateway, { input: "delete me later" })
    // The next turn streams for about 3 s (30 deltas 100 ms apart).
    const running = await post(gateway, { input: "FAKE_SLOW please", previous_response_id: first.id, stream: true })
    expect(running.status).toBe(200)
    const reader = running.body!.getReader()
    const decoder = new TextDecoder()
    let seen = ""
    while (!seen.includes("response.output_text.delta")) {
      const { done, value } = await reader.read()
      if (done) break
      seen += decoder.decode(value, { stream: true })
    }
    const busy = await errorOf(await request(gateway, "DELETE", `/v1/responses/${first.id}`), 409)
    expect(busy.code).toBe("session_busy")
    // The running turn went on.
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      seen += decoder.decode(value, { stream: true })
    }
    expect(seen).toContain("response.completed")
    const deleted = await request(gateway, "DELETE", `/v1/responses/${first.id}`)
    expect(deleted.status).toBe(200)
    await errorOf(await request(gateway, "GET", `/v1/responses/${first.id}`), 404)
  })
})

describe("keep-alive data events", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ sseKeepAliveSeconds: 0.03, cliEnv: { FAKE_CLAUDE_DELAY_MS: "80" } })
  })
  afterAll(() => gateway.close())

  it("silences carry keepalive events, numbered with the others", async () => {
    const response = await post(gateway, { model: "sonnet", input: "FAKE_SLOW please", stream: true })
    const body = await response.text()
    expect(body).not.toContain(": keep-alive")
    const { events, items } = checkResponseStream(body)
    expect(events.filter((event) => event.type === "keepalive").length).toBeGreaterThan(3)
    expect(items).toEqual([expect.objectContaining({ type: "message" })])
  })

  it("the openai SDK's stream helper and the AI SDK's streamText read through them", async () => {
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "test", maxRetries: 0 })
    const stream = client.responses.stream({ model: "sonnet", input: "FAKE_SLOW again" })
    const seen: Array<string> = []
    stream.on("event", (event) => seen.push(event.type))
    const final = await stream.finalResponse()
    expect(final.output_text).toMatch(/^w1 w2 .* w30 $/)
    expect(seen).toContain("keepalive")

    const result = streamText({
      model: createOpenAI({ baseURL: gateway.baseURL, apiKey: "test" })("sonnet"),
      prompt: "FAKE_SLOW once more",
      maxRetries: 0
    })
    const parts: Array<string> = []
    for await (const part of result.fullStream) parts.push(part.type)
    expect(parts).not.toContain("error")
    expect(await result.text).toMatch(/^w1 w2 .* w30 $/)
  })
})

describe("ownership", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({
      requireAuth: true,
      apiKeys: [Redacted.make("k-one"), Redacted.make("k-two")],
      rateLimitPerMinute: 0
    })
  })
  afterAll(() => gateway.close())

  it("another key's response is not found, for reads, deletes, references and continuations", async () => {
    const mine = await created(gateway, { input: "mine" }, "k-one")
    expect((await request(gateway, "GET", `/v1/responses/${mine.id}`, "k-one")).status).toBe(200)
    await errorOf(await request(gateway, "GET", `/v1/responses/${mine.id}`, "k-two"), 404)
    await errorOf(await request(gateway, "DELETE", `/v1/responses/${mine.id}`, "k-two"), 404)
    await errorOf(await post(gateway, { input: "x", previous_response_id: mine.id }, "k-two"), 404)
    const reference = [{ role: "user", content: "mine" }, { type: "item_reference", id: mine.output[0]!.id }]
    await errorOf(await post(gateway, { input: reference }, "k-two"), 400)
    expect((await request(gateway, "GET", `/v1/responses/${mine.id}`, "k-one")).status).toBe(200)
  })
})
