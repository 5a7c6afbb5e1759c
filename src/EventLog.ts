/**
 * EventLog: the event log's database, serving both `SessionStore` (the log) and
 * `SessionQueries` (its read models): a SQLite file (created with its directory, WAL mode,
 * one connection), or a Postgres database (a pool), with the migrations of its dialect applied.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Effect, Layer, type Redacted } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
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

/**
 * A Postgres `SqlClient` (a pool of at most `poolSize` connections), migrated. Several gateways
 * may share the database: the migrator locks its table while it runs.
 */
const postgres = (url: Redacted.Redacted<string>, options: { readonly poolSize: number }) =>
  PgMigrator.layer({ loader: Migrator.fromRecord(pgMigrations) }).pipe(
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
