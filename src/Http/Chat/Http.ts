/**
 * The chat group's handlers. `POST /v1/chat/completions` validates the request, starts a
 * turn in its session's actor, and answers with a projection of the turn's logged events,
 * as one JSON body or as an SSE stream. A streamed answer's status is settled before the
 * first byte: the handler waits until the upstream accepted the model (or the turn ended),
 * so a rejected model is a plain HTTP 400 in both modes.
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Chunk, Duration, Effect, Either, Exit, Option, Scope, Stream } from "effect"
import { AppConfig } from "../../AppConfig.js"
import { currentOwner } from "../../Auth.js"
import type { StoredEvent } from "../../Domain/SessionEvent.js"
import { claudeCodeToolNames } from "../../Domain/Tools.js"
import type { TurnHandle } from "../../Domain/Turn.js"
import { ModelRegistry } from "../../ModelRegistry.js"
import { SessionRunner } from "../../SessionRunner.js"
import { Sessions } from "../../Sessions.js"
import { GatewayApi } from "../Api.js"
import { fromCancel, fromDomain, type HttpError, internalError, invalidRequest } from "../Edge/Errors.js"
import { doneFrame, renderFrame, sseResponse } from "../Sse.js"
import {
  chunksOf,
  completionOf,
  initialChunkState,
  type ProjectionContext,
  settlesStatus,
  type TurnFailure
} from "./Projection.js"
import {
  decodeChatRequest,
  outputSchemaOf,
  parametersOf,
  projectionContextOf,
  refuseUnsupported,
  turnInputOf
} from "./Request.js"
import { clientToolsOf } from "./Tools.js"

const failureToHttp = (failure: TurnFailure): HttpError =>
  failure._tag === "Failed" ? fromDomain(failure.error) : fromCancel(failure.reason)

const sessionHeaders = (handle: TurnHandle) => ({
  "x-session-id": handle.sessionId,
  "x-project-id": handle.projectId
})

const fromEither = <A>(either: Either.Either<A, HttpError>) =>
  Either.match(either, { onLeft: Effect.fail, onRight: Effect.succeed })

const seconds = (millis: number) => Math.floor(millis / 1000)

export const ChatHandlers = HttpApiBuilder.group(GatewayApi, "chat", (handlers) =>
  Effect.gen(function*() {
    const runner = yield* SessionRunner
    const sessions = yield* Sessions
    const registry = yield* ModelRegistry
    const config = yield* AppConfig
    const keepAlive = Duration.seconds(config.sseKeepAliveSeconds)

    /** A client gone before its answer ended cancels its turn (that one only), unless configured to let it run. */
    const cancelOnDisconnect = (handle: TurnHandle) =>
      config.cancelOnDisconnect
        ? Effect.asVoid(runner.cancel(handle.sessionId, "disconnect", handle.turnId))
        : Effect.void

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
    const streamAnswer = (
      request: HttpServerRequest.HttpServerRequest,
      handle: TurnHandle,
      context: ProjectionContext
    ) =>
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
    const createChatCompletion = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const body = yield* request.json.pipe(
          Effect.mapError(() =>
            invalidRequest("We could not parse the JSON body of your request.", null, "invalid_json")
          )
        )
        const chat = yield* fromEither(decodeChatRequest(body))
        const refused = refuseUnsupported(chat)
        if (refused !== null) return yield* refused
        const clientTools = yield* fromEither(
          clientToolsOf(chat, config.clientToolsKeepBuiltins ? { reservedNames: claudeCodeToolNames } : {})
        )
        const input = yield* fromEither(turnInputOf(chat))
        const outputSchema = yield* fromEither(outputSchemaOf(chat))
        const parameters = parametersOf(chat)
        const owner = yield* currentOwner
        // The turn is followed from the moment it starts: a client gone at any point after it
        // cancels it.
        return yield* Effect.uninterruptibleMask((restore) =>
          restore(runner.startTurn({
            owner,
            sessionId: chat.session_id ?? undefined,
            projectId: chat.project_id ?? undefined,
            messages: input.messages,
            systemPrompt: input.systemPrompt,
            model: registry.resolve(chat.model),
            outputSchema,
            clientTools,
            parameters,
            cancelIfCallerGone: config.cancelOnDisconnect
          })).pipe(
            Effect.mapError(fromDomain),
            Effect.flatMap((turn) => {
              const context = projectionContextOf(turn.sessionId, turn.projectId, parameters)
              return restore(chat.stream === true ? streamAnswer(request, turn, context) : jsonAnswer(turn, context))
                .pipe(Effect.onInterrupt(() => cancelOnDisconnect(turn)))
            })
          )
        )
      })

    return handlers
      .handleRaw("createChatCompletion", ({ request }) => createChatCompletion(request))
      .handle("cancelChatCompletion", ({ path }) =>
        Effect.flatMap(currentOwner, (owner) => sessions.cancelTurn(owner, path.session_id)).pipe(
          Effect.map((cancelled) => ({
            session_id: path.session_id,
            object: "chat.completion.cancellation" as const,
            cancelled,
            status: cancelled ? "cancelled" as const : "not_running" as const
          })),
          Effect.mapError(fromDomain)
        ))
      .handle("chatCompletionStatus", ({ path }) =>
        Effect.flatMap(currentOwner, (owner) =>
          sessions.get(owner, path.session_id)).pipe(
            Effect.map(({ activity, summary }) => ({
              session_id: path.session_id,
              object: "chat.completion.status" as const,
              status: summary.closed ? "closed" as const : activity.running ? "running" as const : "idle" as const,
              is_running: activity.running,
              turn_id: activity.turnId,
              started_at: activity.startedAt === null ? null : seconds(activity.startedAt),
              project_id: summary.projectId,
              warm: activity.warm,
              model: summary.model ?? summary.lastModel,
              created_at: seconds(summary.createdAt),
              updated_at: seconds(summary.updatedAt),
              total_tokens: summary.promptTokens + summary.completionTokens,
              total_cost: summary.costUsd,
              message_count: summary.messageCount
            })),
            Effect.mapError(fromDomain)
          ))
  }))
