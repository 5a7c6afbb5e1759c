/**
 * Server-sent events framing for chat completion streams, with keep-alive comments
 * during silent stretches (a long tool run, a slow first token).
 */
import { type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Duration, Effect, Schedule, Stream } from "effect"
import { fromCancel, fromDomain } from "./Errors.js"
import type { StreamFrame } from "./Projection.js"

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

/** Interleaves keep-alive comments whenever nothing was sent for `interval`; ends with `frames`. */
export const withKeepAlive = <E, R>(
  frames: Stream.Stream<string, E, R>,
  interval: Duration.DurationInput
): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    const millis = Duration.toMillis(interval)
    let lastSent = Date.now()
    const sent = Effect.sync(() => {
      lastSent = Date.now()
    })
    const pings = Stream.fromSchedule(Schedule.spaced(Duration.millis(Math.max(1, Math.floor(millis / 4))))).pipe(
      Stream.filter(() => Date.now() - lastSent >= millis),
      Stream.tap(() => sent),
      Stream.as(keepAliveFrame)
    )
    return Stream.merge(frames.pipe(Stream.tap(() => sent)), pings, { haltStrategy: "left" })
  })

/**
 * Sends every written chunk at once. Node corks a response's socket on each write and uncorks
 * it on the next tick, and that tick waits while the runtime is busy (with the rest of a burst
 * of CLI lines, say), holding the chunk back. The server writes a pulled chunk right away and
 * then pulls again, so the socket is uncorked at every pull.
 */
const flushedOnEachPull = <E>(
  body: Stream.Stream<Uint8Array, E>,
  request: HttpServerRequest.HttpServerRequest
): Stream.Stream<Uint8Array, E> => {
  // Served by something other than Node's HTTP server, there is no socket to uncork.
  const socket = (() => {
    try {
      return NodeHttpServerRequest.toServerResponse(request).socket ?? null
    } catch {
      return null
    }
  })()
  const uncork = Effect.sync(() => {
    if (socket !== null && socket.writableCorked > 0) socket.uncork()
  })
  return Stream.unwrapScoped(
    Effect.map(Stream.toPull(body), (pull) => Stream.repeatEffectChunkOption(Effect.zipRight(uncork, pull)))
  )
}

/** An SSE response to `request`: uncached, unbuffered by proxies, sent as written, with keep-alive comments. */
export const sseResponse = (
  request: HttpServerRequest.HttpServerRequest,
  frames: Stream.Stream<string>,
  keepAlive: Duration.DurationInput,
  headers: Readonly<Record<string, string>> = {}
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(flushedOnEachPull(Stream.encodeText(withKeepAlive(frames, keepAlive)), request), {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...headers }
  })
