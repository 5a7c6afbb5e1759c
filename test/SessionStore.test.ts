/**
 * SessionStore over a real SQLite file and a real Postgres database, the same contract on both:
 * optimistic appends, reads, the live tail, round-trips of every kind of event through the JSON
 * column, the append-only guard, reopening (idempotent migrations). Then SQLite's own: WAL mode,
 * a full disk. (Postgres' own, two writers racing and refused writes: `SessionStore/Postgres.test.ts`.)
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Stream } from "effect"
import { ModelRejected, UpstreamFailure } from "../src/Domain/Errors.js"
import {
  ModelFallback,
  SessionCreated,
  type SessionEvent,
  TextDelta,
  ThinkingDelta,
  ToolResult,
  ToolUse,
  TurnAttached,
  TurnCancelled,
  TurnCompleted,
  TurnFailed,
  TurnStarted,
  UpstreamRetry
} from "../src/Domain/SessionEvent.js"
import { SessionStore } from "../src/SessionStore.js"
import { texts } from "./support/events.js"
import { eventLog, freshLog, type LogDialect, logDialects } from "./support/LogDatabases.js"

const { dialects } = logDialects()
const sqlite = dialects.find((dialect) => dialect.name === "SQLite")!

const delta = (turnId: string, text: string) => new TextDelta({ turnId, text })

const contract = (dialect: LogDialect) =>
  describe(`SessionStore (${dialect.name})`, () => {
    /** The store, its read models and the raw `SqlClient` over a new, empty database. */
    const fresh = () => freshLog(dialect)

    it.live("appends with expected sequences and numbers events from 1", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        expect(yield* store.lastSequence("s1")).toBe(0)
        const first = yield* store.append("s1", 0, [
          new SessionCreated({ projectId: "default", cwd: "/tmp/x" }),
          delta("t1", "a")
        ])
        expect(first.map((entry) => entry.sequence)).toEqual([1, 2])
        expect(first.every((entry) => entry.sessionId === "s1")).toBe(true)
        const second = yield* store.append("s1", 2, [delta("t1", "b"), delta("t1", "c")])
        expect(second.map((entry) => entry.sequence)).toEqual([3, 4])
        expect(yield* store.lastSequence("s1")).toBe(4)
        // Sessions are numbered independently.
        const other = yield* store.append("s2", 0, [delta("t2", "z")])
        expect(other.map((entry) => entry.sequence)).toEqual([1])
        expect(yield* store.lastSequence("s1")).toBe(4)
        // Appending nothing is a no-op.
        expect(yield* store.append("s1", 4, [])).toEqual([])
        yield* store.ping
      }).pipe(Effect.provide(fresh())))

    it.live("a wrong expected sequence fails with SequenceConflict and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        yield* store.append("s", 0, [delta("t", "a"), delta("t", "b")])
        const stale = yield* Effect.flip(store.append("s", 1, [delta("t", "stale")]))
        expect(stale._tag).toBe("SequenceConflict")
        if (stale._tag === "SequenceConflict") {
          expect(stale.sessionId).toBe("s")
          expect(stale.expected).toBe(1)
        }
        const ahead = yield* Effect.flip(store.append("s", 5, [delta("t", "ahead")]))
        expect(ahead._tag).toBe("SequenceConflict")
        const fresh = yield* Effect.flip(store.append("new-session", 3, [delta("t", "x")]))
        expect(fresh._tag).toBe("SequenceConflict")
        expect(texts(yield* store.read("s"))).toEqual(["a", "b"])
        expect(yield* store.read("new-session")).toEqual([])
      }).pipe(Effect.provide(fresh())))

    it.live("a large append (several statements) is numbered in order and all-or-nothing", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        const many = Array.from({ length: 1234 }, (_, index) => delta("t", `d${index}`))
        const stored = yield* store.append("big", 0, many)
        expect(stored.map((entry) => entry.sequence)).toEqual(many.map((_, index) => index + 1))
        const read = yield* store.read("big")
        expect(read.length).toBe(1234)
        expect(texts(read.slice(-2))).toEqual(["d1232", "d1233"])
        // A stale writer of a large chunk leaves nothing behind, not even its first batches.
        yield* store.append("big2", 0, [delta("t", "first")])
        const conflict = yield* Effect.flip(store.append("big2", 0, many))
        expect(conflict._tag).toBe("SequenceConflict")
        expect(texts(yield* store.read("big2"))).toEqual(["first"])
        const late = yield* Effect.flip(
          store.append("big3", 0, many).pipe(
            Effect.zipRight(store.append("big3", 600, many))
          )
        )
        expect(late._tag).toBe("SequenceConflict")
        expect(yield* store.lastSequence("big3")).toBe(1234)
      }).pipe(Effect.provide(fresh())))

    it.live("read honours after and limit, oldest first", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        yield* store.append("s", 0, ["a", "b", "c", "d", "e"].map((text) => delta("t", text)))
        yield* store.append("other", 0, [delta("u", "x")])
        expect(texts(yield* store.read("s"))).toEqual(["a", "b", "c", "d", "e"])
        expect(texts(yield* store.read("s", { after: 2 }))).toEqual(["c", "d", "e"])
        expect(texts(yield* store.read("s", { limit: 2 }))).toEqual(["a", "b"])
        expect(texts(yield* store.read("s", { after: 1, limit: 3 }))).toEqual(["b", "c", "d"])
        expect((yield* store.read("s", { after: 3 })).map((entry) => entry.sequence)).toEqual([4, 5])
        expect(yield* store.read("s", { after: 5 })).toEqual([])
        expect(yield* store.read("missing")).toEqual([])
        const [entry] = yield* store.read("s", { limit: 1 })
        expect(entry!.timestamp).toBeGreaterThan(Date.now() - 60_000)
        expect(entry!.timestamp).toBeLessThanOrEqual(Date.now())
      }).pipe(Effect.provide(fresh())))

    it.live("every kind of event round-trips to the same Schema class", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        const turnId = "turn_1"
        const events: ReadonlyArray<SessionEvent> = [
          new SessionCreated({ projectId: "default", cwd: "/srv/projects/default" }),
          new TurnStarted({
            turnId,
            messages: [
              {
                role: "user",
                content: [{ _tag: "text", text: "hi" }, { _tag: "image", mediaType: "image/png", data: "AAAA" }]
              },
              { role: "assistant", content: [{ _tag: "text", text: "hello" }] },
              { role: "user", content: [{ _tag: "text", text: "again" }] }
            ],
            systemPrompt: "Be brief.",
            requestedModel: "sonnet",
            resolvedModel: "claude-sonnet-5",
            fallbackModels: ["claude-haiku-4-5"],
            parameters: { temperature: 0.2, user: "u-1", nested: { a: [1, 2] } }
          }),
          new ModelFallback({
            turnId,
            fromModel: "claude-sonnet-5",
            toModel: "claude-haiku-4-5",
            reason: "model_rejected"
          }),
          new UpstreamRetry({ turnId, attempt: 1, status: 429, kind: "rate_limit", delayMs: 1000 }),
          new TurnAttached({ turnId, model: "claude-haiku-4-5", cliSessionId: "cli-1", cliVersion: "2.1.197" }),
          new ThinkingDelta({ turnId, text: "hmm" }),
          new TextDelta({ turnId, text: "Hello" }),
          new ToolUse({ turnId, toolUseId: "toolu_1", name: "Bash", input: { command: "echo hi" } }),
          new ToolResult({ turnId, toolUseId: "toolu_1", content: "hi", isError: false }),
          new TurnCompleted({
            turnId,
            model: "claude-haiku-4-5",
            cliSessionId: "cli-1",
            stopReason: "end_turn",
            usage: { inputTokens: 100, outputTokens: 5, cacheReadInputTokens: 30, cacheCreationInputTokens: 20 },
            costUsd: 0.0123,
            durationMs: 456,
            numTurns: 2
          }),
          new TurnFailed({
            turnId: "turn_2",
            error: new ModelRejected({ models: ["a", "b"], message: "no such model" })
          }),
          new TurnFailed({
            turnId: "turn_3",
            error: new UpstreamFailure({ status: 429, kind: "rate_limit", message: "slow down", retryAfterSeconds: 1 })
          }),
          new TurnCancelled({ turnId: "turn_4", reason: "client" })
        ]
        yield* store.append("s", 0, events)
        const stored = yield* store.read("s")
        expect(stored).toHaveLength(events.length)
        stored.forEach((entry, index) => {
          const original = events[index]!
          expect(entry.sequence).toBe(index + 1)
          expect(entry.event.constructor).toBe(original.constructor)
          expect(entry.event).toEqual(original)
        })

        const failed = stored[10]!.event
        expect(failed).toBeInstanceOf(TurnFailed)
        if (!(failed instanceof TurnFailed)) return
        expect(failed.error).toBeInstanceOf(ModelRejected)
        expect(failed.error._tag).toBe("ModelRejected")
        if (failed.error._tag === "ModelRejected") {
          expect(failed.error.models).toEqual(["a", "b"])
          expect(failed.error.message).toBe("no such model")
        }
        const upstream = stored[11]!.event
        expect(upstream instanceof TurnFailed && upstream.error instanceof UpstreamFailure).toBe(true)
        const started = stored[1]!.event
        expect(started).toBeInstanceOf(TurnStarted)
        if (started instanceof TurnStarted) {
          expect(started.messages[0]!.content[1]).toEqual({ _tag: "image", mediaType: "image/png", data: "AAAA" })
          expect(started.parameters).toEqual({ temperature: 0.2, user: "u-1", nested: { a: [1, 2] } })
        }
      }).pipe(Effect.provide(fresh())))

    it.live("tail replays stored events, then delivers live appends exactly once and in order", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        yield* store.append("s", 0, [delta("t", "a"), delta("t", "b"), delta("t", "c")])

        const replayed = yield* Deferred.make<void>()
        let received = 0
        const fiber = yield* store.tail("s", 1).pipe(
          Stream.tap(() => (++received === 2 ? Deferred.succeed(replayed, undefined) : Effect.void)),
          Stream.take(6),
          Stream.runCollect,
          Effect.fork
        )
        // The stored events (b, c) arrived: everything from here on is live.
        yield* Deferred.await(replayed).pipe(Effect.timeout("5 seconds"))
        yield* store.append("other", 0, [delta("u", "not mine")])
        yield* store.append("s", 3, [delta("t", "d")])
        yield* store.append("s", 4, [delta("t", "e"), delta("t", "f")])
        yield* Effect.flip(store.append("s", 4, [delta("t", "conflict")]))
        yield* store.append("s", 6, [delta("t", "g")])

        const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber).pipe(Effect.timeout("5 seconds")))
        expect(got.map((entry) => entry.sequence)).toEqual([2, 3, 4, 5, 6, 7])
        expect(texts(got)).toEqual(["b", "c", "d", "e", "f", "g"])
      }).pipe(Effect.provide(fresh())))

    it.live("tail started while appends happen concurrently sees every event exactly once", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        const total = 60
        yield* store.append("s", 0, [delta("t", "0")])
        const writer = yield* Effect.fork(
          Effect.forEach(
            Array.from({ length: total - 1 }, (_, i) => i + 1),
            (i) => store.append("s", i, [delta("t", String(i))]).pipe(Effect.zipLeft(Effect.yieldNow())),
            { discard: true }
          )
        )
        const got = yield* store.tail("s", 0).pipe(Stream.take(total), Stream.runCollect, Effect.timeout("5 seconds"))
        yield* Fiber.join(writer)
        expect(
          Chunk.toReadonlyArray(got).map((entry) => entry.sequence)
        ).toEqual(
          Array.from({ length: total }, (_, i) => i + 1)
        )
      }).pipe(Effect.provide(fresh())))

    it.live("the table is append-only: UPDATE is refused", () =>
      Effect.gen(function*() {
        const store = yield* SessionStore
        const sql = yield* SqlClient.SqlClient
        yield* store.append("s", 0, [delta("t", "original")])
        const error = yield* Effect.flip(sql`UPDATE session_events SET data = '{}' WHERE session_id = 's'`)
        expect(error._tag).toBe("SqlError")
        expect(String(error.cause)).toContain("append-only")
        expect(texts(yield* store.read("s"))).toEqual(["original"])
      }).pipe(Effect.provide(fresh())))

    it.live("reopening the same database keeps the events (migrations are idempotent)", () =>
      Effect.gen(function*() {
        const database = yield* Effect.promise(dialect.fresh)
        yield* Effect.flatMap(SessionStore, (store) => store.append("s", 0, [delta("t", "a"), delta("t", "b")])).pipe(
          Effect.provide(eventLog(database))
        )
        const reopened = yield* Effect.flatMap(
          SessionStore,
          (store) => Effect.zipRight(store.append("s", 2, [delta("t", "c")]), store.read("s"))
        ).pipe(
          Effect.provide(eventLog(database))
        )
        expect(texts(reopened)).toEqual(["a", "b", "c"])
        const third = yield* Effect.flatMap(SessionStore, (store) => store.read("s")).pipe(
          Effect.provide(eventLog(database))
        )
        expect(third.map((entry) => entry.sequence)).toEqual([1, 2, 3])
      }))
  })

for (const dialect of dialects) contract(dialect)

describe("SessionStore (SQLite only)", () => {
  it.live("the database runs in WAL mode", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly journal_mode: string }>`PRAGMA journal_mode`
      expect(rows[0]?.journal_mode.toLowerCase()).toBe("wal")
    }).pipe(Effect.provide(freshLog(sqlite))))

  it.live("after a refused append it is unwritable until a probe write goes in (a full disk, then space again)", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const sql = yield* SqlClient.SqlClient
      yield* store.append("s1", 0, [delta("t1", "before")])
      yield* store.checkWritable
      yield* sql`CREATE TABLE filler (data BLOB)`
      const pages = yield* sql<{ readonly page_count: number }>`PRAGMA page_count`
      yield* sql.unsafe(`PRAGMA max_page_count = ${pages[0]!.page_count}`)
      // Fill what room is left, then the log's next page is refused.
      yield* sql`INSERT INTO filler VALUES (zeroblob(512))`.pipe(Effect.forever, Effect.ignore)
      const refused = yield* store.append("s1", 1, [delta("t1", "x".repeat(20_000))]).pipe(Effect.flip)
      expect(refused).toMatchObject({ _tag: "StoreError", message: "append: the disk is full" })
      expect(yield* store.checkWritable.pipe(Effect.flip)).toMatchObject({ message: "write: the disk is full" })
      yield* sql.unsafe("PRAGMA max_page_count = 1073741823")
      yield* store.checkWritable
      expect(texts(yield* store.read("s1"))).toEqual(["before"])
    }).pipe(Effect.provide(freshLog(sqlite))))
})
