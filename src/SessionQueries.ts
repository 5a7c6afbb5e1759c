/**
 * SessionQueries: the read models of the event log, queried in SQL over the events'
 * payloads: session summaries and totals, the session a resent history belongs to, where a
 * turn starts, and the turns a stopped gateway left unfinished. It never writes.
 */
import { SqlClient, type Statement } from "@effect/sql"
import { Context, Effect, Layer, Option } from "effect"
import type { StoreError } from "./Domain/Errors.js"
import { projectStreamPrefix, type SessionSummary, type SessionTotals } from "./Domain/Session.js"
import { storeError } from "./SessionStore.js"

export declare namespace SessionQueries {
  export interface Service {
    /** Session summaries of an owner, most recently active first, and how many there are in all. */
    readonly listSessions: (options: {
      /** Only the sessions of this owner (null: sessions created with auth off). */
      readonly owner: string | null
      readonly projectId?: string | undefined
      readonly limit: number
      readonly offset: number
    }) => Effect.Effect<{ readonly sessions: ReadonlyArray<SessionSummary>; readonly total: number }, StoreError>
    /** One session's summary, whoever owns it. */
    readonly sessionSummary: (sessionId: string) => Effect.Effect<Option.Option<SessionSummary>, StoreError>
    /** Totals over the sessions of an owner. */
    readonly totals: (owner: string | null) => Effect.Effect<SessionTotals, StoreError>
    /**
     * The owner's open session of a project whose conversation, after its latest completed
     * turn, has this digest (later turns that failed or were cancelled left it as it was),
     * most recent first.
     */
    readonly findByDigest: (
      owner: string | null,
      projectId: string,
      digest: string
    ) => Effect.Effect<Option.Option<string>, StoreError>
    /** Where a turn starts: its session and the sequence of its `TurnStarted`, whoever owns it. */
    readonly turnStart: (
      turnId: string
    ) => Effect.Effect<Option.Option<{ readonly sessionId: string; readonly sequence: number }>, StoreError>
    /** Turns with a `TurnStarted` but no end (the gateway stopped while they ran). */
    readonly unfinishedTurns: Effect.Effect<
      ReadonlyArray<{ readonly sessionId: string; readonly turnId: string; readonly lastSequence: number }>,
      StoreError
    >
  }
}

interface SummaryRow {
  readonly session_id: string
  readonly owner: string | null
  readonly created_at: number
  readonly updated_at: number
  readonly last_sequence: number
  readonly project_id: string | null
  readonly closed: number
  readonly title: string | null
  readonly model: string | null
  readonly system_prompt: string | null
  readonly turns: number
  readonly completed_turns: number
  readonly message_count: number | null
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly cached_tokens: number
  readonly cost_usd: number
  readonly last_model: string | null
  readonly total: number
}

interface TotalsRow {
  readonly sessions: number
  readonly closed_sessions: number | null
  readonly turns: number | null
  readonly completed_turns: number | null
  readonly failed_turns: number | null
  readonly cancelled_turns: number | null
  readonly prompt_tokens: number | null
  readonly completion_tokens: number | null
  readonly cost_usd: number | null
}

const toSummary = (row: SummaryRow): SessionSummary => ({
  sessionId: row.session_id,
  owner: row.owner,
  projectId: row.project_id ?? "default",
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  closed: row.closed === 1,
  title: row.title,
  model: row.model,
  systemPrompt: row.system_prompt,
  turns: row.turns,
  completedTurns: row.completed_turns,
  messageCount: row.message_count ?? 0,
  promptTokens: row.prompt_tokens,
  completionTokens: row.completion_tokens,
  cachedTokens: row.cached_tokens,
  costUsd: row.cost_usd,
  lastModel: row.last_model,
  lastSequence: row.last_sequence
})

export const makeSessionQueries = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  /** Turn counts and usage totals over completed turns (prompt = input + cache reads + cache writes). */
  const completedSum = (expression: string) => `SUM(CASE WHEN type = 'TurnCompleted' THEN ${expression} ELSE 0 END)`
  const turnAggregates = sql.literal([
    "SUM(type = 'TurnStarted') AS turns",
    "SUM(type = 'TurnCompleted') AS completed_turns",
    `${
      completedSum(
        "json_extract(data, '$.usage.inputTokens') + json_extract(data, '$.usage.cacheReadInputTokens') + json_extract(data, '$.usage.cacheCreationInputTokens')"
      )
    } AS prompt_tokens`,
    `${completedSum("json_extract(data, '$.usage.outputTokens')")} AS completion_tokens`,
    `${completedSum("json_extract(data, '$.usage.cacheReadInputTokens')")} AS cached_tokens`,
    `${completedSum("COALESCE(json_extract(data, '$.costUsd'), 0)")} AS cost_usd`
  ].join(",\n"))

  /** A field of the session's `SessionCreated` event. */
  const created = (field: string) =>
    sql.literal(`MAX(CASE WHEN type = 'SessionCreated' THEN json_extract(data, '$.${field}') END)`)

  /** A field of the page's session's latest event of `type`. */
  const latest = (type: string, field: string) =>
    sql.literal(`(SELECT json_extract(last.data, '$.${field}') FROM session_events last
      WHERE last.session_id = page.session_id AND last.type = '${type}'
      ORDER BY last.sequence DESC LIMIT 1)`)

  /**
   * Summaries of the sessions matching `where`, one page of them. The totals over each
   * session's events come from one pass over the log; what needs a session's payloads one by
   * one (its message count, its latest system prompt and model) is read for the page only.
   */
  const summaries = (method: string, where: Statement.Fragment, limit: number, offset: number) =>
    sql<SummaryRow>`
      WITH sessions AS (
        SELECT
          session_id,
          MIN(created_at) AS created_at,
          MAX(created_at) AS updated_at,
          MAX(sequence) AS last_sequence,
          ${created("projectId")} AS project_id,
          ${created("owner")} AS owner,
          ${created("title")} AS title,
          ${created("model")} AS model,
          ${created("systemPrompt")} AS own_system_prompt,
          MAX(type = 'SessionClosed') AS closed,
          ${turnAggregates}
        FROM session_events e
        WHERE substr(session_id, 1, ${projectStreamPrefix.length}) <> ${projectStreamPrefix}
        GROUP BY session_id
      ),
      page AS (
        SELECT *, COUNT(*) OVER () AS total FROM sessions WHERE ${where}
        ORDER BY updated_at DESC, session_id
        LIMIT ${limit} OFFSET ${offset}
      )
      SELECT
        page.*,
        COALESCE(page.own_system_prompt, ${latest("TurnStarted", "systemPrompt")}) AS system_prompt,
        ${latest("TurnCompleted", "model")} AS last_model,
        (SELECT COALESCE(SUM(json_array_length(started.data, '$.messages') + 1), 0) FROM session_events started
          WHERE started.session_id = page.session_id AND started.type = 'TurnStarted' AND EXISTS (
            SELECT 1 FROM session_events done WHERE done.turn_id = started.turn_id AND done.type = 'TurnCompleted'
          )) AS message_count
      FROM page
      ORDER BY updated_at DESC, session_id
    `.pipe(Effect.mapError(storeError(method)))

  const listSessions = Effect.fn("SessionQueries.listSessions")(function*(options: {
    readonly owner: string | null
    readonly projectId?: string | undefined
    readonly limit: number
    readonly offset: number
  }) {
    const where = options.projectId === undefined
      ? sql`owner IS ${options.owner}`
      : sql`owner IS ${options.owner} AND project_id = ${options.projectId}`
    const rows = yield* summaries("listSessions", where, options.limit, options.offset)
    // Past the last page there is no row to carry the total: count on its own.
    const total = rows[0]?.total ??
      (options.offset > 0 ? (yield* summaries("listSessions", where, 1, 0))[0]?.total ?? 0 : 0)
    return { sessions: rows.map(toSummary), total }
  })

  const sessionSummary = (sessionId: string) =>
    summaries("sessionSummary", sql`session_id = ${sessionId}`, 1, 0).pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toSummary))
    )

  const totals = (owner: string | null) =>
    sql<TotalsRow>`
    SELECT
      COUNT(DISTINCT session_id) AS sessions,
      SUM(type = 'SessionClosed') AS closed_sessions,
      SUM(type = 'TurnFailed') AS failed_turns,
      SUM(type = 'TurnCancelled') AS cancelled_turns,
      ${turnAggregates}
    FROM session_events
    WHERE substr(session_id, 1, ${projectStreamPrefix.length}) <> ${projectStreamPrefix}
      AND session_id IN (
        SELECT session_id FROM session_events
        WHERE type = 'SessionCreated' AND json_extract(data, '$.owner') IS ${owner}
      )
  `.pipe(
      Effect.map(([row]): SessionTotals => ({
        sessions: row?.sessions ?? 0,
        closedSessions: row?.closed_sessions ?? 0,
        turns: row?.turns ?? 0,
        completedTurns: row?.completed_turns ?? 0,
        failedTurns: row?.failed_turns ?? 0,
        cancelledTurns: row?.cancelled_turns ?? 0,
        promptTokens: row?.prompt_tokens ?? 0,
        completionTokens: row?.completion_tokens ?? 0,
        costUsd: row?.cost_usd ?? 0
      })),
      Effect.mapError(storeError("totals"))
    )

  const findByDigest = (owner: string | null, projectId: string, digest: string) =>
    sql<{ readonly session_id: string }>`
      SELECT e.session_id FROM session_events e
      WHERE e.type = 'TurnCompleted' AND json_extract(e.data, '$.conversationDigest') = ${digest}
        AND NOT EXISTS (
          SELECT 1 FROM session_events later
          WHERE later.session_id = e.session_id AND later.sequence > e.sequence
            AND later.type IN ('TurnCompleted', 'SessionClosed')
        )
        AND EXISTS (
          SELECT 1 FROM session_events created
          WHERE created.session_id = e.session_id AND created.type = 'SessionCreated'
            AND json_extract(created.data, '$.projectId') = ${projectId}
            AND json_extract(created.data, '$.owner') IS ${owner}
        )
      ORDER BY e.created_at DESC LIMIT 1
    `.pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (row) => row.session_id)),
      Effect.mapError(storeError("findByDigest"))
    )

  const turnStart = (turnId: string) =>
    sql<{ readonly session_id: string; readonly sequence: number }>`
      SELECT session_id, sequence FROM session_events WHERE turn_id = ${turnId} AND type = 'TurnStarted' LIMIT 1
    `.pipe(
      Effect.map((rows) =>
        Option.map(Option.fromNullable(rows[0]), (row) => ({ sessionId: row.session_id, sequence: row.sequence }))
      ),
      Effect.mapError(storeError("turnStart"))
    )

  const unfinishedTurns = sql<
    { readonly session_id: string; readonly turn_id: string; readonly last_sequence: number }
  >`
    SELECT s.session_id, s.turn_id,
      (SELECT MAX(sequence) FROM session_events m WHERE m.session_id = s.session_id) AS last_sequence
    FROM session_events s
    WHERE s.type = 'TurnStarted' AND NOT EXISTS (
      SELECT 1 FROM session_events t
      WHERE t.turn_id = s.turn_id AND t.type IN ('TurnCompleted', 'TurnFailed', 'TurnCancelled')
    )
  `.pipe(
    Effect.map((rows) =>
      rows.map((row) => ({ sessionId: row.session_id, turnId: row.turn_id, lastSequence: row.last_sequence }))
    ),
    Effect.mapError(storeError("unfinishedTurns"))
  )

  return {
    listSessions,
    sessionSummary,
    totals,
    findByDigest,
    turnStart,
    unfinishedTurns
  } satisfies SessionQueries.Service
})

export class SessionQueries extends Context.Tag("claude-code-api/SessionQueries")<
  SessionQueries,
  SessionQueries.Service
>() {
  /** The read models over the provided `SqlClient` (see `EventLog`). */
  static readonly layer = Layer.effect(SessionQueries, makeSessionQueries)
}
