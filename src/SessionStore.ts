/**
 * SessionStore: the append-only event log (one table keyed by stream and sequence) and live
 * publication of what is appended. Readers replay stored events and then follow live ones:
 * this process's appends, and on Postgres other gateways' too (`SessionStore/follow.ts`).
 * Queries over the events' payloads (lists, totals) are `SessionQueries`' job. It knows
 * nothing about HTTP or OpenAI.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { SqlError } from "@effect/sql/SqlError"
import { Chunk, Clock, Context, Effect, Layer, Option, Queue, Schema, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import { SequenceConflict, StoreError } from "./Domain/Errors.js"
import { SessionEvent, type SessionEvent as SessionEventType, StoredEvent } from "./Domain/SessionEvent.js"
import { type EventRow, guardedInsert, isDuplicateKey, reasonOf } from "./SessionStore/dialect.js"
import { followOtherWriters } from "./SessionStore/follow.js"
import { LiveReaders } from "./SessionStore/live.js"

export declare namespace SessionStore {
  export interface Service {
    /**
     * Appends events after `expectedSequence` (the stream's current last sequence, 0 for a
     * new stream), all or none, then publishes them to live readers in order. Fails with
     * `SequenceConflict` when the stream has moved on (another writer).
     */
    readonly append: (
      streamId: string,
      expectedSequence: number,
      events: ReadonlyArray<SessionEventType>
    ) => Effect.Effect<ReadonlyArray<StoredEvent>, SequenceConflict | StoreError>
    /** Stored events with a sequence greater than `after` (default 0), oldest first. */
    readonly read: (
      streamId: string,
      options?: { readonly after?: number; readonly limit?: number }
    ) => Effect.Effect<ReadonlyArray<StoredEvent>, StoreError>
    /**
     * Every event after `after`: first the stored ones, then live ones as they are
     * appended (on Postgres by any gateway), each exactly once and in sequence order. Never
     * ends by itself; when `until` fails, the stream fails with its error at once (one
     * waiting fiber per reader, nothing per event).
     */
    readonly tail: (
      streamId: string,
      after: number,
      until?: Effect.Effect<never, StoreError>
    ) => Stream.Stream<StoredEvent, StoreError>
    /** The stream's last sequence number (0 when it has no events). */
    readonly lastSequence: (streamId: string) => Effect.Effect<number, StoreError>
    /** Ids of the streams starting with `prefix`. */
    readonly streamIds: (prefix: string) => Effect.Effect<ReadonlyArray<string>, StoreError>
    /** Deletes a whole stream (an explicit purge; the log is otherwise never rewritten). */
    readonly purge: (streamId: string) => Effect.Effect<void, StoreError>
    /** Whether the database answers. */
    readonly ping: Effect.Effect<void, StoreError>
    /**
     * Whether the log takes writes: at once when the last append went in; after a failed one,
     * by a probe write that needs fresh space (so a full disk still shows), which clears the
     * failure when it succeeds.
     */
    readonly checkWritable: Effect.Effect<void, StoreError>
  }
}

const encodeEvent = Schema.encodeSync(SessionEvent)
const decodeEvent = Schema.decodeUnknownSync(SessionEvent)

interface StoredRow {
  readonly session_id: string
  readonly sequence: number
  readonly data: string
  /** Postgres hands a BIGINT over as a string. */
  readonly created_at: number | string
}

/** Built from values already typed (the event is decoded), so not validated a second time. */
const unvalidated = { disableValidation: true } as const

const toStoredEvent = (row: StoredRow): StoredEvent =>
  new StoredEvent({
    sessionId: row.session_id,
    sequence: row.sequence,
    timestamp: Number(row.created_at),
    event: decodeEvent(JSON.parse(row.data))
  }, unvalidated)

/** Rows per statement, well under SQLite's limit on bound parameters; more take a transaction. */
const maxRowsPerInsert = 500

/** A driver failure as the domain's `StoreError`, naming the operation and, briefly, what went wrong. */
export const storeError = (method: string) => (error: SqlError) =>
  new StoreError({ method, message: `${method}: ${reasonOf(error)}`, cause: error })

/** The file's inode, or null when there is no file at `path`. */
const inodeOf = (path: string): number | null => NodeFs.statSync(path, { throwIfNoEntry: false })?.ino ?? null

/** Size of the probe row: more than a page or two, so the probe needs space the database has not got yet. */
const probeBytes = 64 * 1024

export const makeSessionStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const live = new LiveReaders<StoredEvent>()
  /** This instance, as its notifications on Postgres name it. */
  const origin = NodeCrypto.randomBytes(8).toString("hex")
  /** The last append's failure, until a write goes in. */
  let writeFailure: StoreError | null = null

  const lastSequence = (streamId: string) =>
    sql<{ readonly last: number | null }>`
      SELECT MAX(sequence) AS last FROM session_events WHERE session_id = ${streamId}
    `.pipe(
      Effect.map((rows) => rows[0]?.last ?? 0),
      Effect.mapError(storeError("lastSequence"))
    )

  // Untraced: it runs for every chunk of a streamed answer.
  const append = Effect.fnUntraced(
    function*(
      streamId: string,
      expectedSequence: number,
      events: ReadonlyArray<SessionEventType>
    ) {
      if (events.length === 0) return []
      const now = yield* Clock.currentTimeMillis
      const stored = events.map((event, index) =>
        new StoredEvent(
          { sessionId: streamId, sequence: expectedSequence + index + 1, timestamp: now, event },
          unvalidated
        )
      )
      const rows = stored.map(({ event, sequence }): EventRow => ({
        sequence,
        turnId: "turnId" in event ? event.turnId : null,
        type: event._tag,
        data: JSON.stringify(encodeEvent(event))
      }))
      // Built only when it happens: an error captures a stack trace, too dear for every append.
      const conflict = () => new SequenceConflict({ sessionId: streamId, expected: expectedSequence })
      const insertBatch = (from: number, to: number) =>
        guardedInsert(sql, {
          streamId,
          expectedSequence: expectedSequence + from,
          createdAt: now,
          rows: rows.slice(from, to),
          origin
        }).pipe(
          Effect.mapError((error) => isDuplicateKey(error) ? conflict() : storeError("append")(error)),
          Effect.flatMap((inserted) => inserted === to - from ? Effect.void : Effect.fail(conflict()))
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
        ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeError("append")(error))))
      }
      writeFailure = null
      yield* live.publish(streamId, stored)
      return stored
    },
    Effect.tapError((error) =>
      Effect.sync(() => {
        if (error._tag === "StoreError") writeFailure = error
      })
    )
  )

  const read = (streamId: string, options?: { readonly after?: number; readonly limit?: number }) =>
    sql<StoredRow>`
      SELECT session_id, sequence, data, created_at FROM session_events
      WHERE session_id = ${streamId} AND sequence > ${options?.after ?? 0}
      ORDER BY sequence
      ${options?.limit === undefined ? sql.literal("") : sql`LIMIT ${options.limit}`}
    `.pipe(
      Effect.map((rows) => rows.map(toStoredEvent)),
      Effect.mapError(storeError("read"))
    )

  const tail = (
    streamId: string,
    after: number,
    until?: Effect.Effect<never, StoreError>
  ): Stream.Stream<StoredEvent, StoreError> =>
    Stream.unwrapScoped(
      Effect.gen(function*() {
        // Subscribe before reading, so nothing appended in between is missed.
        const subscription = yield* live.subscribe(streamId)
        let cutOff: StoreError | null = null
        if (until !== undefined) {
          yield* Effect.forkScoped(Effect.catchAll(until, (error) => {
            cutOff = error
            return Queue.shutdown(subscription)
          }))
        }
        const stored = yield* read(streamId, { after })
        let last = stored.length > 0 ? stored[stored.length - 1]!.sequence : after
        // Live events come in sequence order but may skip some (another gateway's append, read
        // after this process's next one): those are read here. Older ones were replayed already.
        const inOrder = (entries: Chunk.Chunk<StoredEvent>): Effect.Effect<Chunk.Chunk<StoredEvent>, StoreError> => {
          const next: Array<StoredEvent> = []
          const from = (index: number): Effect.Effect<Chunk.Chunk<StoredEvent>, StoreError> => {
            for (let i = index; i < entries.length; i++) {
              const entry = Chunk.unsafeGet(entries, i)
              if (entry.sequence <= last) continue
              if (entry.sequence > last + 1) {
                return Effect.flatMap(read(streamId, { after: last }), (missed) => {
                  for (const event of missed) next.push(event)
                  last = missed.length > 0 ? missed[missed.length - 1]!.sequence : last
                  // Not in the log (its transaction was rolled back): handed on as it came.
                  if (entry.sequence > last) {
                    next.push(entry)
                    last = entry.sequence
                  }
                  return from(i + 1)
                })
              }
              next.push(entry)
              last = entry.sequence
            }
            return Effect.succeed(Chunk.unsafeFromArray(next))
          }
          return from(0)
        }
        const liveEvents = Stream.fromQueue(subscription).pipe(Stream.mapChunksEffect(inOrder))
        return Stream.concat(Stream.fromIterable(stored), liveEvents).pipe(
          Stream.concat(Stream.suspend(() => cutOff === null ? Stream.empty : Stream.fail(cutOff)))
        )
      })
    )

  const streamIds = (prefix: string) =>
    sql<{ readonly session_id: string }>`
      SELECT DISTINCT session_id FROM session_events WHERE substr(session_id, 1, ${prefix.length}) = ${prefix}
    `.pipe(Effect.map((rows) => rows.map((row) => row.session_id)), Effect.mapError(storeError("streamIds")))

  const purge = (streamId: string) =>
    sql`DELETE FROM session_events WHERE session_id = ${streamId}`.pipe(
      Effect.asVoid,
      Effect.mapError(storeError("purge"))
    )

  const ping = sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(storeError("ping")))

  // Two plain statements: SQLite itself rolls back a transaction that ran out of space. Random
  // bytes, which Postgres cannot compress away.
  const probeWrite = Effect.zipRight(
    Effect.suspend(() => sql`INSERT INTO write_probe (payload) VALUES (${NodeCrypto.randomBytes(probeBytes)})`),
    sql`DELETE FROM write_probe`
  ).pipe(
    Effect.mapError(storeError("write")),
    Effect.tap(() => Effect.sync(() => (writeFailure = null)))
  )

  // A SQLite file removed (or replaced) under the running gateway still takes writes, into a
  // file nobody will open again: that is a log that cannot be written as well.
  const opened = yield* sql.onDialectOrElse({
    sqlite: () => sql<{ readonly file: string }>`SELECT file FROM pragma_database_list WHERE name = 'main'`,
    orElse: () => Effect.succeed<ReadonlyArray<{ readonly file: string }>>([])
  }).pipe(
    Effect.map((rows) => rows[0]?.file ?? ""),
    Effect.orElseSucceed(() => ""),
    Effect.map((file) => (file === "" ? null : { file, inode: inodeOf(file) }))
  )
  const fileReplaced = Effect.sync(() => opened !== null && inodeOf(opened.file) !== opened.inode)

  const checkWritable = Effect.flatMap(fileReplaced, (replaced) =>
    replaced
      ? Effect.fail(new StoreError({ method: "write", message: "write: the database file was removed or replaced" }))
      : writeFailure === null
      ? Effect.void
      : probeWrite)

  // Postgres may have other writers (gateways sharing the database): follow their appends too.
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.flatMap(Effect.serviceOption(PgClient.PgClient), (pg) =>
        Option.isSome(pg)
          ? followOtherWriters({ config: pg.value.config, origin, live, read, lastSequence })
          : Effect.logWarning("no PgClient provided: live tails follow only this process's appends")),
    orElse: () => Effect.void
  })

  return {
    append,
    read,
    tail,
    lastSequence,
    streamIds,
    purge,
    ping,
    checkWritable
  } satisfies SessionStore.Service
})

export class SessionStore extends Context.Tag("claude-code-api/SessionStore")<SessionStore, SessionStore.Service>() {
  /**
   * The log over the provided `SqlClient` (see `EventLog` for a database with its migrations);
   * on Postgres, with the `PgClient` behind it, it follows other gateways' appends too.
   */
  static readonly layer = Layer.scoped(SessionStore, makeSessionStore)
}
