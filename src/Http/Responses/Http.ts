/**
 * The responses group's handlers. `POST /v1/responses` validates the request, resolves what
 * it refers to in the log (`item_reference` inputs, `previous_response_id`), starts a turn in
 * its session's actor (a resent input finds its session as a stateless chat client's does),
 * and answers with the turn's events projected into a response or its event stream (see
 * `TurnAnswer`). A stored response is read back and deleted by its id, which names its turn.
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Option } from "effect"
import { AppConfig } from "../../AppConfig.js"
import { currentOwner } from "../../Auth.js"
import type { TurnStarted } from "../../Domain/SessionEvent.js"
import { claudeCodeToolNames } from "../../Domain/Tools.js"
import type { TurnHandle } from "../../Domain/Turn.js"
import { ModelRegistry } from "../../ModelRegistry.js"
import { SessionRunner } from "../../SessionRunner.js"
import { Sessions, type TurnLog } from "../../Sessions.js"
import { GatewayApi } from "../Api.js"
import { readJsonBody } from "../Decode.js"
import { failFromDomain, fromTurnFailure, invalidRequest, notFound } from "../Edge/Errors.js"
import { doneFrame } from "../Sse.js"
import {
  answerWithTurn,
  sessionHeaders,
  type StreamRenderer,
  streamTurn,
  turnEvents,
  whenAbandoned
} from "../TurnAnswer.js"
import { turnOfItemId, turnOfResponseId } from "./Ids.js"
import {
  brokenEventsOf,
  initialResponseState,
  keepAliveOf,
  type ResponseContext,
  responseEventsOf,
  responseOfEvents
} from "./Projection.js"
import {
  decodeResponsesRequest,
  entryOfOutput,
  inputEntriesOf,
  type InputEntry,
  isResponsesTurn,
  isStored,
  outputSchemaOf,
  parametersOf,
  refuseUnsupported,
  type ResolvedEntry,
  responseContextOf,
  turnInputOf
} from "./Request.js"
import { clientToolsOf } from "./Tools.js"
import type { OutputItem, ResponseStreamEvent } from "./Wire.js"

/** One stream event as SSE: the `event:` line names its type. */
const sseEvent = (event: ResponseStreamEvent) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

const sseEvents = (events: ReadonlyArray<ResponseStreamEvent>) => events.map(sseEvent).join("")

/**
 * The response's event stream, rendered as the turn's events come, ending with `[DONE]`.
 * Silent stretches get `keepalive` data events (numbered with the others): Codex's idle timer
 * sees only data, never comments. A conversation too long for the model fails inside the
 * stream, as `response.failed` with `context_length_exceeded`.
 */
const eventRenderer = (context: ResponseContext): StreamRenderer => {
  let state = initialResponseState
  let delivered = false
  return {
    render: (events) => {
      let text = ""
      for (const stored of events) {
        if (state.finished) break
        const [next, out] = responseEventsOf(state, stored, context)
        state = next
        text += sseEvents(out)
        if (state.finished) {
          delivered = true
          text += doneFrame
        }
      }
      return text
    },
    finished: () => delivered,
    broken: (error) => {
      if (state.finished) return ""
      const [next, out] = brokenEventsOf(state, context, error)
      state = next
      return sseEvents(out) + doneFrame
    },
    keepAlive: () => {
      const [next, event] = keepAliveOf(state)
      state = next
      return sseEvent(event)
    },
    // Codex compacts a conversation only on a `response.failed` that says it is too long.
    streamsFailure: (error) => error.code === "context_length_exceeded"
  }
}

/** A stored response: its turn's log and start. */
interface StoredResponse {
  readonly turnId: string
  readonly log: TurnLog
  readonly started: TurnStarted
}

/** The events of the turn itself, from its start through its end. */
const ownEvents = ({ log, turnId }: StoredResponse) =>
  log.events.filter(({ event }) => "turnId" in event && event.turnId === turnId && event._tag !== "ResponseDeleted")

/** The response of a stored turn, projected from its events. */
const projectedResponse = (found: StoredResponse) =>
  responseOfEvents(
    ownEvents(found),
    responseContextOf(found.log.sessionId, found.log.projectId, found.started.parameters)
  )
    .response

const responseNotFound = (id: string, param: string | null = null, code = "response_not_found") =>
  notFound(`No response found with id '${id}'.`, code, param)

export const ResponsesHandlers = HttpApiBuilder.group(GatewayApi, "responses", (handlers) =>
  Effect.gen(function*() {
    const runner = yield* SessionRunner
    const sessions = yield* Sessions
    const registry = yield* ModelRegistry
    const config = yield* AppConfig
    const keepAliveInterval = Duration.seconds(config.sseKeepAliveSeconds)

    const cancelOnDisconnect = whenAbandoned(runner, config.cancelOnDisconnect)

    /**
     * The caller's stored response of a turn: one answered through this API, kept (`store`
     * not false) and not deleted; none otherwise, whoever's turn it is.
     */
    const storedResponse = (owner: string | null, turnId: string | null) =>
      Effect.gen(function*() {
        if (turnId === null) return Option.none<StoredResponse>()
        const found = yield* sessions.turn(owner, turnId).pipe(Effect.catchAll(failFromDomain))
        if (Option.isNone(found)) return Option.none<StoredResponse>()
        const log = found.value
        const started = log.events[0]?.event
        const deleted = log.events.some(({ event }) => event._tag === "ResponseDeleted" && event.turnId === turnId)
        return started?._tag === "TurnStarted" && isResponsesTurn(started.parameters) &&
            isStored(started.parameters) && !deleted
          ? Option.some<StoredResponse>({ turnId, log, started })
          : Option.none<StoredResponse>()
      })

    /** Entries with every `item_reference` replaced by the stored item it names (a 400 naming it when there is none). */
    const resolveReferences = (owner: string | null, entries: ReadonlyArray<InputEntry>) =>
      Effect.gen(function*() {
        const outputs = new Map<string, ReadonlyArray<OutputItem>>()
        const resolved: Array<ResolvedEntry> = []
        for (const entry of entries) {
          if (entry._tag !== "Reference") {
            resolved.push(entry)
            continue
          }
          const turnId = turnOfItemId(entry.id)
          if (turnId !== null && !outputs.has(turnId)) {
            const found = yield* storedResponse(owner, turnId)
            outputs.set(turnId, Option.isSome(found) ? projectedResponse(found.value).output : [])
          }
          const item = turnId === null ? undefined : outputs.get(turnId)?.find((output) => output.id === entry.id)
          if (item === undefined) {
            return yield* invalidRequest(`Item with id '${entry.id}' not found.`, entry.param, "invalid_value")
          }
          const resolvedEntry = entryOfOutput(item)
          if (resolvedEntry !== null) resolved.push(resolvedEntry)
        }
        return resolved
      })

    /**
     * The session `previous_response_id` continues: that response's. Unknown, deleted, not
     * kept or another caller's is a 404; a response that later ones followed is a 400 (a
     * session's process holds one line of conversation: it cannot branch).
     */
    const previousSession = (owner: string | null, id: string, sessionId: string | null | undefined) =>
      Effect.gen(function*() {
        const found = yield* storedResponse(owner, turnOfResponseId(id))
        if (Option.isNone(found)) {
          return yield* notFound(
            `Previous response with id '${id}' not found.`,
            "previous_response_not_found",
            "previous_response_id"
          )
        }
        const { log, turnId } = found.value
        if (sessionId !== undefined && sessionId !== null && sessionId !== log.sessionId) {
          return yield* invalidRequest(
            "previous_response_id belongs to another session than session_id.",
            "previous_response_id",
            "invalid_value"
          )
        }
        const followed = log.events.some(({ event }) => event._tag === "TurnCompleted" && event.turnId !== turnId)
        if (followed) {
          return yield* invalidRequest(
            `Response '${id}' is not the latest of its conversation, and continuing from an earlier response is not supported: continue from the latest one, or send the whole input.`,
            "previous_response_id",
            "unsupported_value"
          )
        }
        return log.sessionId
      })

    const jsonAnswer = (handle: TurnHandle, context: ResponseContext) =>
      Effect.gen(function*() {
        const { failure, response } = responseOfEvents(yield* turnEvents(handle), context)
        if (failure !== null) return yield* fromTurnFailure(failure)
        return HttpServerResponse.unsafeJson(response, { headers: sessionHeaders(handle) })
      })

    /** The whole endpoint; every failure is an `HttpError`. */
    const createResponse = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const create = yield* readJsonBody(request, decodeResponsesRequest)
        const refused = refuseUnsupported(create)
        if (refused !== null) return yield* refused
        const clientTools = yield* (
          clientToolsOf(create, config.clientToolsKeepBuiltins ? { reservedNames: claudeCodeToolNames } : {})
        )
        const owner = yield* currentOwner
        const entries = yield* resolveReferences(owner, yield* (inputEntriesOf(create)))
        const input = turnInputOf(create.instructions, entries)
        const sessionId = create.previous_response_id
          ? yield* previousSession(owner, create.previous_response_id, create.session_id)
          : create.session_id ?? undefined
        const parameters = parametersOf(create)
        return yield* answerWithTurn(
          runner.startTurn({
            owner,
            sessionId,
            projectId: create.project_id ?? undefined,
            messages: input.messages,
            systemPrompt: input.systemPrompt,
            model: registry.resolve(create.model),
            outputSchema: outputSchemaOf(create),
            clientTools,
            parameters,
            cancelIfCallerGone: config.cancelOnDisconnect
          }).pipe(Effect.catchAll(failFromDomain)),
          (handle) => {
            const context = responseContextOf(handle.sessionId, handle.projectId, parameters)
            return create.stream === true
              ? streamTurn({
                request,
                handle,
                renderer: eventRenderer(context),
                keepAliveInterval,
                headers: sessionHeaders(handle),
                abandoned: cancelOnDisconnect(handle)
              })
              : jsonAnswer(handle, context)
          },
          cancelOnDisconnect
        )
      })

    /** The caller's stored response `id`, or a 404. */
    const findResponse = (id: string) =>
      Effect.flatMap(currentOwner, (owner) => storedResponse(owner, turnOfResponseId(id))).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(responseNotFound(id)),
          onSome: Effect.succeed
        }))
      )

    return handlers
      .handleRaw("createResponse", ({ request }) => createResponse(request))
      .handle("getResponse", ({ path }) => Effect.map(findResponse(path.response_id), projectedResponse))
      .handle("deleteResponse", ({ path }) =>
        Effect.gen(function*() {
          const found = yield* findResponse(path.response_id)
          yield* Effect.flatMap(
            currentOwner,
            (owner) => sessions.deleteResponse(owner, found.log.sessionId, found.turnId)
          ).pipe(Effect.catchAll(failFromDomain))
          return { id: path.response_id, object: "response" as const, deleted: true as const }
        }))
  }))
