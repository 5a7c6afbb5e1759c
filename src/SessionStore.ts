/**
 * SessionStore: the append-only event log in SQLite (one table keyed by session and
 * sequence), and live publication of what is appended. Readers replay stored events and
 * then follow live ones. It knows nothing about HTTP or OpenAI.
 */
import { Migrator, SqlClient } from "@effect/sql"
import type { Statement } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Layer, Option, PubSub, Schema, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "./AppConfig.js"
import { SequenceConflict, StoreError } from "./Domain/Errors.js"
import { projectStreamPrefix, type SessionSummary, type SessionTotals } from "./Domain/Session.js"
import { SessionEvent, type SessionEvent as SessionEventType, StoredEvent } from "./Domain/SessionEvent.js"
import { migrations } from "./SessionStore/migrations.js"

export declare namespace SessionStore {
  export interface Service {
    /**
     * Appends events after `expectedSequence` (the session's current last sequence, 0 for
     * a new session) in one transaction, then publishes them to live readers in order.
     * Fails with `SequenceConflict` when the session has moved on (another writer).
     */
    readonly append: (
      sessionId: string,
      expectedSequence: number,
      events: ReadonlyArray<SessionEventType>
    ) => Effect.Effect<ReadonlyArray<StoredEvent>, SequenceConflict | StoreError>
    /** Stored events with a sequence greater than `after` (default 0), oldest first. */
    readonly read: (
      sessionId: string,
      options?: { readonly after?: number; readonly limit?: number }
    ) => Effect.Effect<ReadonlyArray<StoredEvent>, StoreError>
    /**
     * Every event after `after`: first the stored ones, then live ones as they are
     * appended, each exactly once and in sequence order. Never ends by itself.
     */
    readonly tail: (sessionId: string, after: number) => Stream.Stream<StoredEvent, StoreError>
    /** The session's last sequence number (0 when it has no events). */
    readonly lastSequence: (sessionId: string) => Effect.Effect<number, StoreError>
    /** Whether the database answers. */
    readonly ping: Effect.Effect<void, StoreError>
    /** Session summaries, most recently active first. */
    readonly listSessions: (options: {
      /** Only the sessions of this owner (null: sessions created with auth off). */
      readonly owner: string | null
      readonly projectId?: string | undefined
      readonly limit: number
      readonly offset: number
    }) => Effect.Effect<{ readonly sessions: ReadonlyArray<SessionSummary>; readonly total: number }, StoreError>
    /** One session's summary. */
    readonly sessionSummary: (sessionId: string) => Effect.Effect<Option.Option<SessionSummary>, StoreError>
    /** Totals over the sessions of an owner. */
    readonly totals: (owner: string | null) => Effect.Effect<SessionTotals, StoreError>
    /**
     * The owner's open session of a project whose conversation, after its latest turn, has
     * this digest (and which has not moved on since), most recent first.
     */
    readonly findByDigest: (
      owner: string | null,
      projectId: string,
      digest: string
    ) => Effect.Effect<Option.Option<string>, StoreError>
    /** Turns with a `TurnStarted` but no end (the gateway stopped while they ran). */
    readonly unfinishedTurns: Effect.Effect<
      ReadonlyArray<{ readonly sessionId: string; readonly turnId: string; readonly lastSequence: number }>,
      StoreError
    >
    /** Deletes a whole stream (an explicit purge; the log is otherwise never rewritten). */
    readonly purge: (streamId: string) => Effect.Effect<void, StoreError>
    /** Ids of the streams starting with `prefix`. */
    readonly streamIds: (prefix: string) => Effect.Effect<ReadonlyArray<string>, StoreError>
  }
}

const encodeEvent = Schema.encodeSync(SessionEvent)
const decodeEvent = Schema.decodeUnknownSync(SessionEvent)

interface EventRow {
  readonly session_id: string
  readonly sequence: number
  readonly data: string
  readonly created_at: number
}

/** Built from values already typed (the event is decoded), so not validated a second time. */
const unvalidated = { disableValidation: true } as const

const toStoredEvent = (row: EventRow): StoredEvent =>
  new StoredEvent({
    sessionId: row.session_id,
    sequence: row.sequence,
    timestamp: row.created_at,
    event: decodeEvent(JSON.parse(row.data))
  }, unvalidated)

/** Rows per statement, well under SQLite's limit on bound parameters; more take a transaction. */
const maxRowsPerInsert = 500

/**
 * One statement that appends rows only when the session's last sequence is the expected
 * one: atomic without an explicit transaction, and a single round through the driver.
 */
const guardedInsert = (rowCount: number) =>
  `INSERT INTO session_events (session_id, sequence, turn_id, type, data, created_at)
   SELECT column1, column2, column3, column4, column5, column6
   FROM (VALUES ${Array.from({ length: rowCount }, () => "(?, ?, ?, ?, ?, ?)").join(", ")})
   WHERE (SELECT COALESCE(MAX(sequence), 0) FROM session_events WHERE session_id = ?) = ?`

const storeError = (error: SqlError) => new StoreError({ message: error.message })

interface SummaryRow {
  readonly session_id: string
  readonly owner: string | null
  readonly created_at: number
  readonly updated_at: number
  readonly last_sequence: number
  readonly project_id: string | null
  readonly closed: number
  readonly turns: number
  readonly completed_turns: number
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
  turns: row.turns,
  completedTurns: row.completed_turns,
  promptTokens: row.prompt_tokens,
  completionTokens: row.completion_tokens,
  cachedTokens: row.cached_tokens,
  costUsd: row.cost_usd,
  lastModel: row.last_model,
  lastSequence: row.last_sequence
})

export const makeSessionStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // WAL is on by default; NORMAL sync is durable across process crashes and keeps appends cheap.
  yield* sql`PRAGMA synchronous = NORMAL`.pipe(Effect.mapError(storeError))
  const live = yield* PubSub.unbounded<StoredEvent>()

  const lastSequence = (sessionId: string) =>
    sql<{ readonly last: number | null }>`
      SELECT MAX(sequence) AS last FROM session_events WHERE session_id = ${sessionId}
    `.pipe(
      Effect.map((rows) => rows[0]?.last ?? 0),
      Effect.mapError(storeError)
    )

  // Untraced: it runs for every chunk of a streamed answer.
  const append = Effect.fnUntraced(function*(
    sessionId: string,
    expectedSequence: number,
    events: ReadonlyArray<SessionEventType>
  ) {
    if (events.length === 0) return []
    const now = Date.now()
    const stored = events.map((event, index) =>
      new StoredEvent({ sessionId, sequence: expectedSequence + index + 1, timestamp: now, event }, unvalidated)
    )
    const rows = stored.map(({ event, sequence }) => [
      sessionId,
      sequence,
      "turnId" in event ? event.turnId : null,
      event._tag,
      JSON.stringify(encodeEvent(event)),
      now
    ])
    const insertBatch = (from: number, to: number) =>
      sql.unsafe(guardedInsert(to - from), [...rows.slice(from, to).flat(), sessionId, expectedSequence + from]).raw
        .pipe(
          Effect.mapError(storeError),
          Effect.flatMap((result) =>
            (result as { readonly changes?: number }).changes === to - from
              ? Effect.void
              : Effect.fail(new SequenceConflict({ sessionId, expected: expectedSequence }))
          )
        )
    if (events.length <= maxRowsPerInsert) {
      yield* insertBatch(0, events.length)
    } else {
      yield* sql.withTransaction(
        Effect.forEach(
          Array.from({ length: Math.ceil(events.length / maxRowsPerInsert) }, (_, batch) => batch * maxRowsPerInsert),
          (from) => insertBatch(from, Math.min(events.length, from + maxRowsPerInsert)),
          { discard: true }
        )
      ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeError(error))))
    }
    yield* PubSub.publishAll(live, stored)
    return stored
  })

  const read = (sessionId: string, options?: { readonly after?: number; readonly limit?: number }) =>
    sql<EventRow>`
      SELECT session_id, sequence, data, created_at FROM session_events
      WHERE session_id = ${sessionId} AND sequence > ${options?.after ?? 0}
      ORDER BY sequence
      LIMIT ${options?.limit ?? -1}
    `.pipe(
      Effect.map((rows) => rows.map(toStoredEvent)),
      Effect.mapError(storeError)
    )

  const tail = (sessionId: string, after: number): Stream.Stream<StoredEvent, StoreError> =>
    Stream.unwrapScoped(
      Effect.gen(function*() {
        // Subscribe before reading, so nothing appended in between is missed.
        const subscription = yield* PubSub.subscribe(live)
        const stored = yield* read(sessionId, { after })
        let last = stored.length > 0 ? stored[stored.length - 1]!.sequence : after
        const liveEvents = Stream.fromQueue(subscription).pipe(
          Stream.filter((entry) => {
            if (entry.sessionId !== sessionId || entry.sequence <= last) return false
            last = entry.sequence
            return true
          })
        )
        return Stream.concat(Stream.fromIterable(stored), liveEvents)
      })
    )

  const ping = sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(storeError))

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

  const summaries = (where: Statement.Fragment, limit: number, offset: number) =>
    sql<SummaryRow>`
      WITH sessions AS (
        SELECT
          session_id,
          MIN(created_at) AS created_at,
          MAX(created_at) AS updated_at,
          MAX(sequence) AS last_sequence,
          MAX(CASE WHEN type = 'SessionCreated' THEN json_extract(data, '$.projectId') END) AS project_id,
          MAX(CASE WHEN type = 'SessionCreated' THEN json_extract(data, '$.owner') END) AS owner,
          MAX(type = 'SessionClosed') AS closed,
          ${turnAggregates},
          (SELECT json_extract(last.data, '$.model') FROM session_events last
            WHERE last.session_id = e.session_id AND last.type = 'TurnCompleted'
            ORDER BY last.sequence DESC LIMIT 1) AS last_model
        FROM session_events e
        WHERE substr(session_id, 1, ${projectStreamPrefix.length}) <> ${projectStreamPrefix}
        GROUP BY session_id
      )
      SELECT *, COUNT(*) OVER () AS total FROM sessions WHERE ${where}
      ORDER BY updated_at DESC, session_id
      LIMIT ${limit} OFFSET ${offset}
    `.pipe(Effect.mapError(storeError))

  const listSessions = Effect.fn("SessionStore.listSessions")(function*(options: {
    readonly owner: string | null
    readonly projectId?: string | undefined
    readonly limit: number
    readonly offset: number
  }) {
    const where = options.projectId === undefined
      ? sql`owner IS ${options.owner}`
      : sql`owner IS ${options.owner} AND project_id = ${options.projectId}`
    const rows = yield* summaries(where, options.limit, options.offset)
    // Past the last page there is no row to carry the total: count on its own.
    const total = rows[0]?.total ?? (options.offset > 0 ? (yield* summaries(where, 1, 0))[0]?.total ?? 0 : 0)
    return { sessions: rows.map(toSummary), total }
  })

  const sessionSummary = (sessionId: string) =>
    summaries(sql`session_id = ${sessionId}`, 1, 0).pipe(
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
      Effect.mapError(storeError)
    )

  const findByDigest = (owner: string | null, projectId: string, digest: string) =>
    sql<{ readonly session_id: string }>`
      SELECT e.session_id FROM session_events e
      WHERE e.type = 'TurnCompleted' AND json_extract(e.data, '$.conversationDigest') = ${digest}
        AND NOT EXISTS (
          SELECT 1 FROM session_events later
          WHERE later.session_id = e.session_id AND later.sequence > e.sequence
            AND later.type IN ('TurnStarted', 'SessionClosed')
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
      Effect.mapError(storeError)
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
    Effect.mapError(storeError)
  )

  const purge = (streamId: string) =>
    sql`DELETE FROM session_events WHERE session_id = ${streamId}`.pipe(Effect.asVoid, Effect.mapError(storeError))

  const streamIds = (prefix: string) =>
    sql<{ readonly session_id: string }>`
      SELECT DISTINCT session_id FROM session_events WHERE substr(session_id, 1, ${prefix.length}) = ${prefix}
    `.pipe(Effect.map((rows) => rows.map((row) => row.session_id)), Effect.mapError(storeError))

  return {
    append,
    read,
    tail,
    lastSequence,
    ping,
    listSessions,
    sessionSummary,
    totals,
    findByDigest,
    unfinishedTurns,
    purge,
    streamIds
  } satisfies SessionStore.Service
})

export class SessionStore extends Context.Tag("claude-code-api/SessionStore")<SessionStore, SessionStore.Service>() {
  /** The store over whatever `SqlClient` is provided (migrations applied first). */
  static readonly layerWithoutClient = Layer.effect(SessionStore, makeSessionStore).pipe(
    Layer.provide(SqliteMigrator.layer({ loader: Migrator.fromRecord(migrations) }))
  )

  /** A SQLite file (created with its directory when missing), WAL mode. */
  static readonly layerSqlite = (filename: string) =>
    SessionStore.layerWithoutClient.pipe(
      Layer.provide(
        Layer.unwrapEffect(
          Effect.sync(() => {
            NodeFs.mkdirSync(NodePath.dirname(filename), { recursive: true })
            return SqliteClient.layer({ filename })
          })
        )
      )
    )

  /** The database named by `AppConfig.databasePath`. */
  static readonly layer = Layer.unwrapEffect(
    Effect.map(AppConfig, (config) => SessionStore.layerSqlite(config.databasePath))
  )
}
