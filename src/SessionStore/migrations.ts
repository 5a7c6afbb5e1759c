/**
 * Schema migrations of the event log, applied in order at startup: one set per database, with
 * the same names and the same schema (a migration added later goes into both).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** SQLite's (databases in use have these applied: never edit one, add the next). */
export const migrations = {
  "0001_session_events": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      CREATE TABLE session_events (
        session_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        turn_id TEXT,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, sequence)
      )
    `
    yield* sql`CREATE INDEX session_events_by_type ON session_events (type, created_at)`
    yield* sql`CREATE INDEX session_events_by_turn ON session_events (turn_id)`
    // Append-only: the log is never rewritten in place.
    yield* sql`
      CREATE TRIGGER session_events_no_update BEFORE UPDATE ON session_events
      BEGIN SELECT RAISE(ABORT, 'session_events is append-only'); END
    `
  }),
  "0002_conversation_digest": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Stateless clients find their session by the digest of the conversation they resend.
    yield* sql`
      CREATE INDEX session_events_by_digest ON session_events (json_extract(data, '$.conversationDigest'))
      WHERE type = 'TurnCompleted'
    `
  }),
  "0003_write_probe": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // `/health` writes (and deletes) a row here to see whether the log takes writes again.
    yield* sql`CREATE TABLE write_probe (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)`
  })
}

/** Postgres': the timestamp is a BIGINT, the payload JSON text (the bytes the gateway wrote, read back as they are). */
export const pgMigrations = {
  "0001_session_events": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      CREATE TABLE session_events (
        session_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        turn_id TEXT,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (session_id, sequence)
      )
    `
    yield* sql`CREATE INDEX session_events_by_type ON session_events (type, created_at)`
    yield* sql`CREATE INDEX session_events_by_turn ON session_events (turn_id)`
    // Append-only: the log is never rewritten in place.
    yield* sql`
      CREATE FUNCTION session_events_append_only() RETURNS trigger LANGUAGE plpgsql
      AS $$ BEGIN RAISE EXCEPTION 'session_events is append-only'; END $$
    `
    yield* sql`
      CREATE TRIGGER session_events_no_update BEFORE UPDATE ON session_events
      FOR EACH ROW EXECUTE FUNCTION session_events_append_only()
    `
  }),
  "0002_conversation_digest": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Stateless clients find their session by the digest of the conversation they resend. The
    // expression is the one `SessionQueries` compares (Postgres' JSON functions refuse a document
    // holding an escaped NUL, so it is read as U+FFFD).
    yield* sql`
      CREATE INDEX session_events_by_digest
      ON session_events ((replace(data, '\\u0000', '\\ufffd')::json #>> '{conversationDigest}'))
      WHERE type = 'TurnCompleted'
    `
  }),
  "0003_write_probe": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // `/health` writes (and deletes) a row here to see whether the log takes writes again.
    yield* sql`CREATE TABLE write_probe (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload BYTEA NOT NULL)`
  })
}
