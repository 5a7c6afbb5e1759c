/**
 * SessionRunner's own logic over a fake `ClaudeProcess` (test/support/FakeClaude.ts) and
 * `TestClock`: no process is spawned and no test sleeps. The process pool (warm processes,
 * idle passivation, the warm limit, the spare), admission (busy sessions, a turn that is
 * being cancelled, the global limit), cancellation, the turn timeout, the model fallback
 * chain, a lost transcript and shutdown. The event log is a real SQLite file.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, type Duration, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll } from "vitest"
import { AppConfig, type AppConfigShape } from "../../src/AppConfig.js"
import { CliTurnError, ModelRejected } from "../../src/Domain/Errors.js"
import type { ResolvedModel } from "../../src/Domain/Model.js"
import { SessionCreated, type StoredEvent, TurnCancelled, TurnStarted } from "../../src/Domain/SessionEvent.js"
import type { TurnHandle, TurnRequest } from "../../src/Domain/Turn.js"
import { EventLog } from "../../src/EventLog.js"
import { ModelRegistry } from "../../src/ModelRegistry.js"
import { Projects } from "../../src/Projects.js"
import { SessionRunner } from "../../src/SessionRunner.js"
import { SessionStore } from "../../src/SessionStore.js"
import { cli, echoScript, FakeClaude, type FakeScript } from "../support/FakeClaude.js"

const scratchDirs: Array<string> = []
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const scratch = () => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "runner-unit-"))
  scratchDirs.push(dir)
  return dir
}

const runnerLayer = (
  options: {
    readonly script?: FakeScript
    readonly startDelay?: Duration.DurationInput
    readonly config?: Partial<AppConfigShape>
    /** The directory of the log and the projects (a new one by default). */
    readonly dir?: string
  } = {}
) => {
  const dir = options.dir ?? scratch()
  return SessionRunner.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Projects.layer, ModelRegistry.layerFrom({ models: [] }))),
    Layer.provideMerge(
      Layer.mergeAll(
        EventLog.layerSqlite(NodePath.join(dir, "log.db")),
        FakeClaude.layer(options.script, options.startDelay === undefined ? {} : { startDelay: options.startDelay })
      )
    ),
    Layer.provideMerge(
      AppConfig.layerWith({
        projectRoot: NodePath.join(dir, "projects"),
        spareProcess: false,
        sessionIdleSeconds: 60,
        turnTimeoutSeconds: 30,
        queueTimeoutSeconds: 5,
        ...options.config
      })
    ),
    Layer.provideMerge(NodeContext.layer)
  )
}

const model = (name: string | null = "claude-fake", fallbacks: ReadonlyArray<string> = []): ResolvedModel => ({
  requested: name,
  model: name,
  fallbacks,
  info: null
})

const request = (text: string, overrides: Partial<TurnRequest> = {}): TurnRequest => ({
  messages: [{ role: "user", content: [{ _tag: "text", text }] }],
  systemPrompt: null,
  model: model(),
  ...overrides
})

const tags = (events: ReadonlyArray<StoredEvent>) => events.map((stored) => stored.event._tag)
const replyOf = (events: ReadonlyArray<StoredEvent>) =>
  events.flatMap(({ event }) => (event._tag === "TextDelta" ? [event.text] : [])).join("")
const lastOf = (events: ReadonlyArray<StoredEvent>) => events[events.length - 1]!.event

/** A turn's events through its end. */
const eventsOf = (handle: TurnHandle) => Effect.map(Stream.runCollect(handle.events), Chunk.toReadonlyArray)

/** Starts a turn and reads it to its end. */
const turn = (text: string, overrides: Partial<TurnRequest> = {}) =>
  Effect.flatMap(SessionRunner, (runner) => Effect.flatMap(runner.startTurn(request(text, overrides)), eventsOf))

/**
 * Lets background work (a process handed back to the pool after its turn's last event, a
 * spare starting) run until `done` holds; no clock time passes.
 */
const settled = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let round = 0; round < 200 && !done(); round++) yield* Effect.yieldNow()
    expect(done()).toBe(true)
  })

/** Moves the test clock and lets the fibers it woke run. */
const advance = (millis: number) => Effect.zipRight(TestClock.adjust(millis), Effect.yieldNow())

const fake = FakeClaude

describe("SessionRunner: warm processes", () => {
  it.scoped("a completed turn keeps its process; the session's next turn runs on it and sends only the new message", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* fake
      const first = yield* runner.startTurn(request("one"))
      expect(replyOf(yield* eventsOf(first))).toBe("Echo: one [turn=1]")
      expect((yield* runner.activity(first.sessionId)).warm).toBe(true)
      const second = yield* turn("two", { sessionId: first.sessionId })
      expect(replyOf(second)).toBe("Echo: two [turn=2]")
      expect(processes).toHaveLength(1)
      expect(processes[0]!.prompts).toEqual(["one", "two"])
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("an idle process is retired after sessionIdleSeconds; the next turn resumes the CLI session on a new process", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* fake
      const first = yield* runner.startTurn(request("remember me"))
      yield* eventsOf(first)
      yield* advance(59_999)
      expect((yield* runner.activity(first.sessionId)).warm).toBe(true)
      yield* advance(1)
      expect((yield* runner.activity(first.sessionId)).warm).toBe(false)
      expect(processes[0]).toMatchObject({ inputEnded: true, exited: true, killed: false })

      yield* turn("and now?", { sessionId: first.sessionId })
      expect(processes).toHaveLength(2)
      expect(processes[1]!.launch.resume).toBe(`cli-${processes[0]!.pid}`)
      expect(processes[1]!.prompts).toEqual(["and now?"])
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("at most maxWarmProcesses sessions stay warm: the least recently used one is retired first", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* fake
      const a = yield* runner.startTurn(request("a"))
      yield* eventsOf(a)
      const b = yield* runner.startTurn(request("b"))
      yield* eventsOf(b)
      yield* advance(1000)
      yield* turn("a again", { sessionId: a.sessionId })
      yield* advance(1000)
      const c = yield* runner.startTurn(request("c"))
      yield* eventsOf(c)
      yield* settled(() => processes.filter((process) => process.exited).length === 1)
      expect(yield* runner.warmCount).toBe(2)
      expect((yield* runner.activity(a.sessionId)).warm).toBe(true)
      expect((yield* runner.activity(b.sessionId)).warm).toBe(false)
      expect((yield* runner.activity(c.sessionId)).warm).toBe(true)
    }).pipe(Effect.provide(runnerLayer({ config: { maxWarmProcesses: 2 } }))))

  it.scoped("with maxWarmProcesses 0 every turn's process is retired at its end", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* fake
      const first = yield* runner.startTurn(request("one"))
      yield* eventsOf(first)
      yield* settled(() => processes[0]!.exited)
      expect((yield* runner.activity(first.sessionId)).warm).toBe(false)
    }).pipe(Effect.provide(runnerLayer({ config: { maxWarmProcesses: 0 } }))))

  it.scoped("the spare: started after a turn with its settings, taken by the next new session, retired when unused", () =>
    Effect.gen(function*() {
      const { processes } = yield* fake
      yield* turn("first", { systemPrompt: "terse" })
      yield* settled(() => processes.length === 2)
      expect(processes[1]!.launch).toMatchObject({ systemPrompt: "terse", resume: null })
      expect(processes[1]!.prompts).toEqual([])

      // A new session with the same settings takes it; a new spare replaces it.
      const second = yield* turn("second", { systemPrompt: "terse" })
      expect(replyOf(second)).toBe("Echo: second [turn=1]")
      expect(processes[1]!.prompts).toEqual(["second"])
      yield* settled(() => processes.length === 3)

      // Unused, the spare is stopped after sessionIdleSeconds.
      yield* advance(60_000)
      expect(processes[2]!.exited).toBe(true)
    }).pipe(Effect.provide(runnerLayer({ config: { spareProcess: true } }))))
})

describe("SessionRunner: turns", () => {
  const rejecting: FakeScript = (turn) =>
    turn.launch.model?.startsWith("rejected") === true
      ? {
        lines: [cli.init("cli-x", turn.launch.model)],
        then: new ModelRejected({ models: [turn.launch.model], message: "no such model" })
      }
      : echoScript(turn)

  it.scoped("a rejected model moves on to the next of its chain, recorded as ModelFallback", () =>
    Effect.gen(function*() {
      const { processes } = yield* fake
      const events = yield* turn("hello", { model: model("rejected-a", ["rejected-b", "claude-good"]) })
      expect(tags(events)).toEqual([
        "TurnStarted",
        "ModelFallback",
        "ModelFallback",
        "TurnAttached",
        "TextDelta",
        "TextDelta",
        "TextDelta",
        "TurnCompleted"
      ])
      expect(lastOf(events)).toMatchObject({ _tag: "TurnCompleted", model: "claude-good" })
      expect(processes.map((process) => process.launch.model)).toEqual(["rejected-a", "rejected-b", "claude-good"])
      yield* settled(() => processes.slice(0, 2).every((process) => process.exited))
    }).pipe(Effect.provide(runnerLayer({ script: rejecting }))))

  it.scoped("when the whole chain is rejected the turn fails with ModelRejected listing every model", () =>
    Effect.gen(function*() {
      const events = yield* turn("hello", { model: model("rejected-a", ["rejected-b"]) })
      expect(lastOf(events)).toMatchObject({
        _tag: "TurnFailed",
        error: { _tag: "ModelRejected", models: ["rejected-a", "rejected-b"] }
      })
    }).pipe(Effect.provide(runnerLayer({ script: rejecting }))))

  it.scoped("a transcript that cannot be resumed: the turn starts over on a new process given the whole conversation", () =>
    Effect.gen(function*() {
      const lostTranscripts: FakeScript = (turn) =>
        turn.launch.resume !== null
          ? {
            lines: [cli.init(turn.launch.resume, "claude-fake")],
            then: new CliTurnError({
              subtype: "error_during_execution",
              message: "No conversation found with session ID"
            })
          }
          : echoScript(turn)
      return yield* Effect.gen(function*() {
        const runner = yield* SessionRunner
        const { processes } = yield* fake
        const first = yield* runner.startTurn(request("my name is Ada"))
        yield* eventsOf(first)
        yield* advance(60_000)
        const events = yield* turn("what is my name?", { sessionId: first.sessionId })
        expect(lastOf(events)._tag).toBe("TurnCompleted")
        expect(processes).toHaveLength(3)
        expect(processes[1]!.launch.resume).not.toBeNull()
        expect(processes[2]!.launch.resume).toBeNull()
        expect(processes[2]!.prompts[0]).toContain("User: my name is Ada")
        expect(processes[2]!.prompts[0]).toContain("what is my name?")
      }).pipe(Effect.provide(runnerLayer({ script: lostTranscripts })))
    }))

  it.scoped("a turn that outlives turnTimeoutSeconds is cancelled with reason timeout and its CLI stopped", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* fake
      const handle = yield* runner.startTurn(request("HANG"))
      const events = yield* Effect.fork(eventsOf(handle))
      yield* advance(29_999)
      expect(events.unsafePoll()).toBeNull()
      expect((yield* runner.activity(handle.sessionId)).running).toBe(true)
      yield* advance(1)
      expect(lastOf(yield* Fiber.join(events))).toMatchObject({ _tag: "TurnCancelled", reason: "timeout" })
      expect(processes[0]!.interrupts).toBe(1)
      yield* settled(() => processes[0]!.exited)
      expect((yield* runner.activity(handle.sessionId)).running).toBe(false)
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("the session's own model and system prompt are used when the request brings none", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* fake
      const { sessionId } = yield* runner.createSession({
        owner: null,
        projectId: "default",
        model: "claude-session-model",
        systemPrompt: "Answer in French."
      })
      yield* turn("hello", { sessionId, model: model(null) })
      expect(processes[0]!.launch).toMatchObject({ model: "claude-session-model", systemPrompt: "Answer in French." })
      yield* turn("again", { sessionId, model: model("claude-other"), systemPrompt: "Answer in German." })
      expect(processes[1]!.launch).toMatchObject({ model: "claude-other", systemPrompt: "Answer in German." })
    }).pipe(Effect.provide(runnerLayer())))
})

describe("SessionRunner: cancellation and admission", () => {
  it.scoped("cancel records TurnCancelled(client) before it returns, interrupts the CLI and retires its process", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const { processes } = yield* fake
      const handle = yield* runner.startTurn(request("HANG"))
      yield* Effect.yieldNow()
      expect(yield* runner.cancel(handle.sessionId, "client")).toBe(true)
      expect(lastOf(yield* store.read(handle.sessionId))).toMatchObject({ _tag: "TurnCancelled", reason: "client" })
      expect(processes[0]!.interrupts).toBe(1)
      yield* settled(() => processes[0]!.exited)
      expect(processes[0]!.inputEnded).toBe(true)
      expect(yield* runner.cancel(handle.sessionId, "client")).toBe(false)
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("a CLI that ignores the interrupt is killed a second later", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* fake
      const handle = yield* runner.startTurn(request("stubborn"))
      yield* Effect.yieldNow()
      const cancelling = yield* Effect.fork(runner.cancel(handle.sessionId, "client"))
      yield* advance(999)
      expect(cancelling.unsafePoll()).toBeNull()
      yield* advance(1)
      expect(yield* Fiber.join(cancelling)).toBe(true)
      expect(processes[0]).toMatchObject({ killed: true, exited: true })
    }).pipe(Effect.provide(runnerLayer({ script: () => ({ lines: [], then: "hang", ignoresInterrupt: true }) }))))

  it.scoped("a second turn on a running session fails with SessionBusy after the half-second grace", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(request("HANG"))
      const second = yield* Effect.fork(
        Effect.flip(runner.startTurn(request("me too", { sessionId: handle.sessionId })))
      )
      yield* advance(499)
      expect(second.unsafePoll()).toBeNull()
      yield* advance(1)
      expect(yield* Fiber.join(second)).toMatchObject({ _tag: "SessionBusy", sessionId: handle.sessionId })
      expect((yield* runner.activity(handle.sessionId)).running).toBe(true)
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("a turn that arrives while the session's turn is being cancelled waits for it, then runs", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const handle = yield* runner.startTurn(request("HANG"))
      yield* Effect.yieldNow()
      // The client's next turn arrives before the gateway noticed it left the first one.
      const next = yield* Effect.fork(runner.startTurn(request("next", { sessionId: handle.sessionId })))
      yield* advance(200)
      yield* runner.cancel(handle.sessionId, "disconnect")
      const followUp = yield* eventsOf(yield* Fiber.join(next))
      expect(replyOf(followUp)).toBe("Echo: next [turn=1]")
      const log = tags(yield* store.read(handle.sessionId))
      expect(log.filter((tag) => tag.startsWith("Turn") && tag !== "TurnAttached")).toEqual([
        "TurnStarted",
        "TurnCancelled",
        "TurnStarted",
        "TurnCompleted"
      ])
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("the global limit: a turn waits for a free slot up to the queue timeout, then fails with CapacityExceeded", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const first = yield* runner.startTurn(request("HANG"))
      const second = yield* Effect.fork(runner.startTurn(request("waits")))
      yield* advance(4_000)
      expect(second.unsafePoll()).toBeNull()
      yield* runner.cancel(first.sessionId, "client")
      expect(replyOf(yield* eventsOf(yield* Fiber.join(second)))).toBe("Echo: waits [turn=1]")

      yield* runner.startTurn(request("HANG"))
      const refused = yield* Effect.fork(Effect.flip(runner.startTurn(request("refused"))))
      yield* advance(5_000)
      expect(yield* Fiber.join(refused)).toMatchObject({ _tag: "CapacityExceeded", limit: 1 })
    }).pipe(Effect.provide(runnerLayer({ config: { maxConcurrentTurns: 1 } }))))

  it.scoped("shutdown records TurnCancelled(shutdown), stops every process and refuses later turns", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const { running } = yield* fake
      const idle = yield* runner.startTurn(request("done early"))
      yield* eventsOf(idle)
      const busy = yield* runner.startTurn(request("HANG"))
      yield* Effect.yieldNow()
      expect(running()).toHaveLength(2)
      yield* runner.shutdown
      expect(lastOf(yield* store.read(busy.sessionId))).toMatchObject({ _tag: "TurnCancelled", reason: "shutdown" })
      expect(running()).toEqual([])
      expect(yield* Effect.flip(runner.startTurn(request("too late")))).toMatchObject({ _tag: "ShuttingDown" })
    }).pipe(Effect.provide(runnerLayer())))
})

describe("SessionRunner: the edges of a turn's start", () => {
  it.scoped("a turn waiting for the global limit gives up when it is cancelled, and frees nothing it did not take", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const first = yield* runner.startTurn(request("HANG"))
      const { sessionId } = yield* runner.createSession({ owner: null, projectId: "default" })
      const queued = yield* Effect.fork(Effect.flip(runner.startTurn(request("queued", { sessionId }))))
      yield* advance(1_000)
      expect(yield* runner.cancel(sessionId, "client")).toBe(true)
      expect(yield* Fiber.join(queued)).toMatchObject({ _tag: "QueuedTurnCancelled", sessionId, reason: "client" })
      expect((yield* runner.activity(first.sessionId)).running).toBe(true)
      // The one slot is still the first turn's; once it ends, the next turn runs at once.
      yield* runner.cancel(first.sessionId, "client")
      expect(replyOf(yield* turn("next", { sessionId }))).toBe("Echo: next [turn=1]")
    }).pipe(Effect.provide(runnerLayer({ config: { maxConcurrentTurns: 1 } }))))

  it.scoped("shutdown stops a turn that waits for the global limit", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      yield* runner.startTurn(request("HANG"))
      const queued = yield* Effect.fork(Effect.flip(runner.startTurn(request("queued"))))
      yield* advance(1_000)
      yield* runner.shutdown
      expect(yield* Fiber.join(queued)).toMatchObject({ _tag: "QueuedTurnCancelled", reason: "shutdown" })
    }).pipe(Effect.provide(runnerLayer({ config: { maxConcurrentTurns: 1 } }))))

  it.scoped("cancel names the turn it means: another turn of the session is left alone", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const handle = yield* runner.startTurn(request("HANG"))
      expect(yield* runner.cancel(handle.sessionId, "disconnect", "turn_someone_else")).toBe(false)
      expect((yield* runner.activity(handle.sessionId)).running).toBe(true)
      expect(yield* runner.cancel(handle.sessionId, "disconnect", handle.turnId)).toBe(true)
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("a caller interrupted while its turn launches: the turn keeps its claim and runs, or is cancelled if asked", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const { sessionId } = yield* runner.createSession({ owner: null, projectId: "default" })
      // The CLI takes a second to start; the caller goes away half-way.
      const left = yield* Effect.fork(runner.startTurn(request("SLOW unobserved", { sessionId })))
      yield* advance(500)
      const interrupting = yield* Effect.fork(Fiber.interrupt(left))
      yield* advance(500)
      yield* Fiber.join(interrupting)
      // Not watched, still running: the session is busy until it ends, and its end is recorded.
      expect((yield* runner.activity(sessionId)).running).toBe(true)
      yield* advance(10_000)
      expect(lastOf(yield* store.read(sessionId))._tag).toBe("TurnCompleted")

      // A new session (so a new process, a second to start) whose request asks to be cancelled.
      const other = yield* runner.createSession({ owner: null, projectId: "default" })
      const asked = yield* Effect.fork(
        runner.startTurn(request("SLOW cancel me", { sessionId: other.sessionId, cancelIfCallerGone: true }))
      )
      yield* advance(500)
      const interruptingAgain = yield* Effect.fork(Fiber.interrupt(asked))
      yield* advance(500)
      yield* Fiber.join(interruptingAgain)
      expect(lastOf(yield* store.read(other.sessionId))).toMatchObject({ _tag: "TurnCancelled", reason: "disconnect" })
    }).pipe(Effect.provide(runnerLayer({ startDelay: "1 second" }))))

  it.scoped("a cancel that lands while the turn's process is starting stops it, and the process serves no later turn", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const store = yield* SessionStore
      const { processes } = yield* fake
      const { sessionId } = yield* runner.createSession({ owner: null, projectId: "default" })
      const starting = yield* Effect.fork(runner.startTurn(request("SLOW never read", { sessionId })))
      yield* advance(500)
      const cancelling = yield* Effect.fork(runner.cancel(sessionId, "client"))
      yield* advance(500)
      expect(yield* Fiber.join(cancelling)).toBe(true)
      yield* Fiber.join(starting)
      expect(lastOf(yield* store.read(sessionId))).toMatchObject({ _tag: "TurnCancelled", reason: "client" })
      yield* settled(() => processes[0]!.exited)
      // The next turn gets its own answer, on its own process.
      const next = yield* Effect.fork(turn("and now", { sessionId }))
      yield* advance(1_000)
      expect(replyOf(yield* Fiber.join(next))).toBe("Echo: and now [turn=1]")
    }).pipe(Effect.provide(runnerLayer({ startDelay: "1 second" }))))

  it.live("at start-up every unfinished turn is recorded as interrupted, several in one session too", () =>
    Effect.gen(function*() {
      const dir = scratch()
      const started = (turnId: string) =>
        new TurnStarted({
          turnId,
          messages: [{ role: "user", content: [{ _tag: "text", text: "hi" }] }],
          systemPrompt: null,
          requestedModel: null,
          resolvedModel: null,
          fallbackModels: [],
          parameters: {}
        })
      yield* Effect.flatMap(
        SessionStore,
        (store) =>
          store.append("s", 0, [new SessionCreated({ projectId: "default", cwd: dir }), started("t1"), started("t2")])
      ).pipe(
        Effect.provide(EventLog.layerSqlite(NodePath.join(dir, "log.db")).pipe(Layer.provide(NodeContext.layer))),
        Effect.scoped
      )
      const log = yield* Effect.flatMap(SessionStore, (store) => store.read("s")).pipe(
        Effect.provide(runnerLayer({ dir })),
        Effect.scoped
      )
      expect(log.filter(({ event }) => event._tag === "TurnCancelled").map(({ event }) => event)).toEqual([
        new TurnCancelled({ turnId: "t1", reason: "interrupted" }),
        new TurnCancelled({ turnId: "t2", reason: "interrupted" })
      ])
    }))
})
