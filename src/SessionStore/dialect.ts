/**
 * What differs between the log's two databases: the guarded insert (one statement that appends
 * only after the expected sequence, and on Postgres notifies the other gateways) and the
 * driver's failures, in words an operator can act on (SQLite's result codes, Postgres'
 * SQLSTATEs, a server that cannot be reached).
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { changesChannel, encodeChange } from "./changes.js"

/** An event to insert, encoded. */
export interface EventRow {
  readonly sequence: number
  readonly turnId: string | null
  readonly type: string
  readonly data: string
}

/** SQLite: the rows as a `VALUES` list (its columns are `column1` …). */
const sqliteInsert = (rowCount: number) =>
  `INSERT INTO session_events (session_id, sequence, turn_id, type, data, created_at)
   SELECT column1, column2, column3, column4, column5, column6
   FROM (VALUES ${Array.from({ length: rowCount }, () => "(?, ?, ?, ?, ?, ?)").join(", ")})
   WHERE (SELECT COALESCE(MAX(sequence), 0) FROM session_events WHERE session_id = ?) = ?`

/**
 * Postgres: one array per column, so the statement is the same for any number of rows. When
 * rows went in, the same statement notifies `changesChannel` with `$8`: sent on commit only,
 * never for a refused append, and never lost between the insert and a second statement.
 */
const pgInsert = `WITH inserted AS (
    INSERT INTO session_events (session_id, sequence, turn_id, type, data, created_at)
    SELECT $1::text, batch.sequence, batch.turn_id, batch.type, batch.data, $2::bigint
    FROM unnest($3::integer[], $4::text[], $5::text[], $6::text[]) AS batch (sequence, turn_id, type, data)
    WHERE (SELECT COALESCE(MAX(sequence), 0) FROM session_events WHERE session_id = $1::text) = $7::integer
    RETURNING sequence
  )
  SELECT COUNT(*)::integer AS inserted,
    CASE WHEN COUNT(*) > 0 THEN pg_notify('${changesChannel}', $8::text) END AS notified
  FROM inserted`

/**
 * Inserts `rows` into `streamId` only when the stream's last sequence is `expectedSequence`:
 * atomic without an explicit transaction, one round through the driver. Succeeds with the
 * number of rows inserted (none when the stream had moved on). Two writers that both pass the
 * check (Postgres, read committed) collide on the primary key instead: see `isDuplicateKey`.
 * On Postgres the insert also notifies the other gateways, naming `origin` as the writer.
 */
export const guardedInsert = (sql: SqlClient.SqlClient, options: {
  readonly streamId: string
  readonly expectedSequence: number
  readonly createdAt: number
  readonly rows: ReadonlyArray<EventRow>
  readonly origin: string
}): Effect.Effect<number, SqlError> => {
  const { createdAt, expectedSequence, origin, rows, streamId } = options
  return sql.onDialectOrElse({
    pg: () =>
      Effect.map(
        sql.unsafe<{ readonly inserted: number }>(pgInsert, [
          streamId,
          createdAt,
          rows.map((row) => row.sequence),
          rows.map((row) => row.turnId),
          rows.map((row) => row.type),
          rows.map((row) => row.data),
          expectedSequence,
          encodeChange({ origin, streamId, from: expectedSequence + 1, last: expectedSequence + rows.length })
        ]),
        (result) => result[0]?.inserted ?? 0
      ),
    orElse: () =>
      Effect.map(
        sql.unsafe(sqliteInsert(rows.length), [
          ...rows.flatMap((row) => [streamId, row.sequence, row.turnId, row.type, row.data, createdAt]),
          streamId,
          expectedSequence
        ]).raw,
        (result) => (result as { readonly changes?: number }).changes ?? 0
      )
  })
}

/** The driver's error code: SQLite's result code, Postgres' SQLSTATE, or Node's for a failed connection. */
const codeOf = (error: SqlError): string | undefined => {
  const code = (error.cause as { readonly code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

/** Whether a write was refused because its key is taken: another writer appended the same sequence first. */
export const isDuplicateKey = (error: SqlError): boolean => {
  const code = codeOf(error)
  return code === "23505" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"
}

/** SQLite's result codes (with their extended codes), in words that name nothing internal. */
const sqliteReasons: Record<string, string> = {
  SQLITE_FULL: "the disk is full",
  SQLITE_READONLY: "the database is read-only",
  SQLITE_BUSY: "the database is locked by another process",
  SQLITE_LOCKED: "the database is locked",
  SQLITE_IOERR: "an I/O error",
  SQLITE_CANTOPEN: "the database file cannot be opened",
  SQLITE_CORRUPT: "the database file is corrupt"
}

/** Postgres' SQLSTATEs, exact or by class (the first two characters). */
const pgReasons: Record<string, string> = {
  "53100": "the database server's disk is full",
  "25006": "the database is read-only",
  "42501": "the database refuses the gateway's writes (permission denied)",
  "28P01": "the database refused the gateway's password",
  "28000": "the database refused the gateway's credentials",
  "53300": "the database server has no connection left",
  "55P03": "the database is locked",
  "57P01": "the database server is shutting down",
  "57P03": "the database server is not accepting connections yet",
  "08": "the connection to the database server failed",
  "53": "the database server is out of resources",
  "58": "an I/O error on the database server",
  "XX": "the database server failed internally"
}

/** Node's codes for a server that cannot be reached. */
const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH"])

/** Why a statement failed, briefly: the driver's message when its code is not one of the above. */
export const reasonOf = (error: SqlError): string => {
  const code = codeOf(error)
  if (code === undefined) return error.message
  const sqlite = Object.keys(sqliteReasons).find((prefix) => code === prefix || code.startsWith(`${prefix}_`))
  if (sqlite !== undefined) return sqliteReasons[sqlite]!
  if (/^[0-9A-Z]{5}$/.test(code)) {
    const pg = pgReasons[code] ?? pgReasons[code.slice(0, 2)]
    if (pg !== undefined) return pg
  }
  if (networkCodes.has(code)) return "the database server cannot be reached"
  return `${error.message} (${code})`
}
