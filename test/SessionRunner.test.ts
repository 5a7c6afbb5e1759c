/**
 * SessionRunner as a library, with no HTTP server: the real SessionStore (a SQLite file), the
 * real ClaudeProcess spawning the fake `claude` (test/fixtures/fake-claude.mjs), and one case
 * with the real Claude Code CLI talking to the fake Anthropic API. Checks what a turn records,
 * fallbacks, failures, busy sessions, cancellation, capacity, turns nobody watches and shutdown.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import {
  AppConfig,
  type AppConfigShape,
  ClaudeProcess,
  type ClaudeProcessOptions,
  EventLog,
  ModelRegistry,
  Projects,
  type ResolvedModel,
  type SessionEvent,
  SessionRunner,
  SessionStore,
  type StoredEvent,
  TurnCancelled,
  type TurnRequest
} from "../src/index.js"
import { cliEnvFor, startFakeAnthropic } from "./fixtures/FakeAnthropic.js"
import { started as turnStarted } from "./support/events.js"
import { processesIn } from "./support/processes.js"

const FAKE_CLAUDE = fileURLToPath(new URL("./fixtures/fake-claude.mjs", import.meta.url))
const REAL_CLAUDE = fileURLToPath(new URL("../node_modules/@anthropic-ai/claude-code/bin/claude.exe", import.meta.url))

// ---------------------------------------------------------------------------------------------
// helpers

const scratchDirs: Array<string> = []
const scratch = (): string => {
  const dir = NodeFs.realpathSync(NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "session-runner-test-")))
  scratchDirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

/** One runner's world: its database, its project root, and the layer over both. */
interface World {
  readonly dir: string
  readonly database: string
  readonly projectRoot: string
  /** The working directory of turns in the `default` project. */
  readonly defaultCwd: string
}

const makeWorld = (): World => {
  const dir = scratch()
  const projectRoot = NodePath.join(dir, "projects")
  return {
    dir,
    database: NodePath.join(dir, "db", "events.db"),
    projectRoot,
    defaultCwd: NodePath.join(projectRoot, "default")
  }
}

const runnerLayer = (
  world: World,
  claude: Partial<ClaudeProcessOptions> = {},
  config: Partial<AppConfigShape> = {}
) =>
  SessionRunner.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Projects.layer, ModelRegistry.layerFrom({ models: [] }))),
    Layer.provideMerge(
      Layer.mergeAll(
        EventLog.layerSqlite(world.database),
        ClaudeProcess.layerWith({
          binary: FAKE_CLAUDE,
          maxRetries: 2,
          idleTimeout: "5 seconds",
          env: { FAKE_CLAUDE_DELAY_MS: "100" },
          ...claude
        })
      )
    ),
    Layer.provideMerge(
      AppConfig.layerWith({
        projectRoot: world.projectRoot,
        spareProcess: false,
        maxConcurrentTurns: 2,
        queueTimeoutSeconds: 0,
        turnTimeoutSeconds: 30,
        ...config
      })
    ),
    Layer.provideMerge(NodeContext.layer)
  )

const model = (resolved: Partial<ResolvedModel> = {}): ResolvedModel => ({
  requested: resolved.model ?? null,
  model: null,
  fallbacks: [],
  info: null,
  ...resolved
})

const request = (text: string, overrides: Partial<TurnRequest> = {}): TurnRequest => ({
  messages: [{ role: "user", content: [{ _tag: "text", text }] }],
  systemPrompt: null,
  model: model({ model: "claude-test-1" }),
  ...overrides
})

const tags = (events: ReadonlyArray<StoredEvent>) => events.map((entry) => entry.event._tag)
const replyOf = (events: ReadonlyArray<StoredEvent>) =>
  events.flatMap(({ event }) => (event._tag === "TextDelta" ? [event.text] : [])).join("")
const lastEvent = (events: ReadonlyArray<StoredEvent>): SessionEvent => {
  const last = events[events.length - 1]
  if (last === undefined) throw new Error("no events")
  return last.event
}

const collect = <E, R>(stream: Stream.Stream<StoredEvent, E, R>) =>
  stream.pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray), Effect.timeout("15 seconds"))

const eventually = (what: string, done: () => boolean, withinMs = 1500) =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!done()) {
      if (Date.now() - started > withinMs) return yield* Effect.dieMessage(`${what} (waited ${withinMs} ms)`)
      yield* Effect.sleep("25 millis")
    }
  })

/** Waits until the session's log ends with a terminal event of `turnId`; returns the log. */
const awaitTerminal = (sessionId: string, turnId: string, withinMs = 8000) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const started = Date.now()
    while (true) {
      const events = yield* store.read(sessionId)
      const last = events[events.length - 1]?.event
      if (
        last !== undefined && "turnId" in last && last.turnId === turnId &&
        (last._tag === "TurnCompleted" || last._tag === "TurnFailed" || last._tag === "TurnCancelled")
      ) return events
      if (Date.now() - started > withinMs) {
        return yield* Effect.dieMessage(`turn ${turnId} did not end: ${tags(events)}`)
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** Waits for the first text delta of a turn, so the CLI is surely streaming. */
const firstDelta = (events: Stream.Stream<StoredEvent, unknown>) =>
  events.pipe(
    Stream.filter((entry) => entry.event._tag === "TextDelta"),
    Stream.take(1),
    Stream.runDrain,
    Effect.timeout("10 seconds")
  )

// ---------------------------------------------------------------------------------------------

describe("SessionRunner (fake CLI)", () => {
  it.live("a turn streams TurnStarted, TurnAttached, text deltas and TurnCompleted with usage; the log starts with SessionCreated", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const handle = yield* runner.startTurn(request("hello world", { parameters: { temperature: 0.5 } }))
      expect(handle.projectId).toBe("default")
      expect(handle.turnId).toMatch(/^turn_[0-9a-f]{32}$/)
      expect(handle.startSequence).toBe(2)

      const events = yield* collect(handle.events)
      const names = tags(events)
      expect(names[0]).toBe("TurnStarted")
      expect(names[1]).toBe("TurnAttached")
      expect(names[names.length - 1]).toBe("TurnCompleted")
      expect(new Set(names.slice(2, -1))).toEqual(new Set(["TextDelta"]))
      expect(events.map((entry) => entry.sequence)).toEqual(events.map((_, index) => handle.startSequence + index))
      expect(events.every((entry) => entry.sessionId === handle.sessionId)).toBe(true)

      const deltas = events.filter((entry) => entry.event._tag === "TextDelta")
      expect(deltas.length).toBeGreaterThanOrEqual(3)
      expect(replyOf(events)).toBe("Echo: hello world [turn=1]")

      const attached = events[1]!.event
      expect(attached._tag === "TurnAttached" && attached.model).toBe("claude-test-1")
      expect(attached._tag === "TurnAttached" && attached.cliVersion).toBe("2.1.197")
      const completed = lastEvent(events)
      expect(completed._tag).toBe("TurnCompleted")
      if (completed._tag !== "TurnCompleted") return
      expect(completed.turnId).toBe(handle.turnId)
      expect(completed.model).toBe("claude-test-1")
      expect(completed.stopReason).toBe("end_turn")
      expect(completed.usage).toEqual({
        inputTokens: 100,
        outputTokens: deltas.length,
        cacheReadInputTokens: 30,
        cacheCreationInputTokens: 20
      })

      const log = yield* store.read(handle.sessionId)
      const created = log[0]!.event
      expect(created._tag).toBe("SessionCreated")
      if (created._tag === "SessionCreated") {
        expect(created.projectId).toBe("default")
        expect(created.cwd).toBe(world.defaultCwd)
      }
      const started = log[1]!.event
      expect(started._tag).toBe("TurnStarted")
      if (started._tag === "TurnStarted") {
        expect(started.turnId).toBe(handle.turnId)
        expect(started.resolvedModel).toBe("claude-test-1")
        expect(started.messages).toEqual(request("hello world").messages)
        expect(started.parameters).toEqual({ temperature: 0.5 })
      }
      expect(log.slice(1)).toEqual(events)
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("a follow-up turn right after the first one ends continues the same session", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const first = yield* runner.startTurn(request("first"))
      const firstEvents = yield* collect(first.events)
      expect(lastEvent(firstEvents)._tag).toBe("TurnCompleted")

      // A client that saw the terminal event may send its next message at once.
      const second = yield* runner.startTurn(request("second", { sessionId: first.sessionId }))
      expect(second.sessionId).toBe(first.sessionId)
      expect(second.startSequence).toBe(firstEvents[firstEvents.length - 1]!.sequence + 1)
      const secondEvents = yield* collect(second.events)
      expect(lastEvent(secondEvents)._tag).toBe("TurnCompleted")
      expect(replyOf(secondEvents)).toContain("second")

      const log = yield* store.read(first.sessionId)
      expect(tags(log).filter((tag) => tag === "SessionCreated")).toHaveLength(1)
      expect(tags(log).filter((tag) => tag === "TurnStarted")).toHaveLength(2)

      const unknown = yield* Effect.flip(runner.startTurn(request("hi", { sessionId: "no-such-session" })))
      expect(unknown._tag).toBe("SessionNotFound")
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("a turn left unfinished by a node that is gone is recorded as interrupted before the next turn starts", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const first = yield* runner.startTurn(request("first"))
      yield* collect(first.events)
      // Another node started a turn in this session's log and died with it (as a cluster's would).
      const last = yield* store.lastSequence(first.sessionId)
      yield* store.append(first.sessionId, last, [
        turnStarted("turn_orphaned", [{ role: "user", content: [{ _tag: "text", text: "lost" }] }])
      ])
      const next = yield* runner.startTurn(request("next", { sessionId: first.sessionId }))
      expect(lastEvent(yield* collect(next.events))._tag).toBe("TurnCompleted")
      const log = yield* store.read(first.sessionId)
      const after = log.filter(({ sequence }) => sequence > last + 1).map(({ event }) => event)
      expect(after[0]).toMatchObject({ _tag: "TurnCancelled", turnId: "turn_orphaned", reason: "interrupted" })
      expect(after[1]).toMatchObject({ _tag: "TurnStarted", turnId: next.turnId })
      expect(replyOf(log.filter(({ event }) => "turnId" in event && event.turnId === next.turnId))).toContain("next")
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("a rejected model falls back: ModelFallback, then a completed turn attached to the fallback model", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(
        request("hello", { model: model({ requested: "x", model: "claude-rejected-x", fallbacks: ["claude-ok"] }) })
      )
      const events = yield* collect(handle.events)
      const names = tags(events)
      expect(names[0]).toBe("TurnStarted")
      expect(names[1]).toBe("ModelFallback")
      expect(names[names.length - 1]).toBe("TurnCompleted")
      const fallback = events[1]!.event
      expect(fallback).toMatchObject({ fromModel: "claude-rejected-x", toModel: "claude-ok", reason: "model_rejected" })
      const attached = events.filter((entry) => entry.event._tag === "TurnAttached")
      expect(attached).toHaveLength(1)
      expect(attached[0]!.event).toMatchObject({ model: "claude-ok" })
      expect(lastEvent(events)).toMatchObject({ model: "claude-ok" })
      expect(replyOf(events)).toBe("Echo: hello [turn=1]")
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("when every model is rejected the turn fails with ModelRejected listing them all", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(
        request("hello", { model: model({ model: "claude-rejected-a", fallbacks: ["claude-rejected-b"] }) })
      )
      const events = yield* collect(handle.events)
      expect(tags(events)).toEqual(["TurnStarted", "ModelFallback", "TurnFailed"])
      const failed = lastEvent(events)
      expect(failed._tag).toBe("TurnFailed")
      if (failed._tag !== "TurnFailed") return
      expect(failed.error._tag).toBe("ModelRejected")
      if (failed.error._tag === "ModelRejected") {
        expect(failed.error.models).toEqual(["claude-rejected-a", "claude-rejected-b"])
        expect(failed.error.message).toContain("claude-rejected-b")
      }
      expect(yield* Effect.map(runner.activity(handle.sessionId), (activity) => activity.running)).toBe(false)
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("a CLI crash mid-answer keeps the deltas and ends the turn with TurnFailed(CliExitedEarly)", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(request("FAKE_CRASH"))
      const events = yield* collect(handle.events)
      expect(replyOf(events)).toBe("Partial answer ")
      const failed = lastEvent(events)
      expect(failed._tag).toBe("TurnFailed")
      if (failed._tag !== "TurnFailed") return
      expect(failed.error._tag).toBe("CliExitedEarly")
      if (failed.error._tag === "CliExitedEarly") expect(failed.error.exitCode).toBe(3)
      expect(processesIn(world.defaultCwd)).toEqual([])
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("an upstream 429 is recorded as UpstreamRetry and ends the turn with TurnFailed(UpstreamFailure)", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(request("FAKE_UPSTREAM_429"))
      const events = yield* collect(handle.events)
      const retry = events.find((entry) => entry.event._tag === "UpstreamRetry")?.event
      expect(retry).toMatchObject({ attempt: 1, status: 429, kind: "rate_limit", delayMs: 1000 })
      const failed = lastEvent(events)
      expect(failed._tag).toBe("TurnFailed")
      if (failed._tag !== "TurnFailed") return
      expect(failed.error).toMatchObject({ _tag: "UpstreamFailure", status: 429, retryAfterSeconds: 1 })
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("a CLI that falls silent ends the turn with TurnFailed(CliTimeout), kills the CLI and frees the session", () => {
    const world = makeWorld()
    const body = Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(request("FAKE_HANG"))
      const log = yield* awaitTerminal(handle.sessionId, handle.turnId, 3500)
      return { log, stillRunning: yield* Effect.map(runner.activity(handle.sessionId), (activity) => activity.running) }
    }).pipe(Effect.provide(runnerLayer(world, { idleTimeout: "1 second" })))
    return Effect.gen(function*() {
      const started = Date.now()
      // Guarded: a turn that never ends must fail this test, not hang the suite or leave the fake behind.
      const outcome = yield* body.pipe(Effect.disconnect, Effect.timeout("5 seconds"), Effect.either)
      const leftover = processesIn(world.defaultCwd)
      for (const pid of leftover) process.kill(pid, "SIGKILL")
      expect(
        outcome._tag,
        `the turn did not end within ${Date.now() - started} ms; CLI process(es) ${leftover.join(",")} still running`
      )
        .toBe("Right")
      if (outcome._tag === "Left") return
      expect(lastEvent(outcome.right.log)).toMatchObject({
        _tag: "TurnFailed",
        error: { _tag: "CliTimeout", idleSeconds: 1 }
      })
      expect(outcome.right.stillRunning).toBe(false)
      expect(leftover).toEqual([])
    })
  })

  it.live("a turn that outlives turnTimeoutSeconds is cancelled with reason timeout and its CLI is killed", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const started = Date.now()
      const handle = yield* runner.startTurn(request("FAKE_SLOW"))
      const events = yield* collect(handle.events)
      expect(Date.now() - started).toBeLessThan(2500) // the slow answer alone takes ~3 s
      expect(tags(events)).toContain("TextDelta")
      expect(lastEvent(events)).toMatchObject({ _tag: "TurnCancelled", reason: "timeout" })
      yield* eventually("the fake CLI still runs", () => processesIn(world.defaultCwd).length === 0)
    }).pipe(Effect.provide(runnerLayer(world, {}, { turnTimeoutSeconds: 1 })))
  })

  it.live("a second startTurn on a session that runs a turn fails with SessionBusy", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(request("FAKE_SLOW"))
      expect(yield* Effect.map(runner.activity(handle.sessionId), (activity) => activity.running)).toBe(true)
      const busy = yield* Effect.flip(runner.startTurn(request("again", { sessionId: handle.sessionId })))
      expect(busy._tag).toBe("SessionBusy")
      if (busy._tag === "SessionBusy") expect(busy.sessionId).toBe(handle.sessionId)
      // The running turn is unaffected.
      expect(yield* Effect.map(runner.activity(handle.sessionId), (activity) => activity.running)).toBe(true)
      expect(yield* runner.cancel(handle.sessionId, "client")).toBe(true)
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("a turn whose session another node wrote to meanwhile stops writing, frees the session and is not retried", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const handle = yield* runner.startTurn(request("FAKE_SLOW"))
      yield* firstDelta(handle.events)
      // The session moved: its new node records this turn as interrupted.
      const last = yield* store.lastSequence(handle.sessionId)
      yield* store.append(handle.sessionId, last, [new TurnCancelled({ turnId: handle.turnId, reason: "interrupted" })])
      const moved = yield* store.lastSequence(handle.sessionId)
      for (let waited = 0; (yield* runner.runningCount) > 0; waited += 25) {
        if (waited > 5000) return yield* Effect.dieMessage("the turn still runs (waited 5000 ms)")
        yield* Effect.sleep("25 millis")
      }
      // Nothing more was written here, and nothing is retried.
      yield* Effect.sleep("600 millis")
      expect(yield* store.lastSequence(handle.sessionId)).toBe(moved)
      yield* eventually("the fake CLI still runs", () => processesIn(world.defaultCwd).length === 0, 3000)
      const next = yield* runner.startTurn(request("again", { sessionId: handle.sessionId }))
      expect(lastEvent(yield* collect(next.events))._tag).toBe("TurnCompleted")
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("cancel during a slow turn records TurnCancelled(client) last and leaves no CLI process", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const handle = yield* runner.startTurn(request("FAKE_SLOW"))
      yield* firstDelta(handle.events)
      expect(processesIn(world.defaultCwd)).toHaveLength(1)

      const started = Date.now()
      expect(yield* runner.cancel(handle.sessionId, "client")).toBe(true)
      expect(Date.now() - started).toBeLessThan(1500)
      // `cancel` returns once the end is recorded.
      const log = yield* store.read(handle.sessionId)
      expect(lastEvent(log)).toMatchObject({ _tag: "TurnCancelled", turnId: handle.turnId, reason: "client" })
      expect(tags(log).filter((tag) => tag === "TurnCancelled")).toHaveLength(1)
      yield* eventually("the fake CLI still runs", () => processesIn(world.defaultCwd).length === 0)

      expect(yield* Effect.map(runner.activity(handle.sessionId), (activity) => activity.running)).toBe(false)
      expect(yield* runner.cancel(handle.sessionId, "client")).toBe(false)
      // Followers of the turn see it end.
      const events = yield* collect(handle.events)
      expect(lastEvent(events)._tag).toBe("TurnCancelled")
      expect(yield* runner.cancel("never-existed", "client")).toBe(false)
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("with maxConcurrentTurns 2 and no queue, a third concurrent turn fails with CapacityExceeded", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const first = yield* runner.startTurn(request("FAKE_SLOW one"))
      const second = yield* runner.startTurn(request("FAKE_SLOW two"))
      expect(yield* runner.runningCount).toBe(2)

      const third = yield* Effect.flip(runner.startTurn(request("hello")))
      expect(third._tag).toBe("CapacityExceeded")
      if (third._tag === "CapacityExceeded") expect(third.limit).toBe(2)
      expect(yield* runner.runningCount).toBe(2)

      // Freed slots are usable again.
      yield* runner.cancel(first.sessionId, "client")
      yield* runner.cancel(second.sessionId, "client")
      expect(yield* runner.runningCount).toBe(0)
      const fourth = yield* runner.startTurn(request("hello"))
      const fifth = yield* runner.startTurn(request("hello"))
      expect(lastEvent(yield* collect(fourth.events))._tag).toBe("TurnCompleted")
      expect(lastEvent(yield* collect(fifth.events))._tag).toBe("TurnCompleted")
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("a turn runs to completion when nobody consumes its events", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(request("nobody listens"))
      const log = yield* awaitTerminal(handle.sessionId, handle.turnId)
      expect(lastEvent(log)._tag).toBe("TurnCompleted")
      expect(replyOf(log)).toBe("Echo: nobody listens [turn=1]")
      yield* Effect.sleep("100 millis")
      expect(yield* Effect.map(runner.activity(handle.sessionId), (activity) => activity.running)).toBe(false)
    }).pipe(Effect.provide(runnerLayer(world)))
  })

  it.live("closing the runner's scope during a turn records TurnCancelled(shutdown) and kills the CLI", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.build(runnerLayer(world)).pipe(Scope.extend(scope))
      const runner = Context.get(context, SessionRunner)
      const handle = yield* runner.startTurn(request("FAKE_SLOW"))
      yield* firstDelta(handle.events)
      expect(processesIn(world.defaultCwd)).toHaveLength(1)

      yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("5 seconds"))
      yield* eventually("the fake CLI still runs", () => processesIn(world.defaultCwd).length === 0)

      // A fresh store over the same file sees how the turn ended.
      const log = yield* Effect.flatMap(SessionStore, (store) => store.read(handle.sessionId)).pipe(
        Effect.provide(EventLog.layerSqlite(world.database).pipe(Layer.provide(NodeContext.layer)))
      )
      expect(tags(log).slice(0, 3)).toEqual(["SessionCreated", "TurnStarted", "TurnAttached"])
      expect(lastEvent(log)).toMatchObject({ _tag: "TurnCancelled", turnId: handle.turnId, reason: "shutdown" })
    })
  })

  it.live("an invalid project id fails with InvalidTurnRequest and records nothing", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const runner = yield* SessionRunner
      for (const projectId of ["../x", "a/b", "/etc", ".hidden", ""]) {
        const error = yield* Effect.flip(runner.startTurn(request("hello", { projectId })))
        expect(error._tag, projectId).toBe("InvalidTurnRequest")
        if (error._tag === "InvalidTurnRequest") expect(error.param).toBe("project_id")
      }
      expect(NodeFs.existsSync(NodePath.join(world.dir, "x"))).toBe(false)
      expect(yield* runner.runningCount).toBe(0)
      const empty = yield* Effect.flip(runner.startTurn(request("hello", { messages: [] })))
      expect(empty._tag).toBe("InvalidTurnRequest")
    }).pipe(Effect.provide(runnerLayer(world)))
  })
})

describe("SessionRunner (real Claude Code CLI against the fake Anthropic API)", () => {
  it.scopedLive("a turn completes with the fake's reply and its cache usage", () => {
    const world = makeWorld()
    return Effect.gen(function*() {
      const fake = yield* Effect.acquireRelease(
        Effect.promise(() => startFakeAnthropic()),
        (fake) => Effect.promise(() => fake.close())
      )
      const home = NodePath.join(world.dir, "home")
      NodeFs.mkdirSync(home, { recursive: true })
      const layer = runnerLayer(world, {
        binary: REAL_CLAUDE,
        maxRetries: 0,
        idleTimeout: "20 seconds",
        env: { HOME: home, ...cliEnvFor(fake) }
      })
      const events = yield* Effect.gen(function*() {
        const runner = yield* SessionRunner
        const handle = yield* runner.startTurn(
          request("hello", { model: model({ model: "claude-sonnet-4-5-20250929" }) })
        )
        return yield* collect(handle.events)
      }).pipe(Effect.provide(layer))

      const completed = lastEvent(events)
      expect(completed._tag, JSON.stringify(completed)).toBe("TurnCompleted")
      if (completed._tag !== "TurnCompleted") return
      const reply = replyOf(events)
      expect(reply).toContain("Hello from fake-anthropic. You said: hello.")
      expect(reply).toContain("user_msgs=1")
      expect(completed.usage.cacheReadInputTokens).toBe(7)
      expect(completed.usage.cacheCreationInputTokens).toBe(3)
      expect(completed.usage.outputTokens).toBeGreaterThan(0)
      expect(completed.model).toBe("claude-sonnet-4-5-20250929")
      const attached = events.find((entry) => entry.event._tag === "TurnAttached")?.event
      expect(attached).toMatchObject({ model: "claude-sonnet-4-5-20250929", cliVersion: "2.1.197" })
      expect(fake.requests.some((request) => request.path === "/v1/messages")).toBe(true)
      expect(processesIn(world.defaultCwd)).toEqual([])
    })
  })
})
