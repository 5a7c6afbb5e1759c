/**
 * Live tails across gateways on a real Postgres server: two stores with two pools (as two
 * gateways) on one database. A tail on one follows the other's appends and its own, in order;
 * many appends from both to the same sessions, racing, reach every reader as one sequence with
 * no gap and no duplicate, readers that start in the middle of it included; and a listening
 * connection that is terminated, and cannot come back for a while, is made again, what was
 * appended meanwhile reaches the tails, and the loss is reported once. Then one store's follower
 * alone, with notifications sent by hand: one more read for a burst of them, none for its own
 * appends or for streams nobody follows here.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Either, Logger, LogLevel, Queue, Stream } from "effect"
import { StoredEvent } from "../../src/Domain/SessionEvent.js"
import { type SessionStore } from "../../src/SessionStore.js"
import { changesChannel, decodeChange, encodeChange } from "../../src/SessionStore/changes.js"
import { followOtherWriters } from "../../src/SessionStore/follow.js"
import { LiveReaders } from "../../src/SessionStore/live.js"
import { created, delta, texts } from "../support/events.js"
import { postgresForFile, postgresGateways } from "../support/LogDatabases.js"

const postgres = postgresForFile()
const { freshDatabase, node } = postgresGateways(postgres)

const sequences = (events: ReadonlyArray<StoredEvent>) => events.map((entry) => entry.sequence)
const range = (after: number, last: number) => Array.from({ length: last - after }, (_, index) => after + index + 1)

/** A tail of `streamId` after `after`, collected as it comes, for the scope's life. */
const follow = (store: SessionStore.Service, streamId: string, after = 0) =>
  Effect.gen(function*() {
    const seen: Array<StoredEvent> = []
    yield* store.tail(streamId, after).pipe(
      Stream.runForEach((entry) => Effect.sync(() => seen.push(entry))),
      Effect.forkScoped
    )
    return { after, seen }
  })

/** Waits, polling, until `condition` holds; fails naming `what` after a generous deadline. */
const waitFor = (what: string, condition: () => boolean | Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < 20_000; waited += 10) {
      const value = condition()
      if (typeof value === "boolean" ? value : yield* value) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`still waiting for ${what}`)
  })

/**
 * `count` appends of one to three events to `streamId`, each after the last sequence this writer
 * knows; on a conflict (the other gateway went first) it reads the last sequence and tries
 * again. `onAppended` runs after each of its appends.
 */
const writer = <R = never>(
  store: SessionStore.Service,
  name: string,
  streamId: string,
  count: number,
  onAppended: (written: number, last: number) => Effect.Effect<void, never, R> = () => Effect.void
) =>
  Effect.gen(function*() {
    let expected = yield* store.lastSequence(streamId)
    for (let written = 0; written < count;) {
      const events = Array.from({ length: 1 + (written % 3) }, (_, index) => delta(`${name}${written}.${index}`))
      const outcome = yield* Effect.either(store.append(streamId, expected, events))
      if (Either.isLeft(outcome)) {
        if (outcome.left._tag !== "SequenceConflict") return yield* outcome.left
        expected = yield* store.lastSequence(streamId)
        continue
      }
      expected += events.length
      written++
      yield* onAppended(written, expected)
    }
  })

/** The listening connections to the database `name` (of every gateway), by process id. */
const listeners = (name: string) =>
  Effect.promise(() =>
    postgres().run(
      `SELECT pid FROM pg_stat_activity WHERE datname = '${name}' AND application_name = 'claude-code-api listen'`
    )
  ).pipe(Effect.map((rows) => rows.map((row) => Number(row.pid))))

describe("SessionStore (Postgres: live tails across gateways)", () => {
  it.scopedLive("a tail on one gateway follows the other's appends live, in order, and its own", () =>
    Effect.gen(function*() {
      const { database } = yield* freshDatabase
      const a = yield* node(database)
      const b = yield* node(database)
      yield* a.store.append("s", 0, [created])
      const onB = yield* follow(b.store, "s")
      const onA = yield* follow(a.store, "s")
      // Both have replayed the stored event: what follows comes live.
      yield* waitFor("the replay", () => onA.seen.length === 1 && onB.seen.length === 1)

      yield* a.store.append("s", 1, [delta("a1"), delta("a2")])
      yield* waitFor("A's append on B", () => onB.seen.length === 3)
      yield* b.store.append("s", 3, [delta("b1")])
      yield* a.store.append("s", 4, [delta("a3")])
      yield* b.store.append("s", 5, [delta("b2"), delta("b3")])
      yield* waitFor("every append on both", () => onA.seen.length >= 7 && onB.seen.length >= 7)

      const expected = ["<SessionCreated>", "a1", "a2", "b1", "a3", "b2", "b3"]
      for (const reader of [onA, onB]) {
        expect(sequences(reader.seen)).toEqual(range(0, 7))
        expect(texts(reader.seen)).toEqual(expected)
      }
      // Another session's appends reach nobody here.
      yield* a.store.append("other", 0, [delta("elsewhere")])
      yield* b.store.append("s", 7, [delta("b4")])
      yield* waitFor("B's last append on A", () => onA.seen.length === 8)
      expect(texts(onA.seen).slice(7)).toEqual(["b4"])
    }))

  it.scopedLive("both gateways racing on three sessions: every reader gets one sequence, no gap, no duplicate", () =>
    Effect.gen(function*() {
      const { database } = yield* freshDatabase
      const a = yield* node(database)
      const b = yield* node(database)
      const sessions = ["race-0", "race-1", "race-2"]
      const readers = yield* Effect.forEach(sessions, (sessionId) =>
        Effect.gen(function*() {
          yield* a.store.append(sessionId, 0, [created])
          const followers = [
            yield* follow(a.store, sessionId),
            yield* follow(a.store, sessionId),
            yield* follow(b.store, sessionId),
            yield* follow(b.store, sessionId)
          ]
          yield* waitFor("the replay", () => followers.every((reader) => reader.seen.length === 1))
          return { sessionId, followers }
        }))

      yield* Effect.forEach(
        sessions.flatMap((sessionId) => [writer(a.store, "a", sessionId, 25), writer(b.store, "b", sessionId, 25)]),
        (write) => write,
        { concurrency: "unbounded", discard: true }
      )

      for (const { followers, sessionId } of readers) {
        const log = yield* a.store.read(sessionId)
        const last = log.length
        // 25 appends of 1, 2 or 3 events each, from each gateway, after the first event.
        expect(last).toBe(1 + 2 * (9 * 1 + 8 * 2 + 8 * 3))
        yield* waitFor(`every event of ${sessionId}`, () => followers.every((reader) => reader.seen.length >= last))
        for (const reader of followers) {
          expect(sequences(reader.seen)).toEqual(range(0, last))
          expect(texts(reader.seen)).toEqual(texts(log))
        }
      }
    }))

  it.scopedLive("readers that start while both gateways append miss nothing", () =>
    Effect.gen(function*() {
      const { database } = yield* freshDatabase
      const a = yield* node(database)
      const b = yield* node(database)
      const readers: Array<{ readonly after: number; readonly seen: Array<StoredEvent> }> = []
      // Every few appends, a new reader on the other gateway, from a little before the last sequence.
      const startReader = (store: SessionStore.Service) => (written: number, last: number) =>
        written % 4 === 0
          ? Effect.map(follow(store, "s", Math.max(0, last - written % 7)), (reader) => {
            readers.push(reader)
          })
          : Effect.void
      yield* a.store.append("s", 0, [created])
      yield* Effect.all([
        writer(a.store, "a", "s", 40, startReader(b.store)),
        writer(b.store, "b", "s", 40, startReader(a.store))
      ], { concurrency: 2 })

      const log = yield* a.store.read("s")
      expect(readers.length).toBe(20)
      yield* waitFor("every event at every reader", () =>
        readers.every((reader) => reader.after + reader.seen.length >= log.length))
      for (const reader of readers) {
        expect(sequences(reader.seen)).toEqual(range(reader.after, log.length))
        expect(texts(reader.seen)).toEqual(texts(log.slice(reader.after)))
      }
    }))

  it.scopedLive("a terminated listening connection is made again, and what was appended meanwhile still comes", () => {
    const logged: Array<{ readonly level: string; readonly message: string }> = []
    const capture = Logger.make(({ logLevel, message }) => {
      const parts = Array.isArray(message) ? message : [message]
      logged.push({ level: logLevel.label, message: String(parts[0]) })
    })
    return Effect.gen(function*() {
      const { database, name } = yield* freshDatabase
      const a = yield* node(database)
      const b = yield* node(database)
      const admin = (statement: string) => Effect.promise(() => postgres().run(statement))
      yield* a.store.append("s", 0, [created])
      const onB = yield* follow(b.store, "s")
      const onA = yield* follow(a.store, "s")
      yield* waitFor("both listening", () => Effect.map(listeners(name), (pids) => pids.length === 2))
      yield* waitFor("the replay", () => onA.seen.length === 1 && onB.seen.length === 1)

      // The listeners cannot come back until the database takes connections again.
      yield* admin(`REVOKE CONNECT ON DATABASE ${name} FROM PUBLIC, gateway`)
      yield* admin(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND application_name = 'claude-code-api listen'`
      )
      yield* waitFor("no listener", () => Effect.map(listeners(name), (pids) => pids.length === 0))
      // Appended (over connections the pools hold already) while nobody listens: the notifications are lost.
      yield* a.store.append("s", 1, [delta("a1")])
      yield* b.store.append("s", 2, [delta("b1")])
      const attempts = () => logged.filter((entry) => entry.message.startsWith("still cannot listen")).length
      yield* waitFor("failed attempts to listen again", () => attempts() >= 4)

      yield* admin(`GRANT CONNECT ON DATABASE ${name} TO PUBLIC, gateway`)
      yield* waitFor("both listening again", () => Effect.map(listeners(name), (pids) => pids.length === 2))
      yield* waitFor("what was appended meanwhile", () => onA.seen.length === 3 && onB.seen.length === 3)
      yield* a.store.append("s", 3, [delta("a2")])
      yield* b.store.append("s", 4, [delta("b2")])
      yield* waitFor("what was appended after", () => onA.seen.length === 5 && onB.seen.length === 5)

      for (const reader of [onA, onB]) {
        expect(sequences(reader.seen)).toEqual(range(0, 5))
        expect(texts(reader.seen)).toEqual(["<SessionCreated>", "a1", "b1", "a2", "b2"])
      }
      // One warning per gateway for the loss, however many attempts failed after it.
      const warnings = logged.filter((entry) => entry.level === "WARN")
      expect(warnings.map((entry) => entry.message)).toEqual([
        "lost the connection that listens for other gateways' appends; reconnecting",
        "lost the connection that listens for other gateways' appends; reconnecting"
      ])
      expect(logged.filter((entry) => entry.message === "listening for other gateways' appends again").length).toBe(2)
    }).pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
      Logger.withMinimumLogLevel(LogLevel.Debug)
    )
  })
})

describe("the follower", () => {
  it("sends a change as text and reads it back; an id too long to send is left out", () => {
    const change = { origin: "n1", from: 3, last: 5, streamId: "sess one" }
    expect(decodeChange(encodeChange(change))).toEqual(change)
    const long = "x".repeat(2001)
    expect(decodeChange(encodeChange({ ...change, streamId: long }))).toEqual({ ...change, streamId: null })
    expect(encodeChange({ ...change, streamId: "x".repeat(2000) }).length).toBeLessThan(8000)
    expect(decodeChange("something else")).toBeNull()
  })

  it.scopedLive("reads once more for a burst of notifications, never for its own appends or streams nobody follows here", () =>
    Effect.gen(function*() {
      const { database, name } = yield* freshDatabase
      const { pg } = yield* node(database)
      /** The log as the follower's reads see it: each stream's last sequence. */
      const stored = new Map<string, number>()
      const reads: Array<string> = []
      let gate: Deferred.Deferred<void> | null = null
      const read = (streamId: string, { after }: { readonly after: number }) =>
        Effect.gen(function*() {
          reads.push(`${streamId}>${after}`)
          if (gate !== null && streamId === "s") yield* Deferred.await(gate)
          return range(after, stored.get(streamId) ?? 0).map((sequence) =>
            new StoredEvent({ sessionId: streamId, sequence, timestamp: 0, event: delta(`${sequence}`) })
          )
        })
      const live = new LiveReaders<StoredEvent>()
      const onS = yield* live.subscribe("s")
      yield* Effect.asVoid(live.subscribe("t"))
      yield* Effect.asVoid(live.subscribe("marker"))
      yield* followOtherWriters({
        config: pg.config,
        origin: "me",
        live,
        read,
        lastSequence: (streamId) => Effect.succeed(stored.get(streamId) ?? 0)
      })
      // Once listening, it reads every followed stream (nothing yet).
      yield* waitFor("the first reads", () => reads.length === 3)
      reads.length = 0
      /** As an append of `from`…`last` to `streamId` by `origin` would. */
      const notify = (origin: string, from: number, last: number, streamId: string) =>
        Effect.zipRight(
          Effect.sync(() => stored.set(streamId, Math.max(stored.get(streamId) ?? 0, last))),
          Effect.promise(() =>
            postgres().run(
              `SELECT pg_notify('${changesChannel}', '${encodeChange({ origin, from, last, streamId })}')`,
              name
            )
          )
        )

      gate = yield* Deferred.make<void>()
      yield* notify("other", 1, 1, "s")
      yield* waitFor("the read of s", () => reads.length === 1)
      // While it reads s: more of s, its own append to t, a stream it does not follow, then a marker.
      yield* notify("other", 2, 2, "s")
      yield* notify("other", 3, 5, "s")
      yield* notify("me", 1, 4, "t")
      yield* notify("other", 1, 1, "u")
      yield* notify("other", 1, 1, "marker")
      yield* waitFor("the marker's read", () => reads.includes("marker>0"))
      yield* Deferred.succeed(gate, undefined)
      yield* waitFor("s read once more", () => reads.length === 3)
      yield* notify("other", 2, 2, "marker")
      yield* waitFor("the second marker's read", () => reads.length === 4)

      // The second read of s starts after what the first one handed over.
      expect(reads).toEqual(["s>0", "marker>0", "s>5", "marker>1"])
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(onS)).map((entry) => entry.sequence)).toEqual(range(0, 5))
      // What it was handed already is not read again.
      yield* notify("other", 4, 5, "s")
      yield* notify("other", 3, 3, "marker")
      yield* waitFor("the third marker's read", () => reads.length === 5)
      expect(reads[4]).toBe("marker>2")
    }))
})
