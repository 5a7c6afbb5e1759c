/**
 * SessionRunner with a client's tools, over the fake `ClaudeProcess` and `TestClock`: a turn
 * that ends on calls of the client's tools, the process that holds them open for the next
 * turn (which hands it the results, or "not executed" for calls left unanswered), the hold's
 * timeout, cancellation while calls are held, parallel calls turned off, a stateless client
 * resending its history, and the way back from the log when the held process is gone.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream, TestClock } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll } from "vitest"
import { AppConfig, type AppConfigShape } from "../../src/AppConfig.js"
import { type ConversationMessage, textOf } from "../../src/Domain/Conversation.js"
import type { StoredEvent, TurnCompleted } from "../../src/Domain/SessionEvent.js"
import type { ClientTools } from "../../src/Domain/Tools.js"
import type { TurnHandle, TurnRequest } from "../../src/Domain/Turn.js"
import { EventLog } from "../../src/EventLog.js"
import { ModelRegistry } from "../../src/ModelRegistry.js"
import { Projects } from "../../src/Projects.js"
import { SessionRunner } from "../../src/SessionRunner.js"
import { SessionStore } from "../../src/SessionStore.js"
import { callingTools, cli, echoScript, FakeClaude, type FakeScript } from "../support/FakeClaude.js"

const scratchDirs: Array<string> = []
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const weather = { id: "call_a", name: "get_weather", input: { city: "Paris" } }
const clock = { id: "call_b", name: "get_time", input: {} }

/**
 * `CALL` calls get_weather, `CALL2` both tools; a continuation answers with the results it got
 * (`id=text`, `!` for an error) and the message that came with them; anything else echoes.
 */
const toolScript: FakeScript = (turn) => {
  const sessionId = `cli-${turn.process.pid}`
  const model = turn.launch.model ?? "claude-fake"
  if (turn.results !== undefined) {
    const said = turn.results.map(({ callId, outcome }) =>
      `${callId}=${textOf(outcome.content)}${outcome.isError ? "!" : ""}`
    ).join(",")
    const text = `Results: ${said}${turn.prompt.length > 0 ? ` + ${turn.prompt}` : ""}`
    return { lines: [cli.messageStart(sessionId, model), cli.textDelta(sessionId, text), cli.result(sessionId, text)] }
  }
  if (turn.prompt.includes("CALL2")) return { lines: callingTools(sessionId, model, "Let me look.", [weather, clock]) }
  if (turn.prompt.includes("CALL")) return { lines: callingTools(sessionId, model, "", [weather]) }
  return echoScript(turn)
}

const runnerLayer = (config: Partial<AppConfigShape> = {}) => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "runner-tools-"))
  scratchDirs.push(dir)
  return SessionRunner.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Projects.layer, ModelRegistry.layerFrom({ models: [] }))),
    Layer.provideMerge(
      Layer.mergeAll(EventLog.layerSqlite(NodePath.join(dir, "log.db")), FakeClaude.layer(toolScript))
    ),
    Layer.provideMerge(
      AppConfig.layerWith({
        projectRoot: NodePath.join(dir, "projects"),
        spareProcess: false,
        sessionIdleSeconds: 2,
        toolCallTimeoutSeconds: 5,
        ...config
      })
    ),
    Layer.provideMerge(NodeContext.layer)
  )
}

const tools = (parallel = true): ClientTools => ({
  tools: [
    { name: "get_weather", description: "Weather", parameters: { type: "object" } },
    { name: "get_time", description: null, parameters: { type: "object" } }
  ],
  choice: { _tag: "auto" },
  parallel
})

const userMessage = (text: string): ConversationMessage => ({ role: "user", content: [{ _tag: "text", text }] })
const toolMessage = (callId: string, text: string, isError = false): ConversationMessage => ({
  role: "tool",
  content: [{ _tag: "text", text }],
  toolCallId: callId,
  ...(isError ? { isError } : {})
})

const request = (messages: ReadonlyArray<ConversationMessage>, overrides: Partial<TurnRequest> = {}): TurnRequest => ({
  messages,
  systemPrompt: null,
  model: { requested: "claude-fake", model: "claude-fake", fallbacks: [], info: null },
  clientTools: tools(),
  ...overrides
})

const eventsOf = (handle: TurnHandle) => Effect.map(Stream.runCollect(handle.events), Chunk.toReadonlyArray)
const turn = (messages: ReadonlyArray<ConversationMessage>, overrides: Partial<TurnRequest> = {}) =>
  Effect.flatMap(
    SessionRunner,
    (runner) =>
      Effect.flatMap(runner.startTurn(request(messages, overrides)), (handle) =>
        Effect.map(eventsOf(handle), (events) => ({ handle, events })))
  )

const completedOf = (events: ReadonlyArray<StoredEvent>) => events[events.length - 1]!.event as TurnCompleted
const replyOf = (events: ReadonlyArray<StoredEvent>) =>
  events.flatMap(({ event }) => (event._tag === "TextDelta" ? [event.text] : [])).join("")

const settled = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let round = 0; round < 200 && !done(); round++) yield* Effect.yieldNow()
    expect(done()).toBe(true)
  })
/** Lets the background record of dropped calls be written (no clock time passes). */
const recorded = Effect.repeatN(Effect.yieldNow(), 50)
const advance = (millis: number) => Effect.zipRight(TestClock.adjust(millis), Effect.yieldNow())

const logOf = (sessionId: string) => Effect.flatMap(SessionStore, (store) => store.read(sessionId))
const dropsIn = (events: ReadonlyArray<StoredEvent>) =>
  events.flatMap((
    { event }
  ) => (event._tag === "ToolCallsExpired" ? [{ callIds: event.callIds, reason: event.reason }] : []))

describe("SessionRunner: a client's tools", () => {
  it.scoped("a turn that calls the client's tools completes with them, and the results continue the same process", () =>
    Effect.gen(function*() {
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL please")])
      expect(first.events.map(({ event }) => event._tag)).toEqual([
        "TurnStarted",
        "TurnAttached",
        "ToolCallStarted",
        "ToolCallDelta",
        "TurnCompleted"
      ])
      const completed = completedOf(first.events)
      expect(completed.toolCalls).toEqual([{ id: "call_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }])
      expect(completed.stopReason).toBe("tool_use")
      expect(completed.costUsd).toBeNull()
      expect(completed.usage.outputTokens).toBe(12)
      expect(processes[0]!.launch.clientTools?.map((tool) => tool.name)).toEqual(["get_weather", "get_time"])

      const second = yield* turn([toolMessage("call_a", "sunny")], { sessionId: first.handle.sessionId })
      expect(replyOf(second.events)).toBe("Results: call_a=sunny")
      expect(processes.length).toBe(1)
      expect(processes[0]!.results).toEqual([
        { callId: "call_a", outcome: { content: [{ _tag: "text", text: "sunny" }], isError: false } }
      ])
      // The continuation's CLI session is the held one, though its run printed no `init`.
      const attached = second.events.find(({ event }) => event._tag === "TurnAttached")!.event
      expect(attached).toMatchObject({ cliSessionId: `cli-${processes[0]!.pid}` })
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("a stateless client that resends the history with the results finds its session and held process", () =>
    Effect.gen(function*() {
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL stateless")])
      const history = [
        userMessage("CALL stateless"),
        // Re-serialised arguments and no text: still the same conversation.
        {
          role: "assistant",
          content: [],
          toolCalls: [{ id: "call_a", name: "get_weather", arguments: "{ \"city\": \"Paris\" }" }]
        },
        toolMessage("call_a", "cloudy")
      ] satisfies ReadonlyArray<ConversationMessage>
      const second = yield* turn(history)
      expect(second.handle.sessionId).toBe(first.handle.sessionId)
      expect(replyOf(second.events)).toBe("Results: call_a=cloudy")
      expect(processes.length).toBe(1)
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("unanswered calls are reported as not executed; an error result is an error; a new user message comes along", () =>
    Effect.gen(function*() {
      const first = yield* turn([userMessage("CALL2 both")])
      expect(completedOf(first.events).toolCalls.map((call) => call.id)).toEqual(["call_a", "call_b"])
      const second = yield* turn([toolMessage("call_b", "no clock", true), userMessage("and then?")], {
        sessionId: first.handle.sessionId
      })
      expect(replyOf(second.events)).toBe(
        "Results: call_a=Not executed: the client did not run this tool call.!,call_b=no clock! + and then?"
      )
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("without parallel calls only the first call is shown, and the other is answered as not executed", () =>
    Effect.gen(function*() {
      const first = yield* turn([userMessage("CALL2 one at a time")], { clientTools: tools(false) })
      expect(first.events.filter(({ event }) => event._tag === "ToolCallStarted").length).toBe(1)
      expect(completedOf(first.events).toolCalls.map((call) => call.id)).toEqual(["call_a"])
      const second = yield* turn([toolMessage("call_a", "sunny")], {
        sessionId: first.handle.sessionId,
        clientTools: tools(false)
      })
      expect(replyOf(second.events)).toBe(
        "Results: call_a=sunny,call_b=Not executed: the client did not run this tool call.!"
      )
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("held calls outlive the idle time, expire after the tool-call timeout (recorded), and the conversation goes on from the log", () =>
    Effect.gen(function*() {
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL later")])
      const sessionId = first.handle.sessionId
      yield* advance(3_000)
      expect(processes[0]!.exited).toBe(false)
      yield* advance(2_000)
      yield* settled(() => processes[0]!.exited)
      yield* recorded
      expect(dropsIn(yield* logOf(sessionId))).toEqual([{ callIds: ["call_a"], reason: "timeout" }])

      const second = yield* turn([toolMessage("call_a", "sunny")], { sessionId })
      expect(processes.length).toBe(2)
      expect(processes[1]!.results).toEqual([])
      expect(processes[1]!.prompts[0]).toContain(
        "Assistant called tool get_weather (call call_a) with arguments {\"city\":\"Paris\"}"
      )
      expect(processes[1]!.prompts[0]).toContain("Tool result (call call_a): sunny")
      expect(completedOf(second.events)._tag).toBe("TurnCompleted")
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("cancelling a session whose calls are held gives them up and stops its process", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL cancel")])
      expect(yield* runner.cancel(first.handle.sessionId, "client")).toBe(true)
      yield* settled(() => processes[0]!.exited)
      yield* recorded
      expect(dropsIn(yield* logOf(first.handle.sessionId))).toEqual([{ callIds: ["call_a"], reason: "cancelled" }])
      expect(yield* runner.cancel(first.handle.sessionId, "client")).toBe(false)
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("a turn with other tools cannot use the held process: a new one gets the conversation, nothing is recorded", () =>
    Effect.gen(function*() {
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL switch")])
      const other: ClientTools = {
        ...tools(),
        tools: [{ name: "search", description: null, parameters: { type: "object" } }]
      }
      yield* turn([toolMessage("call_a", "sunny")], { sessionId: first.handle.sessionId, clientTools: other })
      expect(processes.length).toBe(2)
      yield* settled(() => processes[0]!.exited)
      expect(processes[1]!.prompts[0]).toContain("Tool result (call call_a): sunny")
      expect(dropsIn(yield* logOf(first.handle.sessionId))).toEqual([])
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("a result for a call the held process does not hold: a new process gets the whole conversation", () =>
    Effect.gen(function*() {
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL mismatch")])
      yield* turn([toolMessage("call_made_up", "sunny")], { sessionId: first.handle.sessionId })
      expect(processes.length).toBe(2)
      expect(processes[0]!.results).toEqual([])
      expect(processes[1]!.prompts[0]).toContain("Tool result (call call_made_up): sunny")
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("closing a session with purge while calls are held leaves nothing of it", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL purge")])
      yield* runner.closeSession(first.handle.sessionId, { purge: true })
      yield* settled(() => processes[0]!.exited)
      yield* recorded
      expect(yield* logOf(first.handle.sessionId)).toEqual([])
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("shutdown stops a process holding calls at once, and records them as given up", () =>
    Effect.gen(function*() {
      const runner = yield* SessionRunner
      const { processes } = yield* FakeClaude
      const first = yield* turn([userMessage("CALL bye")])
      yield* runner.shutdown
      expect(processes[0]!.killed).toBe(true)
      expect(processes[0]!.inputEnded).toBe(false)
      expect(dropsIn(yield* logOf(first.handle.sessionId))).toEqual([{ callIds: ["call_a"], reason: "shutdown" }])
    }).pipe(Effect.provide(runnerLayer())))
})
