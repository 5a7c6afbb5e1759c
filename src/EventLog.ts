/**
 * EventLog: the event log's database, serving both `SessionStore` (the log) and
 * `SessionQueries` (its read models): a SQLite file (created with its directory, WAL mode,
 * one connection), or a Postgres database (a pool), with the migrations of its dialect applied.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Redacted } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as Pg from "pg"
import { AppConfig, type EventLogDatabase } from "./AppConfig.js"
import { SessionQueries } from "./SessionQueries.js"
import { SessionStore } from "./SessionStore.js"
import { migrations, pgMigrations } from "./SessionStore/migrations.js"

/** A SQLite `SqlClient` over `filename` (created when missing), tuned for the log and migrated. */
const database = (filename: string) =>
  Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    // WAL is on by default; NORMAL sync is durable across process crashes and keeps appends cheap.
    // The driver waits for a lock synchronously (the whole process stops meanwhile), 5 s by default:
    // the gateway is the log's only writer, so a lock held elsewhere fails a write after 100 ms.
    Effect.orDie(Effect.zipRight(sql`PRAGMA synchronous = NORMAL`, sql`PRAGMA busy_timeout = 100`)))).pipe(
      Layer.provideMerge(SqliteMigrator.layer({ loader: Migrator.fromRecord(migrations) })),
      Layer.provideMerge(
        Layer.unwrapEffect(Effect.sync(() => {
          NodeFs.mkdirSync(NodePath.dirname(filename), { recursive: true })
          return SqliteClient.layer({ filename })
        }))
      )
    )

/** The advisory lock that gateways starting on one database take in turn to migrate it. */
const migrationLock = 0x63636131 // "cca1"

/**
 * Runs `effect` while holding a database-wide advisory lock, on a connection of its own (outside
 * the pool, which may have a single one): gateways that start together on a new database create
 * its tables one at a time (`CREATE TABLE IF NOT EXISTS` run at once by two of them collides in
 * Postgres' catalog). `effect` keeps the caller's scope.
 */
export const inMigrationTurn = (url: Redacted.Redacted<string>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new Pg.Client({
          connectionString: Redacted.value(url),
          application_name: "claude-code-api migrate"
        })
        // A server that drops the connection must not crash the process: the lock is gone with it.
        client.on("error", () => undefined)
        await client.connect()
        await client.query("SELECT pg_advisory_lock($1)", [migrationLock])
        return client
      },
      catch: (cause) => new SqlError({ cause, message: "Failed to lock the database for its migrations" })
    }),
    () => effect,
    // Closing the connection releases the lock.
    (client) => Effect.promise(() => client.end().catch(() => undefined))
  )

/** Runs the migrations, one gateway at a time (the migrator creates its table before it locks it). */
const migrateInTurn = (url: Redacted.Redacted<string>) =>
  inMigrationTurn(url)(PgMigrator.run({ loader: Migrator.fromRecord(pgMigrations) }))

/**
 * A Postgres `SqlClient` (a pool of at most `poolSize` connections), migrated. Several gateways
 * may share the database: they migrate it one at a time.
 */
const postgres = (url: Redacted.Redacted<string>, options: { readonly poolSize: number }) =>
  Layer.effectDiscard(migrateInTurn(url)).pipe(
    Layer.provideMerge(
      PgClient.layer({ url, maxConnections: options.poolSize, applicationName: "claude-code-api" })
    )
  )

/** The log and its read models over the given `SqlClient`, which they also provide (for embedders' own queries and checks). */
const over = <E, R>(client: Layer.Layer<SqlClient.SqlClient, E, R>) =>
  Layer.mergeAll(SessionStore.layer, SessionQueries.layer).pipe(Layer.provideMerge(client))

/** The log and its read models over a SQLite file. */
const layerSqlite = (filename: string) => over(database(filename))

/** The log and its read models over a Postgres database. */
const layerPg = (url: Redacted.Redacted<string>, options: { readonly poolSize: number }) => over(postgres(url, options))

/** The log and its read models over `database`. */
const layerFor = (database: EventLogDatabase) =>
  database._tag === "Sqlite" ? layerSqlite(database.path) : layerPg(database.url, database)

export const EventLog = {
  database,
  postgres,
  layerSqlite,
  layerPg,
  layerFor,
  /** Over the database named by `AppConfig.database`. */
  layer: Layer.unwrapEffect(Effect.map(AppConfig, (config) => layerFor(config.database)))
}
