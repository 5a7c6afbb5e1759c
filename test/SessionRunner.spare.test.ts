/**
 * The spare process: after a new session's turn, one idle CLI is started with the same
 * settings, and the next new session with those settings takes it instead of starting a
 * process of its own. Process starts are counted through the real `ClaudeProcess` (fake
 * CLI); settings that differ never take the spare; shutdown leaves no process.
 */
import { NodeContext } from "@effect/platform-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "../src/AppConfig.js"
import { ClaudeProcess, type CliLaunch, makeClaudeProcess } from "../src/ClaudeProcess.js"
import { EventLog } from "../src/EventLog.js"
import { ModelRegistry } from "../src/ModelRegistry.js"
import { Projects } from "../src/Projects.js"
import { SessionRunner } from "../src/SessionRunner.js"
import { fakeCliPath, tempDirectory } from "./support/Gateway.js"
import { processesIn } from "./support/processes.js"

/** Scratch directories of this file's tests, removed after them. */
const scratch: Array<string> = []
afterAll(() => {
  for (const directory of scratch.splice(0)) NodeFs.rmSync(directory, { recursive: true, force: true })
})

const setup = () => {
  const directory = tempDirectory()
  scratch.push(directory)
  const projectRoot = NodePath.join(directory, "projects")
  const starts: Array<CliLaunch> = []
  const CountingClaude = Layer.effect(
    ClaudeProcess,
    Effect.map(
      makeClaudeProcess({ binary: fakeCliPath, maxRetries: 0, idleTimeout: "5 seconds" }),
      (claude) =>
        ClaudeProcess.of({
          ...claude,
          start: (launch) =>
            Effect.suspend(() => {
              starts.push(launch)
              return claude.start(launch)
            }),
          startTurn: (launch, content) =>
            Effect.suspend(() => {
              starts.push(launch)
              return claude.startTurn(launch, content)
            })
        })
    )
  )
  const layer = SessionRunner.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Projects.layer, ModelRegistry.layerFrom({ models: [] }))),
    Layer.provideMerge(Layer.mergeAll(EventLog.layerSqlite(NodePath.join(directory, "db.sqlite")), CountingClaude)),
    Layer.provideMerge(AppConfig.layerWith({ projectRoot, spareProcess: true })),
    Layer.provide(NodeContext.layer)
  )
  return { cwd: NodePath.join(projectRoot, "default"), starts, layer }
}

const ask = (text: string, systemPrompt: string | null = null, sessionId?: string) =>
  Effect.gen(function*() {
    const runner = yield* SessionRunner
    const handle = yield* runner.startTurn({
      sessionId,
      messages: [{ role: "user", content: [{ _tag: "text", text }] }],
      systemPrompt,
      model: { requested: "sonnet", model: "claude-sonnet-4-5-20250929", fallbacks: [], info: null }
    })
    const tags = yield* handle.events.pipe(Stream.map((stored) => stored.event._tag), Stream.runCollect)
    expect([...tags].at(-1)).toBe("TurnCompleted")
    return handle.sessionId
  })

const until = (what: string, condition: () => boolean) =>
  Effect.gen(function*() {
    for (let waited = 0; !condition(); waited += 20) {
      if (waited > 5000) return yield* Effect.dieMessage(`${what} did not happen within 5 s`)
      yield* Effect.sleep("20 millis")
    }
  })

describe("the spare process", () => {
  it.live("a new session with the same settings takes the spare instead of starting a process", () => {
    const { layer, starts } = setup()
    return Effect.gen(function*() {
      const first = yield* ask("first conversation")
      // The session's own process, then the spare.
      yield* until("the spare start", () => starts.length === 2)
      expect(starts[1]).toEqual(starts[0])

      yield* ask("second conversation")
      // The second session took the spare; only a new spare was started.
      yield* until("the next spare start", () => starts.length === 3)
      yield* Effect.sleep("300 millis")
      expect(starts).toHaveLength(3)

      const runner = yield* SessionRunner
      expect(yield* runner.warmCount).toBe(2)
      // Continuing a session uses its own warm process (not the spare): nothing is started.
      yield* ask("first conversation, turn two", null, first)
      yield* Effect.sleep("300 millis")
      expect(starts).toHaveLength(3)
    }).pipe(Effect.provide(layer), Effect.scoped)
  })

  it.live("a new session with other settings starts its own process, and the spare is replaced", () => {
    const { layer, starts } = setup()
    return Effect.gen(function*() {
      yield* ask("plain")
      yield* until("the spare start", () => starts.length === 2)
      yield* ask("with a system prompt", "Be brief.")
      // Its own process (the spare had no system prompt), then a spare like it.
      yield* until("the replacement spare", () => starts.length === 4)
      expect(starts[2]!.systemPrompt).toBe("Be brief.")
      expect(starts[3]).toEqual(starts[2])
    }).pipe(Effect.provide(layer), Effect.scoped)
  })

  it.live("shutdown stops the spare with every other process", () => {
    const { cwd, layer, starts } = setup()
    return Effect.gen(function*() {
      yield* Effect.gen(function*() {
        yield* ask("before shutdown")
        yield* until("the spare start", () => starts.length === 2)
        yield* until("two processes (session and spare)", () => processesIn(cwd).length === 2)
      }).pipe(Effect.provide(layer), Effect.scoped)
      yield* until("no process left", () => processesIn(cwd).length === 0)
    })
  })
})
