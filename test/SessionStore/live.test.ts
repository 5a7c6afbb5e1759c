/**
 * The log's live readers: an append reaches the readers of its own stream only, every one of
 * them, in order, and what was handed over already is not handed over again; a reader gone is
 * forgotten; a tail that is handed an event beyond the next one reads the missing ones; and a
 * tail given `until` fails with its error once it fails (after what was appended before), or at
 * once when it had failed already.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Deferred, Effect, Fiber, Layer, Queue, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll } from "vitest"
import { StoreError } from "../../src/Domain/Errors.js"
import { TextDelta } from "../../src/Domain/SessionEvent.js"
import { EventLog } from "../../src/EventLog.js"
import { SessionStore } from "../../src/SessionStore.js"
import { LiveReaders } from "../../src/SessionStore/live.js"

const scratchDirs: Array<string> = []
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})
const scratchFile = () => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "live-readers-test-"))
  scratchDirs.push(dir)
  return NodePath.join(dir, "events.db")
}
const storeOn = (file: string) => EventLog.layerSqlite(file).pipe(Layer.provide(NodeContext.layer))
const storeLayer = () => storeOn(scratchFile())

const delta = (text: string) => new TextDelta({ turnId: "turn_1", text })
/** Items numbered from `first`, as the log's sequences are. */
const items = (first: number, ...texts: ReadonlyArray<string>) =>
  texts.map((text, index) => ({ sequence: first + index, text }))
const itemTexts = (chunk: Chunk.Chunk<{ readonly text: string }>) =>
  Chunk.toReadonlyArray(chunk).map(({ text }) => text)
const textsOf = (chunk: Chunk.Chunk<{ readonly event: { readonly _tag: string } }>) =>
  Chunk.toReadonlyArray(chunk).map(({ event }) => (event instanceof TextDelta ? event.text : event._tag))

describe("LiveReaders", () => {
  it.scoped("hands each stream's items to that stream's readers only, all of them, in order", () =>
    Effect.gen(function*() {
      const live = new LiveReaders<{ readonly sequence: number; readonly text: string }>()
      const a1 = yield* live.subscribe("a")
      const a2 = yield* live.subscribe("a")
      const b = yield* live.subscribe("b")
      yield* live.publish("a", items(1, "1", "2"))
      yield* live.publish("b", items(1, "x"))
      yield* live.publish("c", items(1, "nobody"))
      yield* live.publish("a", items(3, "3"))
      expect(itemTexts(yield* Queue.takeAll(a1))).toEqual(["1", "2", "3"])
      expect(itemTexts(yield* Queue.takeAll(a2))).toEqual(["1", "2", "3"])
      expect(itemTexts(yield* Queue.takeAll(b))).toEqual(["x"])
      expect([live.delivered("a"), live.delivered("b"), live.delivered("c")]).toEqual([3, 1, undefined])
      expect([...live.followed()].sort()).toEqual(["a", "b"])
    }))

  it.scoped("hands over what is published twice once: items at or below the last sequence handed over are left out", () =>
    Effect.gen(function*() {
      const live = new LiveReaders<{ readonly sequence: number; readonly text: string }>()
      const reader = yield* live.subscribe("a")
      yield* live.publish("a", items(1, "1", "2", "3"))
      yield* live.publish("a", items(2, "2 again", "3 again", "4"))
      yield* live.publish("a", items(1, "1 again"))
      expect(itemTexts(yield* Queue.takeAll(reader))).toEqual(["1", "2", "3", "4"])
    }))

  it.effect("forgets a reader whose scope closed: its queue is shut down and gets nothing more", () =>
    Effect.gen(function*() {
      const live = new LiveReaders<{ readonly sequence: number; readonly text: string }>()
      const gone = yield* Effect.scoped(live.subscribe("a"))
      expect(yield* Queue.isShutdown(gone)).toBe(true)
      expect(live.delivered("a")).toBeUndefined()
      yield* live.publish("a", items(1, "after"))
      yield* Effect.scoped(Effect.gen(function*() {
        const next = yield* live.subscribe("a")
        yield* live.publish("a", items(2, "later"))
        expect(itemTexts(yield* Queue.takeAll(next))).toEqual(["later"])
      }))
      expect(live.followed()).toEqual([])
    }))
})

describe("SessionStore.tail", () => {
  it.live("follows its own session while 20 others are appended to at the same time", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const sessions = Array.from({ length: 21 }, (_, index) => `s${index}`)
      const readers = yield* Effect.forEach(sessions, (id) =>
        store.tail(id, 0).pipe(Stream.take(5), Stream.runCollect, Effect.fork))
      yield* Effect.sleep("20 millis")
      yield* Effect.forEach(
        sessions,
        (id) =>
          Effect.forEach([0, 1, 2, 3, 4], (index) => store.append(id, index, [delta(`${id}-${index}`)])),
        { concurrency: "unbounded" }
      )
      const seen = yield* Effect.forEach(readers, Fiber.join)
      seen.forEach((chunk, index) =>
        expect(textsOf(chunk)).toEqual([0, 1, 2, 3, 4].map((n) => `${sessions[index]}-${n}`))
      )
    }).pipe(Effect.provide(storeLayer())))

  it.scopedLive("reads the events it was not handed when a later one comes (another writer's, on the same file)", () =>
    Effect.gen(function*() {
      const file = scratchFile()
      const mine = Context.get(yield* Layer.build(storeOn(file)), SessionStore)
      const other = Context.get(yield* Layer.build(storeOn(file)), SessionStore)
      yield* mine.append("s1", 0, [delta("first")])
      const seen: Array<string> = []
      yield* mine.tail("s1", 0).pipe(
        Stream.runForEach(({ event }) => Effect.sync(() => seen.push(event instanceof TextDelta ? event.text : ""))),
        Effect.forkScoped
      )
      while (seen.length < 1) yield* Effect.sleep("5 millis")
      // Not published here (SQLite has no notifications): the tail learns of it from the next append.
      yield* other.append("s1", 1, [delta("elsewhere 1"), delta("elsewhere 2")])
      yield* mine.append("s1", 3, [delta("mine")])
      while (seen.length < 4) yield* Effect.sleep("5 millis")
      yield* mine.append("s1", 4, [delta("mine again")])
      while (seen.length < 5) yield* Effect.sleep("5 millis")
      expect(seen).toEqual(["first", "elsewhere 1", "elsewhere 2", "mine", "mine again"])
    }))

  it.live("fails with `until`'s error once it fails, after the events appended before it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const refused = yield* Deferred.make<never, StoreError>()
      yield* store.append("s1", 0, [delta("stored")])
      const seen: Array<string> = []
      const reader = yield* store.tail("s1", 0, Deferred.await(refused)).pipe(
        Stream.runForEach(({ event }) => Effect.sync(() => seen.push(event instanceof TextDelta ? event.text : ""))),
        Effect.either,
        Effect.fork
      )
      yield* store.append("s1", 1, [delta("live")])
      while (seen.length < 2) yield* Effect.sleep("5 millis")
      yield* Deferred.fail(refused, new StoreError({ method: "append", message: "append: the disk is full" }))
      const outcome = yield* Fiber.join(reader)
      expect(seen).toEqual(["stored", "live"])
      expect(outcome._tag).toBe("Left")
      if (outcome._tag === "Left") expect(outcome.left.message).toBe("append: the disk is full")
    }).pipe(Effect.provide(storeLayer())))

  it.live("fails at once, after the stored events, when `until` had failed already", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.append("s1", 0, [delta("stored")])
      const seen: Array<string> = []
      const outcome = yield* store.tail(
        "s1",
        0,
        Effect.fail(new StoreError({ method: "append", message: "append: the database is read-only" }))
      ).pipe(
        Stream.runForEach(({ event }) => Effect.sync(() => seen.push(event instanceof TextDelta ? event.text : ""))),
        Effect.either
      )
      expect(outcome._tag).toBe("Left")
      expect(seen).toEqual(["stored"])
    }).pipe(Effect.provide(storeLayer())))
})
