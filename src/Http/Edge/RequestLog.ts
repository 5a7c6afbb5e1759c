/**
 * One log line per HTTP request, written once its response is over: for a streamed answer,
 * when the stream ends or its client goes away. It names the method, the path without its
 * query, the status sent, the duration in milliseconds, the session the response names
 * (`x-session-id`) and the caller's key id (never the key). Answers up to 4xx are info, 5xx
 * warnings; a failure that escaped the edge (a broken response stream), or one a handler noted
 * behind its answer (`noteFailure`: the event log's error behind a 503), is an error with its
 * cause.
 */
import { HttpApp, HttpMiddleware, HttpServerError, HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { Cause, Clock, Effect, Exit, FiberRef } from "effect"
import type { Principal } from "../../Auth.js"

/**
 * What is learnt about a request while it is served. Fibers the request starts inherit it, so
 * it holds nothing large.
 */
interface RequestNote {
  keyId: string | null
  /** The status and session of the response handed over (null until then). */
  status: number | null
  sessionId: string | undefined
  /** What failed inside, behind an answer that names nothing internal. */
  failure: unknown
}

const currentNote = FiberRef.unsafeMake<RequestNote | null>(null)

/** Records who is calling, for the request's log line; the edge calls it once the key is checked. */
export const noteCaller = (principal: Principal): Effect.Effect<void> =>
  principal.anonymous ? Effect.void : Effect.map(FiberRef.get(currentNote), (note) => {
    if (note !== null) note.keyId = principal.id
  })

/** Records, for the request's log line, the internal failure behind the error the client is answered. */
export const noteFailure = (failure: unknown): Effect.Effect<void> =>
  Effect.map(FiberRef.get(currentNote), (note) => {
    if (note !== null) note.failure = failure
  })

const pathOf = (url: string) => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

const logRequest = (
  request: HttpServerRequest.HttpServerRequest,
  note: RequestNote,
  startedAt: bigint,
  exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>
) =>
  Effect.flatMap(Clock.currentTimeNanos, (now) => {
    const failure = Exit.isFailure(exit) ? exit.cause : null
    // The response handed over (even if its stream was then cut short), else the one the exit stands for.
    const response = Exit.isSuccess(exit) ? exit.value : null
    const status = note.status ?? response?.status ??
      (failure === null ? 500 : HttpServerError.causeResponseStripped(failure)[0].status)
    const sessionId = note.sessionId ?? response?.headers["x-session-id"]
    const annotations: Record<string, unknown> = {
      method: request.method,
      path: pathOf(request.url),
      status,
      duration_ms: Number((now - startedAt) / 1000n) / 1000
    }
    if (sessionId !== undefined) annotations.session_id = sessionId
    if (note.keyId !== null) annotations.key_id = note.keyId
    const line = failure !== null && !Cause.isInterruptedOnly(failure)
      ? Effect.logError("request failed", failure)
      : note.failure !== undefined
      ? Effect.logError("request failed", Cause.fail(note.failure))
      : status >= 500
      ? Effect.logWarning("request")
      : Effect.logInfo("request")
    return Effect.annotateLogs(line, annotations)
  })

/** Logs every request it wraps; outermost, so it sees what every other middleware answers. */
export const requestLog = HttpMiddleware.make((app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const startedAt = yield* Clock.currentTimeNanos
    const note: RequestNote = { keyId: null, status: null, sessionId: undefined, failure: undefined }
    yield* HttpApp.appendPreResponseHandler((_, response) =>
      Effect.sync(() => {
        note.status = response.status
        note.sessionId = response.headers["x-session-id"]
        return response
      })
    )
    return yield* Effect.locally(app, currentNote, note).pipe(
      Effect.onExit((exit) => logRequest(request, note, startedAt, exit))
    )
  })
)
