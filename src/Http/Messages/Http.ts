/**
 * The messages group's handlers. `POST /v1/messages` validates the request, starts a turn in
 * its session's actor (a resent conversation finds its session as a stateless chat client's
 * does), and answers with the turn's events projected into Anthropic's message or event
 * stream (see `TurnAnswer`). `POST /v1/messages/count_tokens` estimates.
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Duration, Effect } from "effect"
import { AppConfig } from "../../AppConfig.js"
import { currentOwner } from "../../Auth.js"
import { claudeCodeToolNames } from "../../Domain/Tools.js"
import { ModelRegistry } from "../../ModelRegistry.js"
import { SessionRunner } from "../../SessionRunner.js"
import { GatewayApi } from "../Api.js"
import { readJsonBody } from "../Decode.js"
import { failFromDomain, fromDomain, fromTurnFailure } from "../Edge/Errors.js"
import {
  answerWithTurn,
  sessionHeaders,
  type StreamRenderer,
  streamTurn,
  turnEvents,
  whenAbandoned
} from "../TurnAnswer.js"
import { initialMessageState, messageEventsOf, type MessageFrame, messageOf } from "./Projection.js"
import { clientToolsOf, decodeMessagesRequest, messagesInputOf, parametersOf, stopSequencesOf } from "./Request.js"
import type { MessagesRequest } from "./Wire.js"

/** One SSE event in Anthropic's framing: the `event:` line names its type. */
const sseEvent = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`

const renderFrame = (frame: MessageFrame): string =>
  frame._tag === "Event"
    ? sseEvent(frame.event.type, frame.event)
    : sseEvent("error", fromTurnFailure(frame.failure).anthropicEnvelope)

/** Anthropic's stream, rendered as the turn's events come, with `ping` events in silences. */
const messageRenderer = (stops: ReadonlyArray<string>): StreamRenderer => {
  let state = initialMessageState
  return {
    render: (events) => {
      let text = ""
      for (const stored of events) {
        const [next, frames] = messageEventsOf(state, stored, stops)
        state = next
        for (const frame of frames) text += renderFrame(frame)
      }
      return text
    },
    finished: () => state.done,
    broken: (error) => sseEvent("error", fromDomain(error).anthropicEnvelope),
    keepAlive: () => sseEvent("ping", { type: "ping" })
  }
}

/**
 * About four characters per token over everything the model would read: Claude Code has no
 * way to count tokens without running a turn.
 */
const estimateTokens = (request: MessagesRequest): number =>
  Math.ceil(JSON.stringify([request.system ?? "", request.messages, request.tools ?? []]).length / 4)

export const MessagesHandlers = HttpApiBuilder.group(GatewayApi, "messages", (handlers) =>
  Effect.gen(function*() {
    const runner = yield* SessionRunner
    const registry = yield* ModelRegistry
    const config = yield* AppConfig
    const keepAliveInterval = Duration.seconds(config.sseKeepAliveSeconds)

    const cancelOnDisconnect = whenAbandoned(runner, config.cancelOnDisconnect)

    const readBody = (request: HttpServerRequest.HttpServerRequest) => readJsonBody(request, decodeMessagesRequest)

    const createMessage = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const body = yield* readBody(request)
        const input = yield* (messagesInputOf(body))
        const clientTools = yield* (
          clientToolsOf(body, config.clientToolsKeepBuiltins ? { reservedNames: claudeCodeToolNames } : {})
        )
        const parameters = parametersOf(body)
        const stops = stopSequencesOf(parameters)
        return yield* answerWithTurn(
          runner.startTurn({
            owner: yield* currentOwner,
            messages: input.messages,
            systemPrompt: input.systemPrompt,
            model: registry.resolve(body.model),
            clientTools,
            parameters,
            cancelIfCallerGone: config.cancelOnDisconnect
          }).pipe(Effect.catchAll(failFromDomain)),
          (handle) =>
            body.stream === true
              ? streamTurn({
                request,
                handle,
                renderer: messageRenderer(stops),
                keepAliveInterval,
                headers: sessionHeaders(handle),
                abandoned: cancelOnDisconnect(handle)
              })
              : Effect.flatMap(turnEvents(handle), (events) => {
                const message = messageOf(events, stops)
                return "_tag" in message
                  ? Effect.fail(fromTurnFailure(message))
                  : Effect.succeed(HttpServerResponse.unsafeJson(message, { headers: sessionHeaders(handle) }))
              }),
          cancelOnDisconnect
        )
      })

    return handlers
      .handleRaw("createMessage", ({ request }) => createMessage(request))
      .handleRaw("countMessageTokens", ({ request }) =>
        Effect.map(
          readBody(request),
          (body) => HttpServerResponse.unsafeJson({ input_tokens: estimateTokens(body) })
        ))
  }))
