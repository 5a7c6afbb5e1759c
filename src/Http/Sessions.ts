/**
 * The sessions and projects APIs: read models projected from the event log, session and
 * project lifecycle, and the raw event feed (JSON pages, or SSE that replays and then
 * follows live, resumable with `Last-Event-ID`).
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Schema, Stream } from "effect"
import { AppConfig } from "../AppConfig.js"
import type { ConversationMessage } from "../Domain/Conversation.js"
import { isTurnTerminal, SessionEvent, type StoredEvent } from "../Domain/SessionEvent.js"
import { Projects } from "../Projects.js"
import { SessionRunner } from "../SessionRunner.js"
import { historyOf } from "../SessionRunner/history.js"
import { SessionStore } from "../SessionStore.js"
import { type EventsParams, GatewayApi } from "./Api.js"
import { projectionContextOf } from "./ChatRequest.js"
import { fromDomain, invalidRequest } from "./Errors.js"
import { callersSession, currentOwner } from "./Ownership.js"
import { chunksOf, initialChunkState, type ProjectionContext } from "./Projection.js"
import { projectOf, sessionOf, statsOf } from "./Resources.js"
import { renderFrame, sseResponse } from "./Sse.js"

const encodeEvent = Schema.encodeSync(SessionEvent)

const eventJson = (stored: StoredEvent) => ({
  id: stored.sequence,
  type: stored.event._tag,
  created_at: Math.floor(stored.timestamp / 1000),
  timestamp_ms: stored.timestamp,
  data: encodeEvent(stored.event)
})

/** The conversation in OpenAI's message shape (images as data URLs). */
const openAiMessage = (message: ConversationMessage) => {
  const onlyText = message.content.every((part) => part._tag === "text")
  return {
    role: message.role,
    content: onlyText
      ? message.content.map((part) => (part._tag === "text" ? part.text : "")).join("")
      : message.content.map((part) =>
        part._tag === "text"
          ? { type: "text" as const, text: part.text }
          : { type: "image_url" as const, image_url: { url: `data:${part.mediaType};base64,${part.data}` } }
      )
  }
}

/**
 * Replays turns as the chat.completion.chunk frames their streams sent: the same pure
 * projection over the same events, so the bytes match. Each frame carries the sequence
 * of the event that produced it as its SSE id.
 */
const chunkFrames = (sessionId: string, projectId: string) => {
  let context: ProjectionContext | null = null
  let state = initialChunkState
  return (stored: StoredEvent): ReadonlyArray<string> => {
    if (stored.event._tag === "TurnStarted") {
      context = projectionContextOf(sessionId, projectId, stored.event.parameters)
      state = initialChunkState
    }
    if (context === null || !("turnId" in stored.event)) return []
    const [next, frames] = chunksOf(state, stored, context)
    state = next
    return frames.map((frame) => `id: ${stored.sequence}\n${renderFrame(frame)}`)
  }
}

export const SessionsHandlers = HttpApiBuilder.group(GatewayApi, "sessions", (handlers) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const runner = yield* SessionRunner
    const projects = yield* Projects
    const config = yield* AppConfig
    const keepAlive = Duration.seconds(config.sseKeepAliveSeconds)

    const summaryOf = (sessionId: string) =>
      Effect.flatMap(callersSession(store, sessionId), (summary) =>
        Effect.map(runner.activity(sessionId), (activity) => sessionOf(summary, activity)))

    const eventsOf = (
      sessionId: string,
      request: HttpServerRequest.HttpServerRequest,
      params: typeof EventsParams.Type
    ) =>
      Effect.gen(function*() {
        const { projectId } = yield* callersSession(store, sessionId)
        const lastEventId = Number(request.headers["last-event-id"])
        const after = Number.isInteger(lastEventId) && lastEventId >= 0 ? lastEventId : (params.after ?? 0)
        const wantsStream = params.stream || (request.headers["accept"] ?? "").includes("text/event-stream")

        if (!wantsStream) {
          const page = yield* store.read(sessionId, { after, limit: params.limit + 1 })
          const data = page.slice(0, params.limit)
          return HttpServerResponse.unsafeJson({
            object: "list",
            session_id: sessionId,
            data: data.map(eventJson),
            has_more: page.length > params.limit,
            last_event_id: data[data.length - 1]?.sequence ?? after
          })
        }

        let events = store.tail(sessionId, after)
        if (params.turn_id !== undefined) {
          const turnId = params.turn_id
          events = events.pipe(
            Stream.filter((stored) =>
              "turnId" in stored.event && stored.event.turnId === turnId
            ),
            Stream.takeUntil((stored) => isTurnTerminal(stored.event))
          )
        }
        const frames = params.format === "chunks"
          ? events.pipe(Stream.map(chunkFrames(sessionId, projectId)), Stream.flattenIterables)
          : events.pipe(
            Stream.map((stored) =>
              `id: ${stored.sequence}\nevent: ${stored.event._tag}\ndata: ${JSON.stringify(eventJson(stored))}\n\n`
            )
          )
        // A first comment sends the headers at once, even when nothing is there to replay yet.
        return sseResponse(request, Stream.concat(Stream.make(": connected\n\n"), frames.pipe(Stream.orDie)), keepAlive)
      })

    return handlers
      .handle("createSession", ({ payload }) =>
        projects.ensure(payload.project_id ?? "default").pipe(
          Effect.zipRight(
            Effect.flatMap(currentOwner, (owner) => runner.createSession(payload.project_id ?? "default", owner))
          ),
          Effect.flatMap(({ sessionId }) => summaryOf(sessionId)),
          Effect.mapError(fromDomain)
        ))
      .handle("listSessions", ({ urlParams }) =>
        Effect.gen(function*() {
          const { sessions, total } = yield* store.listSessions({
            owner: yield* currentOwner,
            projectId: urlParams.project_id,
            limit: urlParams.limit,
            offset: urlParams.offset
          })
          const data = yield* Effect.forEach(
            sessions,
            (summary) => Effect.map(runner.activity(summary.sessionId), (activity) => sessionOf(summary, activity))
          )
          return {
            object: "list" as const,
            data,
            total,
            limit: urlParams.limit,
            offset: urlParams.offset,
            has_more: urlParams.offset + data.length < total
          }
        }).pipe(Effect.mapError(fromDomain)))
      .handle("sessionStats", () =>
        Effect.gen(function*() {
          const totals = yield* store.totals(yield* currentOwner)
          return statsOf(totals, yield* runner.runningCount, yield* runner.warmCount)
        }).pipe(Effect.mapError(fromDomain)))
      .handle("getSession", ({ path }) => summaryOf(path.session_id).pipe(Effect.mapError(fromDomain)))
      .handle("deleteSession", ({ path, urlParams }) =>
        callersSession(store, path.session_id).pipe(
          Effect.zipRight(runner.closeSession(path.session_id, { purge: urlParams.purge })),
          Effect.as({ id: path.session_id, object: "session", deleted: true, purged: urlParams.purge }),
          Effect.mapError(fromDomain)
        ))
      .handle("sessionMessages", ({ path }) =>
        Effect.gen(function*() {
          yield* callersSession(store, path.session_id)
          const events = yield* store.read(path.session_id)
          return {
            object: "list" as const,
            session_id: path.session_id,
            data: historyOf(events).conversation.map(openAiMessage)
          }
        }).pipe(Effect.mapError(fromDomain)))
      .handleRaw(
        "sessionEvents",
        ({ path, request, urlParams }) =>
          eventsOf(path.session_id, request, urlParams).pipe(Effect.mapError(fromDomain))
      )
  }))

export const ProjectsHandlers = HttpApiBuilder.group(GatewayApi, "projects", (handlers) =>
  Effect.gen(function*() {
    const projects = yield* Projects
    return handlers
      .handle("createProject", ({ payload }) => {
        if (payload.path !== undefined && payload.id !== undefined && payload.path !== payload.id) {
          return Effect.fail(
            invalidRequest("path must name the project's own directory (its id)", "path", "invalid_value")
          )
        }
        return projects.create({ id: payload.id ?? payload.path, name: payload.name, description: payload.description })
          .pipe(
            Effect.map(projectOf),
            Effect.mapError(fromDomain)
          )
      })
      .handle("listProjects", ({ urlParams }) =>
        projects.list.pipe(
          Effect.map((all) => {
            const data = all.slice(urlParams.offset, urlParams.offset + urlParams.limit).map(projectOf)
            return {
              object: "list" as const,
              data,
              total: all.length,
              limit: urlParams.limit,
              offset: urlParams.offset,
              has_more: urlParams.offset + data.length < all.length
            }
          }),
          Effect.mapError(fromDomain)
        ))
      .handle("getProject", ({ path }) =>
        projects.get(path.project_id).pipe(Effect.map(projectOf), Effect.mapError(fromDomain)))
      .handle("deleteProject", ({ path, urlParams }) =>
        projects.remove(path.project_id, { removeFiles: urlParams.purge }).pipe(
          Effect.as({ id: path.project_id, object: "project", deleted: true, purged: urlParams.purge }),
          Effect.mapError(fromDomain)
        ))
  }))
