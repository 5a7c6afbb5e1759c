/**
 * Server-sent events: the framing of chat completion streams, and keep-alive frames during
 * silent stretches (a long tool run, a slow first token): comments by default, or the data
 * event a surface's clients need. Time is read from `Clock`.
 */
import { type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Chunk, Duration, Effect, Queue, type Scope, Stream } from "effect"
import type * as NodeHttp from "node:http"
import type { StreamFrame } from "./Chat/Projection.js"
import { fromCancel, fromDomain } from "./Edge/Errors.js"

export const doneFrame = "data: [DONE]\n\n"
export const keepAliveFrame = ": keep-alive\n\n"

/** One frame as SSE text. Errors after the headers are an OpenAI error object, as clients expect. */
export const renderFrame = (frame: StreamFrame): string => {
  switch (frame._tag) {
    case "Chunk":
      return `data: ${JSON.stringify(frame.chunk)}\n\n`
    case "Error": {
      const error = frame.failure._tag === "Failed" ? fromDomain(frame.failure.error) : fromCancel(frame.failure.reason)
      return `data: ${JSON.stringify(error.envelope)}\n\n`
    }
    case "Done":
      return doneFrame
  }
}

/**
 * A keep-alive timer: `send` is called whenever nothing was sent for `interval`, until the
 * scope closes; `sent` tells it something else was. One fiber sleeping on `Clock` per
 * stream, woken only when the interval may have passed (never per frame).
 */
export const keepAlive = (
  interval: Duration.DurationInput,
  send: () => void
): Effect.Effect<{ readonly sent: () => void }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const millis = Duration.toMillis(interval)
    let lastSent = clock.unsafeCurrentTimeMillis()
    yield* Effect.gen(function*() {
      for (;;) {
        const quietFor = clock.unsafeCurrentTimeMillis() - lastSent
        if (quietFor < millis) {
          yield* Effect.sleep(Duration.millis(millis - quietFor))
          continue
        }
        lastSent = clock.unsafeCurrentTimeMillis()
        send()
      }
    }).pipe(Effect.interruptible, Effect.forkScoped)
    return {
      sent: () => {
        lastSent = clock.unsafeCurrentTimeMillis()
      }
    }
  })

/**
 * Interleaves keep-alive comments whenever nothing was sent for `interval`; ends with
 * `frames`. For servers other than Node's, whose response cannot be written to directly.
 */
const withKeepAlive = <E, R>(
  frames: Stream.Stream<string, E, R>,
  interval: Duration.DurationInput,
  ping: () => string
): Stream.Stream<string, E, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const pings = yield* Queue.unbounded<string>()
    const timer = yield* keepAlive(interval, () => pings.unsafeOffer(ping()))
    return Stream.merge(frames.pipe(Stream.tap(() => Effect.sync(timer.sent))), Stream.fromQueue(pings), {
      haltStrategy: "left"
    })
  }))

const encoder = new TextEncoder()

/**
 * The body written straight to Node's response, with no stage or fiber per frame beyond the
 * pull itself:
 * - Each chunk is sent at once. Node corks a response's socket on each write and uncorks it on
 *   the next tick, and that tick waits while the runtime is busy (with the rest of a burst of
 *   CLI lines, say), holding the chunk back. The server writes a pulled chunk right away and then
 *   pulls again, so the socket is uncorked at every pull.
 * - Keep-alive comments are written to the response by the timer itself (merging a second
 *   stream in would cost two fibers and a queue hop per frame).
 */
const nodeBody = (
  frames: Stream.Stream<string>,
  response: NodeHttp.ServerResponse,
  interval: Duration.DurationInput,
  ping: () => string
): Stream.Stream<Uint8Array> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const timer = yield* keepAlive(interval, () => {
      if (!response.writableEnded && !response.destroyed) response.write(ping())
    })
    const socket = response.socket
    const pull = yield* Stream.toPull(frames)
    return Stream.repeatEffectChunkOption(Effect.suspend(() => {
      if (socket !== null && socket.writableCorked > 0) socket.uncork()
      return Effect.map(pull, (texts) => {
        timer.sent()
        return Chunk.map(texts, (text) => encoder.encode(text))
      })
    }))
  }))

/** Node's response to `request`, when Node's HTTP server serves it. */
const nodeResponseOf = (request: HttpServerRequest.HttpServerRequest): NodeHttp.ServerResponse | null => {
  try {
    return NodeHttpServerRequest.toServerResponse(request) ?? null
  } catch {
    return null
  }
}

/**
 * An SSE response to `request`: uncached, unbuffered by proxies, sent as written, with a
 * keep-alive frame (`ping`, a comment by default) whenever nothing was sent for `keepAlive`.
 */
export const sseResponse = (
  request: HttpServerRequest.HttpServerRequest,
  frames: Stream.Stream<string>,
  keepAlive: Duration.DurationInput,
  headers: Readonly<Record<string, string>> = {},
  ping: () => string = () => keepAliveFrame
): HttpServerResponse.HttpServerResponse => {
  const response = nodeResponseOf(request)
  const body = response === null
    ? Stream.encodeText(withKeepAlive(frames, keepAlive, ping))
    : nodeBody(frames, response, keepAlive, ping)
  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...headers }
  })
}
