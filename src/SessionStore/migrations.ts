/**
 * Schema migrations of the event log, applied in order at startup.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

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
