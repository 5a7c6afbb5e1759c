/**
 * The event log's two databases, for contract tests that must hold on both: a SQLite file in a
 * scratch directory, and a database on a real Postgres server the test file starts
 * (`postgresForFile`). Each `fresh` is a new, empty database; `eventLog` opens one (as often as
 * asked: a reopened database keeps its events).
 */
import { NodeContext } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll } from "vitest"
import { EventLogDatabase } from "../../src/AppConfig.js"
import { EventLog } from "../../src/EventLog.js"
import { SessionStore } from "../../src/SessionStore.js"
import { startPostgres, type TestPostgres } from "./Postgres.js"

export interface LogDialect {
  readonly name: "SQLite" | "Postgres"
  /** A new, empty database. */
  readonly fresh: () => Promise<EventLogDatabase>
}

/**
 * A server for the calling test file: started before its tests, stopped and removed after them.
 * Returns its getter (the server exists once the file's `beforeAll` ran).
 */
export const postgresForFile = (): () => TestPostgres => {
  let server: TestPostgres | undefined
  beforeAll(async () => {
    server = await startPostgres()
  }, 60_000)
  afterAll(async () => {
    await server?.stop()
  })
  return () => {
    if (server === undefined) throw new Error("the test file's Postgres server has not started")
    return server
  }
}

/** The log, its read models and their `SqlClient` over `database`, migrated. */
export const eventLog = (database: EventLogDatabase) =>
  EventLog.layerFor(database).pipe(Layer.provide(NodeContext.layer))

/** The log over a new, empty database of `dialect`. */
export const freshLog = (dialect: LogDialect) => Layer.unwrapEffect(Effect.map(Effect.promise(dialect.fresh), eventLog))

/**
 * Both dialects, for the calling test file: its scratch directory is removed and its Postgres
 * server stopped after its tests. Also returns the server, for the file's Postgres-only tests.
 */
export const logDialects = (): {
  readonly dialects: ReadonlyArray<LogDialect>
  readonly postgres: () => TestPostgres
} => {
  const postgres = postgresForFile()
  const scratch: Array<string> = []
  afterAll(() => {
    for (const dir of scratch) NodeFs.rmSync(dir, { recursive: true, force: true })
  })
  const sqlite: LogDialect = {
    name: "SQLite",
    fresh: async () => {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-log-"))
      scratch.push(dir)
      // A directory that does not exist yet: the layer creates it.
      return EventLogDatabase.Sqlite({ path: NodePath.join(dir, "nested", "events.db") })
    }
  }
  const pg: LogDialect = {
    name: "Postgres",
    fresh: async () => EventLogDatabase.Postgres({ url: Redacted.make(await postgres().createDatabase()), poolSize: 4 })
  }
  return { dialects: [sqlite, pg], postgres }
}

/**
 * For tests of several gateways on one Postgres server (the file's, from `postgresForFile`): a
 * new database and its name (for the superuser's statements), and one gateway's log over a
 * database, with its own pool and store, for the scope's life.
 */
export const postgresGateways = (postgres: () => TestPostgres) => ({
  freshDatabase: Effect.promise(() => postgres().createDatabase()).pipe(
    Effect.map((url) => ({
      name: new URL(url).pathname.slice(1),
      database: EventLogDatabase.Postgres({ url: Redacted.make(url), poolSize: 4 })
    }))
  ),
  node: (database: EventLogDatabase) =>
    Effect.map(Layer.build(eventLog(database)), (context) => ({
      store: Context.get(context, SessionStore),
      sql: Context.get(context, SqlClient.SqlClient),
      pg: Context.get(context, PgClient.PgClient)
    }))
})
