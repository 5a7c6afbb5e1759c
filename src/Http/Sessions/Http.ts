/**
 * The sessions group's handlers: read models projected from the event log, session
 * lifecycle, and the raw event feed (JSON pages, or SSE that replays and then follows live,
 * resumable with `Last-Event-ID`). Ownership is the `Sessions` service's: each handler
 * passes the caller along.
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Schema, Stream } from "effect"
import { AppConfig } from "../../AppConfig.js"
import { currentOwner } from "../../Auth.js"
import type { ConversationMessage } from "../../Domain/Conversation.js"
import { isTurnTerminal, SessionEvent, type StoredEvent } from "../../Domain/SessionEvent.js"
import { Sessions, type SessionStatistics, type SessionView } from "../../Sessions.js"
import { GatewayApi } from "../Api.js"
import { chunksOf, initialChunkState, type ProjectionContext } from "../Chat/Projection.js"
import { projectionContextOf } from "../Chat/Request.js"
import { failFromDomain } from "../Edge/Errors.js"
import { pageOf, windowOf } from "../Params.js"
import { renderFrame, sseResponse } from "../Sse.js"
import type { EventsParams, Session, SessionStats } from "./Api.js"

const seconds = (millis: number) => Math.floor(millis / 1000)

/** A session in our shape and the original project's, side by side. */
const sessionOf = ({ activity, summary }: SessionView): Session => ({
  id: summary.sessionId,
  object: "session",
  project_id: summary.projectId,
  title: summary.title ?? `Session ${summary.sessionId.slice(0, 8)}`,
  created_at: seconds(summary.createdAt),
  updated_at: seconds(summary.updatedAt),
  status: summary.closed ? "closed" : activity.running ? "running" : "idle",
  is_active: !summary.closed,
  model: summary.model ?? summary.lastModel,
  system_prompt: summary.systemPrompt,
  turn_count: summary.turns,
  completed_turns: summary.completedTurns,
  message_count: summary.messageCount,
  total_tokens: summary.promptTokens + summary.completionTokens,
  prompt_tokens: summary.promptTokens,
  completion_tokens: summary.completionTokens,
  cached_tokens: summary.cachedTokens,
  total_cost_usd: summary.costUsd,
  total_cost: summary.costUsd,
  warm: activity.warm,
  last_event_id: summary.lastSequence
})

const statsOf = ({ liveSessions, runningTurns, totals, warmProcesses }: SessionStatistics): SessionStats => {
  const totalTokens = totals.promptTokens + totals.completionTokens
  const activeSessions = totals.sessions - totals.closedSessions
  return {
    object: "session.stats",
    total_sessions: totals.sessions,
    active_sessions: activeSessions,
    closed_sessions: totals.closedSessions,
    running_turns: runningTurns,
    warm_processes: warmProcesses,
    total_turns: totals.turns,
    completed_turns: totals.completedTurns,
    failed_turns: totals.failedTurns,
    cancelled_turns: totals.cancelledTurns,
    total_tokens: totalTokens,
    prompt_tokens: totals.promptTokens,
    completion_tokens: totals.completionTokens,
    total_cost_usd: totals.costUsd,
    session_stats: {
      total_sessions: totals.sessions,
      active_sessions: activeSessions,
      total_tokens: totalTokens,
      total_cost: totals.costUsd
    },
    active_claude_sessions: liveSessions.length,
    claude_sessions: liveSessions
  }
}

const encodeEvent = Schema.encodeSync(SessionEvent)

const eventJson = (stored: StoredEvent) => ({
  id: stored.sequence,
  type: stored.event._tag,
  created_at: seconds(stored.timestamp),
  timestamp_ms: stored.timestamp,
  data: encodeEvent(stored.event)
})

/** The conversation in OpenAI's message shape (images as data URLs, tool calls and results as OpenAI's). */
const openAiMessage = (message: ConversationMessage) => {
  const onlyText = message.content.every((part) => part._tag === "text")
  const calls = message.toolCalls ?? []
  const content = onlyText
    ? message.content.map((part) => (part._tag === "text" ? part.text : "")).join("")
    : message.content.map((part) =>
      part._tag === "text"
        ? { type: "text" as const, text: part.text }
        : { type: "image_url" as const, image_url: { url: `data:${part.mediaType};base64,${part.data}` } }
    )
  return {
    role: message.role,
    content: calls.length > 0 && content === "" ? null : content,
    ...(calls.length > 0
      ? {
        tool_calls: calls.map((call) => ({
          id: call.id,
          type: "function" as const,
          function: { name: call.name, arguments: call.arguments }
        }))
      }
      : {}),
    ...(message.toolCallId !== undefined ? { tool_call_id: message.toolCallId } : {})
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
    const sessions = yield* Sessions
    const config = yield* AppConfig
    const keepAlive = Duration.seconds(config.sseKeepAliveSeconds)

    const eventsOf = (
      sessionId: string,
      request: HttpServerRequest.HttpServerRequest,
      params: typeof EventsParams.Type
    ) =>
      Effect.gen(function*() {
        const caller = yield* currentOwner
        const lastEventId = Number(request.headers["last-event-id"])
        const after = Number.isInteger(lastEventId) && lastEventId >= 0 ? lastEventId : (params.after ?? 0)
        const wantsStream = params.stream || (request.headers["accept"] ?? "").includes("text/event-stream")

        if (!wantsStream) {
          const { events, hasMore } = yield* sessions.events(caller, sessionId, { after, limit: params.limit })
          return HttpServerResponse.unsafeJson({
            object: "list",
            session_id: sessionId,
            data: events.map(eventJson),
            has_more: hasMore,
            last_event_id: events[events.length - 1]?.sequence ?? after
          })
        }

        const followed = yield* sessions.follow(caller, sessionId, after)
        let events = followed.events
        if (params.turn_id !== undefined) {
          const turnId = params.turn_id
          events = events.pipe(
            Stream.filter((stored) => "turnId" in stored.event && stored.event.turnId === turnId),
            Stream.takeUntil((stored) => isTurnTerminal(stored.event))
          )
        }
        const frames = params.format === "chunks"
          ? events.pipe(Stream.map(chunkFrames(sessionId, followed.summary.projectId)), Stream.flattenIterables)
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
        Effect.flatMap(currentOwner, (owner) =>
          sessions.create({
            owner,
            projectId: payload.project_id,
            title: payload.title,
            model: payload.model,
            systemPrompt: payload.system_prompt
          })).pipe(Effect.map(sessionOf), Effect.catchAll(failFromDomain)))
      .handle("listSessions", ({ urlParams }) =>
        Effect.gen(function*() {
          const window = windowOf(urlParams)
          const { sessions: views, total } = yield* sessions.list(yield* currentOwner, {
            projectId: urlParams.project_id,
            ...window
          })
          return { object: "list" as const, data: views.map(sessionOf), ...pageOf(window, views.length, total) }
        }).pipe(Effect.catchAll(failFromDomain)))
      .handle("sessionStats", () =>
        Effect.flatMap(currentOwner, sessions.statistics).pipe(Effect.map(statsOf), Effect.catchAll(failFromDomain)))
      .handle("getSession", ({ path }) =>
        Effect.flatMap(currentOwner, (owner) =>
          sessions.get(owner, path.session_id)).pipe(
            Effect.map(sessionOf),
            Effect.catchAll(failFromDomain)
          ))
      .handle("deleteSession", ({ path, urlParams }) =>
        Effect.flatMap(currentOwner, (owner) =>
          sessions.close(owner, path.session_id, { purge: urlParams.purge })).pipe(
            Effect.as({
              id: path.session_id,
              object: "session" as const,
              deleted: true,
              purged: urlParams.purge,
              session_id: path.session_id,
              status: "deleted" as const
            }),
            Effect.catchAll(failFromDomain)
          ))
      .handle("sessionMessages", ({ path }) =>
        Effect.flatMap(currentOwner, (owner) =>
          sessions.conversation(owner, path.session_id)).pipe(
            Effect.map((conversation) => ({
              object: "list" as const,
              session_id: path.session_id,
              data: conversation.map(openAiMessage)
            })),
            Effect.catchAll(failFromDomain)
          ))
      .handleRaw("sessionEvents", ({ path, request, urlParams }) =>
        eventsOf(path.session_id, request, urlParams).pipe(Effect.catchAll(failFromDomain)))
  }))
