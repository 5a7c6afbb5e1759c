/**
 * SSE keep-alive: the timer on `TestClock` (when it sends, when it does not), and SSE
 * responses served by something other than Node's HTTP server (a web handler here): the
 * frames arrive in order, with keep-alive comments during a silent stretch. Node's own path
 * is covered by the API tests against a real server.
 */
import { HttpApp, HttpServerRequest } from "@effect/platform"
import { it as effectIt } from "@effect/vitest"
import { Duration, Effect, Stream, TestClock } from "effect"
import { describe, expect, it } from "vitest"
import { keepAlive, keepAliveFrame, sseResponse } from "../../src/Http/Sse.js"

/** Moves the test clock and lets the fibers it woke run. */
const advance = (duration: Duration.DurationInput) => Effect.zipRight(TestClock.adjust(duration), Effect.yieldNow())

describe("keepAlive (TestClock)", () => {
  effectIt.scoped("sends once per silent interval, counted from the last thing sent", () =>
    Effect.gen(function*() {
      let pings = 0
      const timer = yield* keepAlive("15 seconds", () => pings++)
      yield* advance("14999 millis")
      expect(pings).toBe(0)
      yield* advance("1 millis")
      expect(pings).toBe(1)
      yield* advance("15 seconds")
      expect(pings).toBe(2)
      // A frame at 40 s moves the next comment to 55 s.
      yield* advance("10 seconds")
      timer.sent()
      yield* advance("14 seconds")
      expect(pings).toBe(2)
      yield* advance("1 seconds")
      expect(pings).toBe(3)
    }))

  effectIt.scoped("sends nothing while frames keep coming more often than the interval", () =>
    Effect.gen(function*() {
      let pings = 0
      const timer = yield* keepAlive("15 seconds", () => pings++)
      for (let second = 0; second < 120; second += 10) {
        yield* advance("10 seconds")
        timer.sent()
      }
      expect(pings).toBe(0)
    }))

  effectIt.effect("stops when its scope closes", () =>
    Effect.gen(function*() {
      let pings = 0
      yield* Effect.scoped(keepAlive("1 second", () => pings++))
      yield* advance("1 minute")
      expect(pings).toBe(0)
    }))
})

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
