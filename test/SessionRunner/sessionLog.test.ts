/**
 * A session's appender: appends in order from the sequence it was given, reads that sequence when
 * an append runs (a turn builds its first append while its start may still be on its way to the
 * log: on Postgres that race failed one turn in a few hundred with a "concurrent write"), and
 * reports a real concurrent writer as a `StoreError`.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll } from "vitest"
import { EventLog } from "../../src/EventLog.js"
import { sessionAppender } from "../../src/SessionRunner/sessionLog.js"
import { SessionStore } from "../../src/SessionStore.js"
import { delta, started } from "../support/events.js"

const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-session-log-"))
afterAll(() => NodeFs.rmSync(directory, { recursive: true, force: true }))

const StoreLive = EventLog.layerSqlite(NodePath.join(directory, "log.db")).pipe(Layer.provide(NodeContext.layer))

describe("sessionAppender", () => {
  it.effect("an append built before an earlier one ran takes the sequence after it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const append = sessionAppender(store, "built-early", 0)
      const later = append([delta("second", "turn_1")])
      yield* append([started("turn_1")])
      yield* later
      const events = yield* store.read("built-early")
      expect(events.map(({ event, sequence }) => [sequence, event._tag])).toEqual([[1, "TurnStarted"], [
        2,
        "TextDelta"
      ]])
    }).pipe(Effect.provide(StoreLive)))

  it.effect("another writer in between is a StoreError naming the session", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const append = sessionAppender(store, "raced", 0)
      yield* append([started("turn_1")])
      yield* store.append("raced", 1, [delta("from elsewhere", "turn_1")])
      const failed = yield* Effect.either(append([delta("mine", "turn_1")]))
      expect(Either.isLeft(failed) && failed.left._tag).toBe("StoreError")
      expect(Either.isLeft(failed) && failed.left.message).toContain("concurrent write to session raced")
    }).pipe(Effect.provide(StoreLive)))
})
