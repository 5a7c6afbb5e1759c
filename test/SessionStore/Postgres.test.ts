/**
 * The log on a real Postgres server, where SQLite has no equivalent: two gateways (two pools)
 * appending to one session at the same expected sequence, one of them after the other's check
 * passed (read committed), so the primary key decides (exactly one wins, the other gets
 * `SequenceConflict`, nothing lost or doubled); a refused write (privileges revoked) making the
 * log unwritable until a probe write goes in; and a server that cannot be used failing the
 * start without showing the URL's password.
 */
import { NodeContext } from "@effect/platform-node"
import { type SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber, Layer, Redacted, Schedule } from "effect"
import { EventLog } from "../../src/EventLog.js"
import { created, delta, texts } from "../support/events.js"
import { postgresForFile, postgresGateways } from "../support/LogDatabases.js"
import { freePort } from "../support/ports.js"
import { gatewayRole } from "../support/Postgres.js"

const postgres = postgresForFile()
const { freshDatabase, node } = postgresGateways(postgres)

/** Waits until a statement of this database waits for a row lock held by another transaction. */
const someoneWaitsForALock = (sql: SqlClient.SqlClient) =>
  sql<{ readonly waiting: number | string }>`
    SELECT COUNT(*) AS waiting FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
  `.pipe(
    Effect.map(([row]) => Number(row?.waiting ?? 0)),
    Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (waiting) => waiting > 0 }),
    Effect.timeout("10 seconds")
  )

describe("SessionStore (Postgres: two writers)", () => {
  it.scopedLive("a writer that passed the check but lost the race for the key gets SequenceConflict", () =>
    Effect.gen(function*() {
      const { database } = yield* freshDatabase
      const a = yield* node(database)
      const b = yield* node(database)
      yield* a.store.append("s", 0, [created])

      // A's rows are in but not committed: B's check does not see them, so B inserts too and waits on A's key.
      const appended = yield* Deferred.make<void>()
      const commit = yield* Deferred.make<void>()
      const writerA = yield* a.sql.withTransaction(
        a.store.append("s", 1, [delta("a1"), delta("a2")]).pipe(
          Effect.zipLeft(Deferred.succeed(appended, undefined)),
          Effect.zipLeft(Deferred.await(commit))
        )
      ).pipe(Effect.fork)
      yield* Deferred.await(appended)
      const writerB = yield* b.store.append("s", 1, [delta("b1")]).pipe(Effect.either, Effect.fork)
      yield* someoneWaitsForALock(a.sql)
      yield* Deferred.succeed(commit, undefined)

      expect((yield* Fiber.join(writerA)).map((entry) => entry.sequence)).toEqual([2, 3])
      const lost = yield* Fiber.join(writerB)
      expect(Either.isLeft(lost) && lost.left).toMatchObject({ _tag: "SequenceConflict", sessionId: "s", expected: 1 })
      expect(texts(yield* b.store.read("s"))).toEqual(["<SessionCreated>", "a1", "a2"])
      // B's log still takes writes: a conflict is not a failure of the database.
      yield* b.store.checkWritable
      yield* b.store.append("s", 3, [delta("b2")])
      expect(yield* a.store.lastSequence("s")).toBe(4)
    }))

  it.scopedLive("when the first writer rolls back, the one waiting on its key goes in", () =>
    Effect.gen(function*() {
      const { database } = yield* freshDatabase
      const a = yield* node(database)
      const b = yield* node(database)
      yield* a.store.append("s", 0, [created])

      const appended = yield* Deferred.make<void>()
      const abort = yield* Deferred.make<void>()
      const writerA = yield* a.sql.withTransaction(
        a.store.append("s", 1, [delta("a1")]).pipe(
          Effect.zipLeft(Deferred.succeed(appended, undefined)),
          Effect.zipRight(Deferred.await(abort)),
          Effect.zipRight(Effect.fail("rolled back" as const))
        )
      ).pipe(Effect.flip, Effect.fork)
      yield* Deferred.await(appended)
      const writerB = yield* b.store.append("s", 1, [delta("b1")]).pipe(Effect.fork)
      yield* someoneWaitsForALock(a.sql)
      yield* Deferred.succeed(abort, undefined)

      expect(yield* Fiber.join(writerA)).toBe("rolled back")
      expect((yield* Fiber.join(writerB)).map((entry) => entry.sequence)).toEqual([2])
      expect(texts(yield* a.store.read("s"))).toEqual(["<SessionCreated>", "b1"])
    }))

  it.scopedLive("two gateways racing on the same sessions: one append wins each round, nothing lost or doubled", () =>
    Effect.gen(function*() {
      const { database } = yield* freshDatabase
      const a = yield* node(database)
      const b = yield* node(database)
      const sessions = Array.from({ length: 20 }, (_, index) => `race-${index}`)
      const rounds = 15
      const outcomes = yield* Effect.forEach(sessions, (sessionId) =>
        Effect.gen(function*() {
          const winners: Array<string> = []
          const losses: Array<string> = []
          for (let round = 0; round < rounds; round++) {
            const expected = round * 2
            const [first, second] = yield* Effect.all([
              a.store.append(sessionId, expected, [delta(`a${round}`), delta(`a${round}'`)]).pipe(Effect.either),
              b.store.append(sessionId, expected, [delta(`b${round}`), delta(`b${round}'`)]).pipe(Effect.either)
            ], { concurrency: 2 })
            for (const [who, outcome] of [["a", first], ["b", second]] as const) {
              if (Either.isRight(outcome)) winners.push(who)
              else losses.push(outcome.left._tag)
            }
            // Exactly one of the two went in this round.
            expect(winners.length, `${sessionId} round ${round}`).toBe(round + 1)
          }
          return { sessionId, winners, losses }
        }), { concurrency: "unbounded" })

      for (const { losses, sessionId, winners } of outcomes) {
        expect(losses).toEqual(Array.from({ length: rounds }, () => "SequenceConflict"))
        const log = yield* a.store.read(sessionId)
        expect(log.map((entry) => entry.sequence)).toEqual(Array.from({ length: rounds * 2 }, (_, i) => i + 1))
        expect(texts(log)).toEqual(winners.flatMap((who, round) => [`${who}${round}`, `${who}${round}'`]))
      }
    }))
})

describe("SessionStore (Postgres: failures)", () => {
  it.scopedLive("after a refused append it is unwritable until a probe write goes in (privileges revoked, then granted)", () =>
    Effect.gen(function*() {
      const { database, name } = yield* freshDatabase
      const { store } = yield* node(database)
      const admin = (statement: string) => Effect.promise(() => postgres().run(statement, name))
      yield* store.append("s1", 0, [delta("before")])
      yield* store.checkWritable

      yield* admin(`REVOKE INSERT ON session_events, write_probe FROM ${gatewayRole}`)
      const refused = yield* store.append("s1", 1, [delta("refused")]).pipe(Effect.flip)
      const reason = "the database refuses the gateway's writes (permission denied)"
      expect(refused).toMatchObject({ _tag: "StoreError", message: `append: ${reason}` })
      expect(yield* store.checkWritable.pipe(Effect.flip)).toMatchObject({ message: `write: ${reason}` })
      yield* store.ping

      yield* admin(`GRANT INSERT ON session_events, write_probe TO ${gatewayRole}`)
      yield* store.checkWritable
      yield* store.append("s1", 1, [delta("after")])
      expect(texts(yield* store.read("s1"))).toEqual(["before", "after"])
    }))

  it.live("a server that refuses the password, or is not there, fails the start without showing the password", () =>
    Effect.gen(function*() {
      const password = "not-the-password-4711"
      const closedPort = yield* Effect.promise(freePort)
      const urls = [
        `postgres://${gatewayRole}:${password}@127.0.0.1:${postgres().port}/postgres`,
        `postgres://${gatewayRole}:${password}@127.0.0.1:${closedPort}/postgres`
      ]
      for (const url of urls) {
        const failure = yield* Effect.flip(
          Layer.launch(EventLog.layerPg(Redacted.make(url), { poolSize: 1 }).pipe(Layer.provide(NodeContext.layer)))
            .pipe(
              Effect.timeout("20 seconds")
            )
        )
        const shown = `${String(failure)} ${JSON.stringify(failure)} ${
          String((failure as { readonly cause?: unknown }).cause)
        }`
        expect(shown).not.toContain(password)
        expect(failure).toMatchObject({ _tag: "SqlError" })
      }
    }))
})

describe("SessionStore (Postgres: gateways starting together)", () => {
  it.scopedLive("several gateways migrating a brand-new database at the same moment all start, with one schema", () =>
    Effect.gen(function*() {
      const { database } = yield* freshDatabase
      const nodes = yield* Effect.all(Array.from({ length: 4 }, () => node(database)), { concurrency: "unbounded" })
      yield* nodes[0]!.store.append("s", 0, [created])
      for (const other of nodes) expect(texts(yield* other.store.read("s"))).toEqual(["<SessionCreated>"])
      const applied = yield* nodes[0]!.sql<{ readonly count: number | string }>`
        SELECT COUNT(*) AS count FROM effect_sql_migrations
      `
      expect(Number(applied[0]!.count)).toBe(3)
    }))
})
