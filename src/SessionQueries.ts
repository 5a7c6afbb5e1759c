/**
 * SessionQueries: the read models of the event log, queried in SQL over the events'
 * payloads: session summaries and totals, the session a resent history belongs to, where a
 * turn starts, and the turns a stopped gateway left unfinished. It never writes. The SQL is
 * the same on SQLite and Postgres but for reading the JSON payloads (`payload`).
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

/** A count, sum or millisecond time: Postgres hands BIGINT and NUMERIC over as strings. */
type Numeric = number | string

/** A `Numeric` as a number, 0 for none. */
const numeric = (value: Numeric | null | undefined): number => (value == null ? 0 : Number(value))

interface SummaryRow {
  readonly session_id: string
  readonly owner: string | null
  readonly created_at: Numeric
  readonly updated_at: Numeric
  readonly last_sequence: number
  readonly project_id: string | null
  readonly closed: number
  readonly title: string | null
  readonly model: string | null
  readonly system_prompt: string | null
  readonly turns: Numeric
  readonly completed_turns: Numeric
  readonly message_count: Numeric | null
  readonly prompt_tokens: Numeric
  readonly completion_tokens: Numeric
  readonly cached_tokens: Numeric
  readonly cost_usd: Numeric
  readonly last_model: string | null
  readonly total: Numeric
}

interface TotalsRow {
  readonly sessions: Numeric
  readonly closed_sessions: Numeric | null
  readonly turns: Numeric | null
  readonly completed_turns: Numeric | null
  readonly failed_turns: Numeric | null
  readonly cancelled_turns: Numeric | null
  readonly prompt_tokens: Numeric | null
  readonly completion_tokens: Numeric | null
  readonly cost_usd: Numeric | null
}

const toSummary = (row: SummaryRow): SessionSummary => ({
  sessionId: row.session_id,
  owner: row.owner,
  projectId: row.project_id ?? "default",
  createdAt: numeric(row.created_at),
  updatedAt: numeric(row.updated_at),
  closed: row.closed === 1,
  title: row.title,
  model: row.model,
  systemPrompt: row.system_prompt,
  turns: numeric(row.turns),
  completedTurns: numeric(row.completed_turns),
  messageCount: numeric(row.message_count),
  promptTokens: numeric(row.prompt_tokens),
  completionTokens: numeric(row.completion_tokens),
  cachedTokens: numeric(row.cached_tokens),
  costUsd: numeric(row.cost_usd),
  lastModel: row.last_model,
  lastSequence: row.last_sequence
})

/** A payload column as Postgres' `json`, an escaped NUL made U+FFFD (the digest index has the same expression). */
const pgJson = (column: string) => `replace(${column}, '\\u0000', '\\ufffd')::json`

export const makeSessionQueries = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  /**
   * A value in the JSON payload `column` at `path` (`usage.inputTokens`), as text or a number.
   * Postgres' JSON functions refuse a whole document holding an escaped NUL (its text cannot
   * hold one), so they read it as U+FFFD there.
   */
  const payload = (column: string, path: string, as: "text" | "integer" | "real" = "text") =>
    sql.onDialectOrElse({
      pg: () => {
        const text = `(${pgJson(column)} #>> '{${path.split(".").join(",")}}')`
        return as === "text" ? text : `${text}::${as === "integer" ? "bigint" : "float8"}`
      },
      orElse: () => `json_extract(${column}, '$.${path}')`
    })

  /** The length of the JSON array at `key` of the payload `column`. */
  const arrayLength = (column: string, key: string) =>
    sql.onDialectOrElse({
      pg: () => `json_array_length(${pgJson(column)} -> '${key}')`,
      orElse: () => `json_array_length(${column}, '$.${key}')`
    })

  /** Turn counts and usage totals over completed turns (prompt = input + cache reads + cache writes). */
  const completedSum = (expression: string) => `SUM(CASE WHEN type = 'TurnCompleted' THEN ${expression} ELSE 0 END)`
  const tokens = (field: string) => payload("data", `usage.${field}`, "integer")
  const turnAggregates = sql.literal([
    "COUNT(*) FILTER (WHERE type = 'TurnStarted') AS turns",
    "COUNT(*) FILTER (WHERE type = 'TurnCompleted') AS completed_turns",
    `${
      completedSum(
        `${tokens("inputTokens")} + ${tokens("cacheReadInputTokens")} + ${tokens("cacheCreationInputTokens")}`
      )
    } AS prompt_tokens`,
    `${completedSum(tokens("outputTokens"))} AS completion_tokens`,
    `${completedSum(tokens("cacheReadInputTokens"))} AS cached_tokens`,
    `${completedSum(`COALESCE(${payload("data", "costUsd", "real")}, 0)`)} AS cost_usd`
  ].join(",\n"))

  /** A field of the session's `SessionCreated` event. */
  const created = (field: string) =>
    sql.literal(`MAX(CASE WHEN type = 'SessionCreated' THEN ${payload("data", field)} END)`)

  /** A field of the page's session's latest event of `type`. */
  const latest = (type: string, field: string) =>
    sql.literal(`(SELECT ${payload("last.data", field)} FROM session_events last
      WHERE last.session_id = page.session_id AND last.type = '${type}'
      ORDER BY last.sequence DESC LIMIT 1)`)

  /** How many messages a `TurnStarted` (aliased `started`) brought. */
  const messagesOfStarted = sql.literal(arrayLength("started.data", "messages"))

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
          MAX(CASE WHEN type = 'SessionClosed' THEN 1 ELSE 0 END) AS closed,
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
        (SELECT COALESCE(SUM(${messagesOfStarted} + 1), 0) FROM session_events started
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
      ? sql`owner IS NOT DISTINCT FROM ${options.owner}`
      : sql`owner IS NOT DISTINCT FROM ${options.owner} AND project_id = ${options.projectId}`
    const rows = yield* summaries("listSessions", where, options.limit, options.offset)
    // Past the last page there is no row to carry the total: count on its own.
    const total = numeric(
      rows[0]?.total ?? (options.offset > 0 ? (yield* summaries("listSessions", where, 1, 0))[0]?.total : 0)
    )
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
      COUNT(*) FILTER (WHERE type = 'SessionClosed') AS closed_sessions,
      COUNT(*) FILTER (WHERE type = 'TurnFailed') AS failed_turns,
      COUNT(*) FILTER (WHERE type = 'TurnCancelled') AS cancelled_turns,
      ${turnAggregates}
    FROM session_events
    WHERE substr(session_id, 1, ${projectStreamPrefix.length}) <> ${projectStreamPrefix}
      AND session_id IN (
        SELECT session_id FROM session_events
        WHERE type = 'SessionCreated' AND ${sql.literal(payload("data", "owner"))} IS NOT DISTINCT FROM ${owner}
      )
  `.pipe(
      Effect.map(([row]): SessionTotals => ({
        sessions: numeric(row?.sessions),
        closedSessions: numeric(row?.closed_sessions),
        turns: numeric(row?.turns),
        completedTurns: numeric(row?.completed_turns),
        failedTurns: numeric(row?.failed_turns),
        cancelledTurns: numeric(row?.cancelled_turns),
        promptTokens: numeric(row?.prompt_tokens),
        completionTokens: numeric(row?.completion_tokens),
        costUsd: numeric(row?.cost_usd)
      })),
      Effect.mapError(storeError("totals"))
    )

  const findByDigest = (owner: string | null, projectId: string, digest: string) =>
    sql<{ readonly session_id: string }>`
      SELECT e.session_id FROM session_events e
      WHERE e.type = 'TurnCompleted' AND ${sql.literal(payload("e.data", "conversationDigest"))} = ${digest}
        AND NOT EXISTS (
          SELECT 1 FROM session_events later
          WHERE later.session_id = e.session_id AND later.sequence > e.sequence
            AND later.type IN ('TurnCompleted', 'SessionClosed')
        )
        AND EXISTS (
          SELECT 1 FROM session_events created
          WHERE created.session_id = e.session_id AND created.type = 'SessionCreated'
            AND ${sql.literal(payload("created.data", "projectId"))} = ${projectId}
            AND ${sql.literal(payload("created.data", "owner"))} IS NOT DISTINCT FROM ${owner}
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
