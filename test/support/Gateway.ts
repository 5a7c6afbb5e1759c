/**
 * Test harness: the whole gateway (every real service and the HTTP server) on an
 * ephemeral loopback port, with a temporary database and project root. The database is the one
 * given (`database` or `databasePath`), else a new one: a SQLite file in the gateway's scratch
 * directory, or in the suite's Postgres run a database on its server (`SuitePostgres.ts`). Point
 * it at the fake CLI or at the real CLI talking to the fake Anthropic API.
 */
import { HttpServer } from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { AppConfig, type AppConfigOverrides, type AppConfigShape, EventLogDatabase } from "../../src/AppConfig.js"
import { HttpAppLive } from "../../src/Http/Server.js"
import { ServicesLive } from "../../src/Layers.js"
import { loggingLayer } from "../../src/Logging.js"
import { cliEnvFor, type FakeAnthropic } from "../fixtures/FakeAnthropic.js"
import { type SuiteDatabase, suiteDatabase } from "./SuitePostgres.js"

export const fakeCliPath = NodePath.resolve(import.meta.dirname, "..", "fixtures", "fake-claude.mjs")
export const realCliPath = NodePath.resolve(
  import.meta.dirname,
  "..",
  "..",
  "node_modules",
  "@anthropic-ai",
  "claude-code",
  "bin",
  "claude.exe"
)

export interface Gateway {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string
  /** `${url}/v1`, for the openai SDK's baseURL */
  readonly baseURL: string
  /** The SQLite file (unused when the gateway runs on Postgres). */
  readonly databasePath: string
  /** The event log's database. */
  readonly database: EventLogDatabase
  readonly projectRoot: string
  readonly directory: string
  /** Runs a statement on the gateway's own database connection (per-connection pragmas reach the gateway's writes). */
  readonly sql: (statement: string) => Promise<ReadonlyArray<unknown>>
  /** Runs `f` on the gateway's own `SqlClient`: its tagged-template statements work on both dialects. */
  readonly query: <A, E>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) => Promise<A>
  readonly close: () => Promise<void>
}

export const tempDirectory = (prefix = "cca-test-") => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), prefix))

/** Configuration for a gateway that runs the real CLI against a fake Anthropic API. */
export const realCliConfig = (fake: FakeAnthropic, home: string): Partial<AppConfigShape> => ({
  claudeBinary: realCliPath,
  cliEnv: { ...cliEnvFor(fake), HOME: home }
})

/**
 * A database for gateways that run one after another on the same log: in the Postgres run a new
 * one on its server, else a SQLite file in `directory`. `drop` removes the Postgres one.
 */
export const sharedDatabase = async (directory: string): Promise<SuiteDatabase> =>
  (await suiteDatabase()) ?? {
    database: EventLogDatabase.Sqlite({ path: NodePath.join(directory, "gateway.db") }),
    drop: () => Promise.resolve()
  }

/**
 * Starts a gateway; `config` overrides the defaults (fake CLI, loopback, port 0, temp paths, a
 * new database).
 */
export const startGateway = async (config: AppConfigOverrides = {}): Promise<Gateway> => {
  const directory = tempDirectory()
  const databasePath = config.databasePath ?? NodePath.join(directory, "gateway.db")
  const own = config.database === undefined && config.databasePath === undefined ? await suiteDatabase() : undefined
  const database = config.database ?? own?.database ?? EventLogDatabase.Sqlite({ path: databasePath })
  const projectRoot = config.projectRoot ?? NodePath.join(directory, "projects")
  NodeFs.mkdirSync(projectRoot, { recursive: true })
  const layer = HttpAppLive.pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => NodeHttp.createServer(), { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(ServicesLive),
    Layer.provide(
      AppConfig.layerWith({
        claudeBinary: fakeCliPath,
        port: 0,
        // Suites that count processes start with no spare; the spare has tests of its own.
        spareProcess: false,
        ...config,
        databasePath: undefined,
        database,
        projectRoot
      })
    ),
    Layer.provide(NodeContext.layer),
    // The gateway's own logger, quiet below warnings: a line per request would drown the test output.
    Layer.provide(loggingLayer({ level: "warn", format: "text" }))
  )
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  const url = `http://127.0.0.1:${address.port}`
  const sql = Context.get(context, SqlClient.SqlClient)
  return {
    url,
    baseURL: `${url}/v1`,
    databasePath,
    database,
    projectRoot,
    directory,
    sql: (statement) => Effect.runPromise(sql.unsafe(statement)),
    query: (f) => Effect.runPromise(f(sql)),
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await own?.drop()
      NodeFs.rmSync(directory, { recursive: true, force: true })
    }
  }
}
