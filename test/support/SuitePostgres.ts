/**
 * The suite's Postgres run (the `postgres` project in vitest.config.ts): one server for the whole
 * run, started by `setup` (the project's `globalSetup`, in Vitest's main process) and stopped
 * after it, its superuser's URL handed to the workers with `provide`. In a worker, `suiteDatabase`
 * makes a new database on it for one gateway; in the SQLite run it has none to give.
 */
import { Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import type { TestProject } from "vitest/node"
import { EventLogDatabase } from "../../src/AppConfig.js"
import { runStatement, startPostgres } from "./Postgres.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** The Postgres run's server, as its superuser; absent in the SQLite run. */
    readonly postgresAdminUrl?: string
  }
}

/** Starts the run's server; Vitest calls the returned teardown when the run ends, failed or not. */
export const setup = async (project: TestProject): Promise<() => Promise<void>> => {
  const server = await startPostgres()
  project.provide("postgresAdminUrl", server.adminUrl())
  return server.stop
}

export interface SuiteDatabase {
  readonly database: EventLogDatabase
  /** Drops the database and its role (after every connection to it is closed). */
  readonly drop: () => Promise<void>
}

/**
 * In the Postgres run, a new, empty database owned by a new plain login role (as a gateway
 * connects), with a pool of four; in the SQLite run, undefined. Vitest is imported here, in a
 * worker only: the benchmark imports the test harness too.
 */
export const suiteDatabase = async (): Promise<SuiteDatabase | undefined> => {
  const adminUrl = (await import("vitest")).inject("postgresAdminUrl")
  if (adminUrl === undefined) return undefined
  const name = `gateway_${NodeCrypto.randomBytes(6).toString("hex")}`
  const password = NodeCrypto.randomBytes(12).toString("hex")
  await runStatement(adminUrl, `CREATE ROLE ${name} LOGIN PASSWORD '${password}'`)
  await runStatement(adminUrl, `CREATE DATABASE ${name} OWNER ${name}`)
  const url = new URL(adminUrl)
  url.username = name
  url.password = password
  url.pathname = `/${name}`
  return {
    database: EventLogDatabase.Postgres({ url: Redacted.make(url.href), poolSize: 4 }),
    drop: async () => {
      await runStatement(adminUrl, `DROP DATABASE ${name} WITH (FORCE)`)
      await runStatement(adminUrl, `DROP ROLE ${name}`)
    }
  }
}
