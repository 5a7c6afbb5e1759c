/**
 * `POST /v1/chat/completions`: validates the request, starts a turn in its session's
 * actor, and answers with a projection of the turn's logged events, as one JSON body or
 * as an SSE stream. A streamed answer's status is settled before the first byte: the
 * handler waits until the upstream accepted the model (or the turn ended), so a rejected
 * model is a plain HTTP 400 in both modes.
 */
import { type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Chunk, Duration, Effect, Either, Exit, Option, Scope, Stream } from "effect"
import { AppConfig } from "../AppConfig.js"
import type { StoredEvent } from "../Domain/SessionEvent.js"
import { ModelRegistry } from "../ModelRegistry.js"
import { Projects } from "../Projects.js"
import { SessionRunner, type TurnHandle } from "../SessionRunner.js"
import {
  decodeChatRequest,
  outputSchemaOf,
  parametersOf,
  projectionContextOf,
  refuseUnsupported,
  turnInputOf
} from "./ChatRequest.js"
import { fromCancel, fromDomain, type HttpError, internalError, invalidRequest } from "./Errors.js"
import { currentOwner } from "./Ownership.js"
import {
  chunksOf,
  completionOf,
  initialChunkState,
  type ProjectionContext,
  settlesStatus,
  type TurnFailure
} from "./Projection.js"
import { doneFrame, renderFrame, sseResponse } from "./Sse.js"

const failureToHttp = (failure: TurnFailure): HttpError =>
  failure._tag === "Failed" ? fromDomain(failure.error) : fromCancel(failure.reason)

const sessionHeaders = (handle: TurnHandle) => ({
  "x-session-id": handle.sessionId,
  "x-project-id": handle.projectId
})

export const makeChatCompletions = Effect.gen(function*() {
  const runner = yield* SessionRunner
  const registry = yield* ModelRegistry
  const projects = yield* Projects
  const config = yield* AppConfig
  const keepAlive = Duration.seconds(config.sseKeepAliveSeconds)

  /** A client gone before its answer ended cancels the turn, unless configured to let it run. */
  const cancelOnDisconnect = (handle: TurnHandle) =>
    config.cancelOnDisconnect ? Effect.asVoid(runner.cancel(handle.sessionId, "disconnect")) : Effect.void

  const jsonAnswer = (handle: TurnHandle, context: ProjectionContext) =>
    Effect.gen(function*() {
      const events = yield* Stream.runCollect(handle.events).pipe(Effect.mapError(fromDomain))
      const completion = completionOf(Chunk.toReadonlyArray(events), context)
      if ("_tag" in completion) return yield* failureToHttp(completion)
      return HttpServerResponse.unsafeJson(completion, { headers: sessionHeaders(handle) })
    })

  /**
   * Follows the turn with one reader: events are buffered until one settles the status,
   * then the same reader feeds the response body (so nothing is read twice).
   */
  const streamAnswer = (request: HttpServerRequest.HttpServerRequest, handle: TurnHandle, context: ProjectionContext) =>
    Effect.gen(function*() {
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
        if (settled?.event._tag === "TurnFailed") return yield* fromDomain(settled.event.error)
        if (settled?.event._tag === "TurnCancelled") return yield* fromCancel(settled.event.reason)

        let finished = false
        let state = initialChunkState
        /** A chunk of logged events as one piece of SSE text (one write to the socket). */
        const render = (events: Chunk.Chunk<StoredEvent>): Chunk.Chunk<string> => {
          let text = ""
          for (const stored of events) {
            const [next, frames] = chunksOf(state, stored, context)
            state = next
            for (const frame of frames) {
              if (frame._tag === "Done") finished = true
              text += renderFrame(frame)
            }
          }
          return text.length === 0 ? Chunk.empty() : Chunk.of(text)
        }
        const frames = Stream.concat(
          Stream.fromChunk(Chunk.unsafeFromArray(buffered)),
          Stream.repeatEffectChunkOption(pull)
        ).pipe(
          Stream.mapChunks(render),
          Stream.catchAll(() => Stream.make(`data: ${JSON.stringify(internalError().envelope)}\n\n`, doneFrame)),
          Stream.ensuring(Effect.suspend(() => (finished ? Effect.void : cancelOnDisconnect(handle)))),
          Stream.ensuring(release)
        )
        return sseResponse(request, frames, keepAlive, sessionHeaders(handle))
      }).pipe(Effect.onError(() => release))
    })

  /** The whole endpoint; every failure is an `HttpError`. */
  const handle = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function*() {
      const body = yield* request.json.pipe(
        Effect.mapError(() => invalidRequest("We could not parse the JSON body of your request.", null, "invalid_json"))
      )
      const chat = yield* Either.match(decodeChatRequest(body), { onLeft: Effect.fail, onRight: Effect.succeed })
      const refused = refuseUnsupported(chat)
      if (refused !== null) return yield* refused
      const input = yield* Either.match(turnInputOf(chat), { onLeft: Effect.fail, onRight: Effect.succeed })
      if (chat.session_id == null) {
        yield* projects.ensure(chat.project_id ?? "default").pipe(Effect.mapError(fromDomain))
      }
      const outputSchema = yield* Either.match(outputSchemaOf(chat), { onLeft: Effect.fail, onRight: Effect.succeed })
      const parameters = parametersOf(chat)
      const turn = yield* runner.startTurn({
        owner: yield* currentOwner,
        sessionId: chat.session_id ?? undefined,
        projectId: chat.project_id ?? undefined,
        messages: input.messages,
        systemPrompt: input.systemPrompt,
        model: registry.resolve(chat.model),
        outputSchema,
        parameters
      }).pipe(Effect.mapError(fromDomain))
      const context = projectionContextOf(turn.sessionId, turn.projectId, parameters)
      return yield* (chat.stream === true ? streamAnswer(request, turn, context) : jsonAnswer(turn, context)).pipe(
        Effect.onInterrupt(() => cancelOnDisconnect(turn))
      )
    })

  return { handle }
})
