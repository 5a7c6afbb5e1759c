/**
 * A turn whose `TurnStarted` cannot be recorded never started: `startTurn` fails, its CLI
 * (started in parallel) is stopped, nothing of it reaches the log, and its concurrency
 * slot is free again. The store is the real SQLite one, wrapped to refuse that one write.
 */
import { NodeContext } from "@effect/platform-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "../src/AppConfig.js"
import { ClaudeProcess } from "../src/ClaudeProcess.js"
import { StoreError } from "../src/Domain/Errors.js"
import { EventLog } from "../src/EventLog.js"
import { ModelRegistry } from "../src/ModelRegistry.js"
import { Projects } from "../src/Projects.js"
import { SessionQueries } from "../src/SessionQueries.js"
import { SessionRunner } from "../src/SessionRunner.js"
import { makeSessionStore, SessionStore } from "../src/SessionStore.js"
import { fakeCliPath, tempDirectory } from "./support/Gateway.js"
import { processesIn } from "./support/processes.js"

/** Scratch directories of this file's tests, removed after them. */
const scratch: Array<string> = []
afterAll(() => {
  for (const directory of scratch.splice(0)) NodeFs.rmSync(directory, { recursive: true, force: true })
})

describe("SessionRunner when TurnStarted cannot be recorded", () => {
  it.live("fails the start, stops the CLI, records nothing and frees the slot", () => {
    const directory = tempDirectory()
    scratch.push(directory)
    const projectRoot = NodePath.join(directory, "projects")
    let refuseTurnStarted = true
    const FlakyStore = Layer.scoped(
      SessionStore,
      Effect.map(makeSessionStore, (store) =>
        SessionStore.of({
          ...store,
          append: (sessionId, expected, events) =>
            refuseTurnStarted && events.some((event) => event._tag === "TurnStarted")
              ? Effect.fail(new StoreError({ method: "append", message: "disk full" }))
              : store.append(sessionId, expected, events)
        }))
    )
    const layer = SessionRunner.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(Projects.layer, ModelRegistry.layerFrom({ models: [] }))),
      Layer.provideMerge(
        Layer.mergeAll(
          Layer.mergeAll(FlakyStore, SessionQueries.layer).pipe(
            Layer.provide(EventLog.database(NodePath.join(directory, "db.sqlite")))
          ),
          ClaudeProcess.layerWith({ binary: fakeCliPath, maxRetries: 0, idleTimeout: "5 seconds" })
        )
      ),
      Layer.provideMerge(
        AppConfig.layerWith({ projectRoot, maxConcurrentTurns: 1, queueTimeoutSeconds: 0, spareProcess: false })
      ),
      Layer.provide(NodeContext.layer)
    )
    const request = (text: string) => ({
      messages: [{ role: "user" as const, content: [{ _tag: "text" as const, text }] }],
      systemPrompt: null,
      model: { requested: null, model: null, fallbacks: [], info: null }
    })
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const queries = yield* SessionQueries
      const failed = yield* runner.startTurn(request("FAKE_SLOW never recorded")).pipe(Effect.flip)
      expect(failed._tag).toBe("StoreError")
      expect(yield* runner.runningCount).toBe(0)
      const cwd = NodePath.join(projectRoot, "default")
      // The CLI it started in parallel is gone.
      for (let waited = 0; processesIn(cwd).length > 0 && waited < 3000; waited += 50) yield* Effect.sleep("50 millis")
      expect(processesIn(cwd)).toEqual([])
      expect((yield* queries.listSessions({ owner: null, limit: 10, offset: 0 })).total).toBe(0)

      // With the only slot free again, the next turn runs.
      refuseTurnStarted = false
      const handle = yield* runner.startTurn(request("now it works"))
      const tags = yield* handle.events.pipe(Stream.map((stored) => stored.event._tag), Stream.runCollect)
      expect([...tags]).toContain("TurnCompleted")
    }).pipe(Effect.provide(layer), Effect.scoped)
  })
})
