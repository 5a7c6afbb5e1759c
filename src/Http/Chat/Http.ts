/**
 * The chat group's handlers. `POST /v1/chat/completions` validates the request, starts a
 * turn in its session's actor, and answers with a projection of the turn's logged events,
 * as one JSON body or as an SSE stream (see `TurnAnswer`).
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Duration, Effect } from "effect"
import { AppConfig } from "../../AppConfig.js"
import { currentOwner } from "../../Auth.js"
import { claudeCodeToolNames } from "../../Domain/Tools.js"
import type { TurnHandle } from "../../Domain/Turn.js"
import { ModelRegistry } from "../../ModelRegistry.js"
import { SessionRunner } from "../../SessionRunner.js"
import { Sessions } from "../../Sessions.js"
import { GatewayApi } from "../Api.js"
import { readJsonBody } from "../Decode.js"
import { failFromDomain, fromDomain, fromTurnFailure } from "../Edge/Errors.js"
import { doneFrame, keepAliveFrame, renderFrame } from "../Sse.js"
import {
  answerWithTurn,
  sessionHeaders,
  type StreamRenderer,
  streamTurn,
  turnEvents,
  whenAbandoned
} from "../TurnAnswer.js"
import { chunksOf, completionOf, initialChunkState, type ProjectionContext } from "./Projection.js"
import {
  decodeChatRequest,
  outputSchemaOf,
  parametersOf,
  projectionContextOf,
  refuseUnsupported,
  turnInputOf
} from "./Request.js"
import { clientToolsOf } from "./Tools.js"

const seconds = (millis: number) => Math.floor(millis / 1000)

export const ChatHandlers = HttpApiBuilder.group(GatewayApi, "chat", (handlers) =>
  Effect.gen(function*() {
    const runner = yield* SessionRunner
    const sessions = yield* Sessions
    const registry = yield* ModelRegistry
    const config = yield* AppConfig
    const keepAlive = Duration.seconds(config.sseKeepAliveSeconds)

    const cancelOnDisconnect = whenAbandoned(runner, config.cancelOnDisconnect)

    const jsonAnswer = (handle: TurnHandle, context: ProjectionContext) =>
      Effect.gen(function*() {
        const completion = completionOf(yield* turnEvents(handle), context)
        if ("_tag" in completion) return yield* fromTurnFailure(completion)
        return HttpServerResponse.unsafeJson(completion, { headers: sessionHeaders(handle) })
      })

    /** The chunks of a chat completion stream, rendered as the turn's events come. */
    const chunkRenderer = (context: ProjectionContext): StreamRenderer => {
      let state = initialChunkState
      let finished = false
      return {
        render: (events) => {
          let text = ""
          for (const stored of events) {
            const [next, frames] = chunksOf(state, stored, context)
            state = next
            for (const frame of frames) {
              if (frame._tag === "Done") finished = true
              text += renderFrame(frame)
            }
          }
          return text
        },
        finished: () => finished,
        broken: (error) => `data: ${JSON.stringify(fromDomain(error).envelope)}\n\n${doneFrame}`,
        keepAlive: () => keepAliveFrame
      }
    }

    const streamAnswer = (
      request: HttpServerRequest.HttpServerRequest,
      handle: TurnHandle,
      context: ProjectionContext
    ) =>
      streamTurn({
        request,
        handle,
        renderer: chunkRenderer(context),
        keepAliveInterval: keepAlive,
        headers: sessionHeaders(handle),
        abandoned: cancelOnDisconnect(handle)
      })

    /** The whole endpoint; every failure is an `HttpError`. */
    const createChatCompletion = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const chat = yield* readJsonBody(request, decodeChatRequest)
        const refused = refuseUnsupported(chat)
        if (refused !== null) return yield* refused
        const clientTools = yield* (
          clientToolsOf(chat, config.clientToolsKeepBuiltins ? { reservedNames: claudeCodeToolNames } : {})
        )
        const input = yield* (turnInputOf(chat))
        const outputSchema = yield* (outputSchemaOf(chat))
        const parameters = parametersOf(chat)
        const owner = yield* currentOwner
        return yield* answerWithTurn(
          runner.startTurn({
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
          }).pipe(Effect.catchAll(failFromDomain)),
          (turn) => {
            const context = projectionContextOf(turn.sessionId, turn.projectId, parameters)
            return chat.stream === true ? streamAnswer(request, turn, context) : jsonAnswer(turn, context)
          },
          cancelOnDisconnect
        )
      })

    return handlers
      .handleRaw("createChatCompletion", ({ request }) => createChatCompletion(request))
      .handle("cancelChatCompletion", ({ path }) =>
        Effect.flatMap(currentOwner, (owner) =>
          sessions.cancelTurn(owner, path.session_id)).pipe(
            Effect.map((cancelled) => ({
              session_id: path.session_id,
              object: "chat.completion.cancellation" as const,
              cancelled,
              status: cancelled ? "cancelled" as const : "not_running" as const
            })),
            Effect.catchAll(failFromDomain)
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
            Effect.catchAll(failFromDomain)
          ))
  }))
