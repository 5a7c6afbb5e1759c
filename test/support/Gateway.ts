/**
 * Test harness: the whole gateway (every real service and the HTTP server) on an
 * ephemeral loopback port, with a temporary database (or the Postgres database given as
 * `database`) and project root. Point it at the fake CLI or at the real CLI talking to the fake
 * Anthropic API.
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
  /** The SQLite file (unused when the gateway runs on the Postgres database it was given). */
  readonly databasePath: string
  readonly projectRoot: string
  readonly directory: string
  /** Runs a statement on the gateway's own database connection (per-connection pragmas reach the gateway's writes). */
  readonly sql: (statement: string) => Promise<ReadonlyArray<unknown>>
  readonly close: () => Promise<void>
}

export const tempDirectory = (prefix = "cca-test-") => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), prefix))

/** Configuration for a gateway that runs the real CLI against a fake Anthropic API. */
export const realCliConfig = (fake: FakeAnthropic, home: string): Partial<AppConfigShape> => ({
  claudeBinary: realCliPath,
  cliEnv: { ...cliEnvFor(fake), HOME: home }
})

/** Starts a gateway; `config` overrides the defaults (fake CLI, loopback, port 0, temp paths). */
export const startGateway = async (config: AppConfigOverrides = {}): Promise<Gateway> => {
  const directory = tempDirectory()
  const databasePath = config.databasePath ?? NodePath.join(directory, "gateway.db")
  const database = config.database ?? EventLogDatabase.Sqlite({ path: databasePath })
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
  return {
    url,
    baseURL: `${url}/v1`,
    databasePath,
    projectRoot,
    directory,
    sql: (statement) => Effect.runPromise(Context.get(context, SqlClient.SqlClient).unsafe(statement)),
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      NodeFs.rmSync(directory, { recursive: true, force: true })
    }
  }
}
