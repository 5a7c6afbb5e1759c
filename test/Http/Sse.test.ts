/**
 * SSE responses served by something other than Node's HTTP server (a web handler here): the
 * frames arrive in order, with keep-alive comments during a silent stretch. Node's own path
 * is covered by the API tests against a real server.
 */
import { HttpApp, HttpServerRequest } from "@effect/platform"
import { Duration, Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { keepAliveFrame, sseResponse } from "../../src/Http/Sse.js"

describe("sseResponse outside Node's HTTP server", () => {
  it("sends the frames in order and keep-alive comments while nothing else is sent", async () => {
    const frames = Stream.concat(
      Stream.make("data: one\n\n"),
      Stream.fromEffect(Effect.as(Effect.sleep(Duration.millis(300)), "data: two\n\n"))
    )
    const handler = HttpApp.toWebHandler(
      Effect.map(HttpServerRequest.HttpServerRequest, (request) => sseResponse(request, frames, Duration.millis(40)))
    )
    const response = await handler(new Request("http://gateway.test/v1/chat/completions"))
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const body = await response.text()
    expect(body.startsWith("data: one\n\n")).toBe(true)
    expect(body.endsWith("data: two\n\n")).toBe(true)
    const between = body.slice("data: one\n\n".length, -"data: two\n\n".length)
    expect(between.length).toBeGreaterThan(0)
    expect(between.split(keepAliveFrame).every((piece) => piece === "")).toBe(true)
  })

  it("sends no keep-alive comment while frames keep coming", async () => {
    const frames = Stream.make("data: a\n\n", "data: b\n\n", "data: c\n\n")
    const handler = HttpApp.toWebHandler(
      Effect.map(HttpServerRequest.HttpServerRequest, (request) => sseResponse(request, frames, Duration.seconds(5)))
    )
    const body = await (await handler(new Request("http://gateway.test/"))).text()
    expect(body).toBe("data: a\n\ndata: b\n\ndata: c\n\n")
  })
})
