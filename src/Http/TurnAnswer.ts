/**
 * Answering with a turn, whatever the API surface: a turn is started, then followed through
 * the log, and projected by the surface into one JSON body or an SSE stream. A streamed
 * answer's status is settled before the first byte: events are buffered until one settles it
 * (the upstream accepted the model, or the turn ended), so a rejected model is a plain HTTP
 * error in both modes. A client gone before its answer ended cancels the turn, unless the
 * gateway is configured to let it run.
 */
import { type HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { Chunk, type Duration, Effect, Exit, Option, Scope, Stream } from "effect"
import type { StoreError } from "../Domain/Errors.js"
import type { StoredEvent } from "../Domain/SessionEvent.js"
import type { TurnHandle } from "../Domain/Turn.js"
import type { SessionRunner } from "../SessionRunner.js"
import { failFromDomain, fromCancel, fromDomain, type HttpError } from "./Edge/Errors.js"
import { sseResponse } from "./Sse.js"

/** How a surface renders a turn's stream; one per answer (it keeps the projection's state). */
export interface StreamRenderer {
  /** The SSE text of these events, in order. */
  readonly render: (events: ReadonlyArray<StoredEvent>) => string
  /** Whether the stream's last frame has been rendered: the client got the whole answer. */
  readonly finished: () => boolean
  /** The frames that end a stream the log stopped feeding (a store failure), telling the client why. */
  readonly broken: (error: StoreError) => string
  /** A frame for a silent stretch (an SSE comment, or a data event for clients that time out without one). */
  readonly keepAlive: () => string
  /**
   * Whether a turn that failed before the model answered is told inside a stream rather than
   * as an HTTP error (for clients that act only on a failure event, as Codex does on a too
   * long conversation). Default: never.
   */
  readonly streamsFailure?: (error: HttpError) => boolean
}

/** The HTTP failure of an event that ends a turn before it answered, if it is one. */
const failureOf = (stored: StoredEvent): HttpError | null =>
  stored.event._tag === "TurnFailed"
    ? fromDomain(stored.event.error)
    : stored.event._tag === "TurnCancelled"
    ? fromCancel(stored.event.reason)
    : null

/** Whether an event settles a streamed answer's status: the model answered, or the turn ended. */
export const settlesStatus = (stored: StoredEvent): boolean => {
  switch (stored.event._tag) {
    case "TurnAttached":
    case "TextDelta":
    case "ThinkingDelta":
    case "ToolUse":
    case "ToolCallStarted":
    case "TurnCompleted":
    case "TurnFailed":
    case "TurnCancelled":
      return true
    default:
      return false
  }
}

/** The headers naming the session and project of an answer, in every surface. */
export const sessionHeaders = (handle: TurnHandle): Readonly<Record<string, string>> => ({
  "x-session-id": handle.sessionId,
  "x-project-id": handle.projectId
})

/**
 * What to do with a turn whose client is gone before its answer ended: cancel it (reason
 * `disconnect`, that turn only), unless the gateway lets such turns run.
 */
export const whenAbandoned = (
  runner: SessionRunner.Service,
  cancelOnDisconnect: boolean
) =>
(handle: TurnHandle): Effect.Effect<void> =>
  cancelOnDisconnect ? Effect.asVoid(runner.cancel(handle.sessionId, "disconnect", handle.turnId)) : Effect.void

/** The turn's events through its end. */
export const turnEvents = (handle: TurnHandle): Effect.Effect<ReadonlyArray<StoredEvent>, HttpError> =>
  Stream.runCollect(handle.events).pipe(Effect.map(Chunk.toReadonlyArray), Effect.catchAll(failFromDomain))

export interface StreamOptions {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly handle: TurnHandle
  readonly renderer: StreamRenderer
  readonly keepAliveInterval: Duration.DurationInput
  readonly headers: Readonly<Record<string, string>>
  /** Run when the client is gone before the stream finished. */
  readonly abandoned: Effect.Effect<void>
}

/**
 * Follows the turn with one reader: events are buffered until one settles the status, then
 * the same reader feeds the response body (so nothing is read twice). Fails with the turn's
 * error when it ends before the model answered.
 */
export const streamTurn = (options: StreamOptions): Effect.Effect<HttpServerResponse.HttpServerResponse, HttpError> =>
  Effect.gen(function*() {
    const { handle, renderer } = options
    const scope = yield* Scope.make()
    const release = Scope.close(scope, Exit.void)
    return yield* Effect.gen(function*() {
      const pull = yield* Scope.extend(Stream.toPull(handle.events), scope)
      const nextChunk = pull.pipe(
        Effect.catchAll(Option.match({
          onNone: () => Effect.succeed(Chunk.empty<StoredEvent>()),
          onSome: (error) => Effect.fail(fromDomain(error))
        }))
      )
      const buffered: Array<StoredEvent> = []
      let settled: StoredEvent | undefined
      while (settled === undefined) {
        const chunk = yield* nextChunk
        if (Chunk.isEmpty(chunk)) break
        for (const stored of chunk) buffered.push(stored)
        settled = buffered.find(settlesStatus)
      }
      const failure = settled === undefined ? null : failureOf(settled)
      if (failure !== null && renderer.streamsFailure?.(failure) !== true) return yield* failure

      const frames = Stream.concat(
        Stream.fromChunk(Chunk.unsafeFromArray(buffered)),
        Stream.repeatEffectChunkOption(pull)
      ).pipe(
        Stream.mapChunks((events) => {
          const text = renderer.render(Chunk.toReadonlyArray(events))
          return text.length === 0 ? Chunk.empty<string>() : Chunk.of(text)
        }),
        Stream.catchAll((error) => Stream.make(renderer.broken(error))),
        Stream.ensuring(Effect.suspend(() => (renderer.finished() ? Effect.void : options.abandoned))),
        Stream.ensuring(release)
      )
      return sseResponse(options.request, frames, options.keepAliveInterval, options.headers, renderer.keepAlive)
    }).pipe(Effect.onError(() => release))
  })

/**
 * Starts a turn and answers with it. Once started, the turn is followed to the end: a client
 * gone at any point after it cancels it (`abandon`), whichever way the answer is sent.
 */
export const answerWithTurn = <A>(
  start: Effect.Effect<TurnHandle, HttpError>,
  answer: (handle: TurnHandle) => Effect.Effect<A, HttpError>,
  abandon: (handle: TurnHandle) => Effect.Effect<void>
): Effect.Effect<A, HttpError> =>
  Effect.uninterruptibleMask((restore) =>
    restore(start).pipe(
      Effect.flatMap((handle) => restore(answer(handle)).pipe(Effect.onInterrupt(() => abandon(handle))))
    )
  )
