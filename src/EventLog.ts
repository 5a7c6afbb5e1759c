/**
 * EventLog: the event log's database, a SQLite file (created with its directory, WAL mode,
 * migrations applied), serving both `SessionStore` (the log) and `SessionQueries` (its read
 * models) over one connection.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "./AppConfig.js"
import { SessionQueries } from "./SessionQueries.js"
import { SessionStore } from "./SessionStore.js"
import { migrations } from "./SessionStore/migrations.js"

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

/** The log and its read models over a SQLite file, and its `SqlClient` (for embedders' own queries and checks). */
const layerSqlite = (filename: string) =>
  Layer.mergeAll(SessionStore.layer, SessionQueries.layer).pipe(Layer.provideMerge(database(filename)))

export const EventLog = {
  database,
  layerSqlite,
  /** Over the database named by `AppConfig.databasePath`. */
  layer: Layer.unwrapEffect(Effect.map(AppConfig, (config) => layerSqlite(config.databasePath)))
}
