/**
 * The log's live readers: an append reaches the readers of its own stream only, every one of
 * them, in order; a reader gone is forgotten; and a tail given `until` fails with its error once
 * it fails (after what was appended before), or at once when it had failed already.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Layer, Queue, Stream } from "effect"
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
const storeLayer = () => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "live-readers-test-"))
  scratchDirs.push(dir)
  return EventLog.layerSqlite(NodePath.join(dir, "events.db")).pipe(Layer.provide(NodeContext.layer))
}

const delta = (text: string) => new TextDelta({ turnId: "turn_1", text })
const textsOf = (chunk: Chunk.Chunk<{ readonly event: { readonly _tag: string } }>) =>
  Chunk.toReadonlyArray(chunk).map(({ event }) => (event instanceof TextDelta ? event.text : event._tag))

describe("LiveReaders", () => {
  it.scoped("hands each stream's items to that stream's readers only, all of them, in order", () =>
    Effect.gen(function*() {
      const live = new LiveReaders<string>()
      const a1 = yield* live.subscribe("a")
      const a2 = yield* live.subscribe("a")
      const b = yield* live.subscribe("b")
      yield* live.publish("a", ["1", "2"])
      yield* live.publish("b", ["x"])
      yield* live.publish("c", ["nobody"])
      yield* live.publish("a", ["3"])
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(a1))).toEqual(["1", "2", "3"])
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(a2))).toEqual(["1", "2", "3"])
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(b))).toEqual(["x"])
    }))

  it.effect("forgets a reader whose scope closed: its queue is shut down and gets nothing more", () =>
    Effect.gen(function*() {
      const live = new LiveReaders<string>()
      const gone = yield* Effect.scoped(live.subscribe("a"))
      expect(yield* Queue.isShutdown(gone)).toBe(true)
      yield* live.publish("a", ["after"])
      yield* Effect.scoped(Effect.gen(function*() {
        const next = yield* live.subscribe("a")
        yield* live.publish("a", ["later"])
        expect(Chunk.toReadonlyArray(yield* Queue.takeAll(next))).toEqual(["later"])
      }))
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
