/**
 * SessionStore: the append-only event log in SQLite (one table keyed by session and
 * sequence), and live publication of what is appended. Readers replay stored events and
 * then follow live ones. It knows nothing about HTTP or OpenAI.
 */
import { Migrator, SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Context, Effect, Layer, PubSub, Schema, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "./AppConfig.js"
import { SequenceConflict, StoreError } from "./Domain/Errors.js"
import { type SessionEvent as SessionEventType, SessionEvent, StoredEvent } from "./Domain/SessionEvent.js"
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

const toStoredEvent = (row: EventRow): StoredEvent =>
  new StoredEvent({
    sessionId: row.session_id,
    sequence: row.sequence,
    timestamp: row.created_at,
    event: decodeEvent(JSON.parse(row.data))
  })

const storeError = (error: SqlError) => new StoreError({ message: error.message })

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

  const append = (sessionId: string, expectedSequence: number, events: ReadonlyArray<SessionEventType>) =>
    Effect.gen(function*() {
      if (events.length === 0) return []
      const now = Date.now()
      const stored = events.map(
        (event, index) => new StoredEvent({ sessionId, sequence: expectedSequence + index + 1, timestamp: now, event })
      )
      const rows = stored.map((entry) => ({
        session_id: sessionId,
        sequence: entry.sequence,
        turn_id: "turnId" in entry.event ? entry.event.turnId : null,
        type: entry.event._tag,
        data: JSON.stringify(encodeEvent(entry.event)),
        created_at: now
      }))
      yield* sql.withTransaction(
        Effect.gen(function*() {
          const current = yield* lastSequence(sessionId)
          if (current !== expectedSequence) {
            return yield* new SequenceConflict({ sessionId, expected: expectedSequence })
          }
          yield* sql`INSERT INTO session_events ${sql.insert(rows)}`.pipe(Effect.mapError(storeError))
        })
      ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeError(error))))
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

  return { append, read, tail, lastSequence, ping } satisfies SessionStore.Service
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
