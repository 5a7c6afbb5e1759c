/**
 * ClaudeProcess against the fake `claude` executable (test/fixtures/fake-claude.mjs): real child
 * processes, real pipes, real signals. Checks the typed events of a turn, the classification of
 * the CLI's failures, the exact invocation (argv, cwd, env), long-lived connections with
 * interrupts, and above all that no process outlives its scope or stream.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Option, Scope, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import { ClaudeProcess, type ClaudeProcessOptions, type CliLaunch } from "../src/ClaudeProcess.js"
import { type CliEvent, isApiRetry, isInit } from "../src/Domain/CliEvent.js"
import type { ContentPart } from "../src/Domain/Conversation.js"
import type { CliError } from "../src/Domain/Errors.js"
import { withProcessEnv } from "./support/env.js"
import { processesIn } from "./support/processes.js"

const FAKE_CLAUDE = fileURLToPath(new URL("./fixtures/fake-claude.mjs", import.meta.url))
const MISSING_BINARY = NodePath.join(NodeOs.tmpdir(), "claude-process-test-nowhere", "no-such-claude")

// ---------------------------------------------------------------------------------------------
// helpers

const scratchDirs: Array<string> = []
/** A fresh directory (its real path, so it compares equal to the child's `process.cwd()`). */
const scratch = (): string => {
  const dir = NodeFs.realpathSync(NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "claude-process-test-")))
  scratchDirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const layerWith = (overrides: Partial<ClaudeProcessOptions> = {}) =>
  ClaudeProcess.layerWith({
    binary: FAKE_CLAUDE,
    maxRetries: 2,
    idleTimeout: "2 seconds",
    env: { FAKE_CLAUDE_DELAY_MS: "100", FAKE_MARKER: "from-options" },
    ...overrides
  }).pipe(Layer.provide(NodeContext.layer))

const FakeLayer = layerWith()

const launchIn = (cwd: string, overrides: Partial<CliLaunch> = {}): CliLaunch => ({
  cwd,
  model: null,
  systemPrompt: null,
  systemPromptMode: "append",
  permissionMode: "acceptEdits",
  resume: null,
  ...overrides
})

const text = (value: string): ReadonlyArray<ContentPart> => [{ _tag: "text", text: value }]

/** The text of a `stream_event` text delta, or null for any other line. */
const deltaText = (event: CliEvent): string | null => {
  if (event.type !== "stream_event") return null
  const inner = event.event
  if (inner.type !== "content_block_delta" || !("delta" in inner)) return null
  const delta = inner.delta
  return delta.type === "text_delta" && "text" in delta ? delta.text : null
}
const isTextDelta = (event: CliEvent): boolean => deltaText(event) !== null
const replyOf = (events: Iterable<CliEvent>): string =>
  Array.from(events).flatMap((event) => deltaText(event) ?? []).join("")

const resultOf = (events: ReadonlyArray<CliEvent>) => {
  const last = events[events.length - 1]
  if (last === undefined || last.type !== "result") throw new Error(`last line is not a result: ${last?.type}`)
  return last
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/** Polls until `gone()` holds; fails after `withinMs`. Returns how long it took. */
const eventually = (what: string, gone: () => boolean, withinMs = 1500) =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!gone()) {
      if (Date.now() - started > withinMs) {
        return yield* Effect.dieMessage(`${what} still true after ${withinMs} ms`)
      }
      yield* Effect.sleep("25 millis")
    }
    return Date.now() - started
  })

const pidGone = (pid: number, withinMs = 1500) => eventually(`process ${pid} alive`, () => !isAlive(pid), withinMs)
const noProcessIn = (cwd: string, withinMs = 1500) =>
  eventually(`a process in ${cwd}`, () => processesIn(cwd).length === 0, withinMs)

/**
 * One turn in a fresh process: message in (queued before the spawn), events out, then stdin
 * closed; the process's scope closes when the stream ends, so nothing outlives it.
 */
const runTurn = (
  launch: CliLaunch,
  content: ReadonlyArray<ContentPart>
): Stream.Stream<CliEvent, CliError, ClaudeProcess> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const claude = yield* ClaudeProcess
    const [connection, events] = yield* claude.startTurn(launch, content)
    return events.pipe(Stream.ensuring(connection.endInput))
  }))

const collectRun = (launch: CliLaunch, prompt: string) =>
  Stream.runCollect(runTurn(launch, text(prompt))).pipe(
    Effect.map(Chunk.toReadonlyArray)
  )

/** Runs a turn that must fail; returns the events seen before the failure and the error. */
const failingRun = (launch: CliLaunch, prompt: string) =>
  Effect.gen(function*() {
    const seen: Array<CliEvent> = []
    const error = yield* runTurn(launch, text(prompt)).pipe(
      Stream.runForEach((event) => Effect.sync(() => seen.push(event))),
      Effect.flip
    )
    return { seen, error }
  })

interface EchoedArgs {
  readonly argv: ReadonlyArray<string>
  readonly initialize: Record<string, unknown> | null
  readonly cwd: string
  readonly env: Readonly<Record<string, string | null>>
}

const echoArgs = (launch: CliLaunch) =>
  Effect.map(collectRun(launch, "FAKE_ECHO_ARGS"), (events) => JSON.parse(replyOf(events)) as EchoedArgs)

/** The value following `flag` in argv, or undefined when the flag is absent. */
const flagValue = (argv: ReadonlyArray<string>, flag: string): string | undefined => {
  const index = argv.indexOf(flag)
  return index < 0 ? undefined : argv[index + 1]
}

// ---------------------------------------------------------------------------------------------

describe("ClaudeProcess (fake CLI)", () => {
  it.live("streams a text turn: init first, several text deltas, the result last, then the stream ends", () =>
    Effect.gen(function*() {
      const cwd = scratch()
      const events = yield* collectRun(launchIn(cwd), "hello there")

      expect(isInit(events[0]!)).toBe(true)
      const deltas = events.filter(isTextDelta)
      expect(deltas.length).toBeGreaterThanOrEqual(3)
      const result = resultOf(events)
      expect(result.is_error).toBe(false)
      expect(result.subtype).toBe("success")
      expect(events.filter((event) => event.type === "result")).toHaveLength(1)
      // Every delta comes before the result.
      expect(events.lastIndexOf(deltas[deltas.length - 1]!)).toBeLessThan(events.length - 1)
      // The process finished its turn and exited on its own; `run` waited for it.
      expect(processesIn(cwd)).toEqual([])
    }).pipe(Effect.provide(FakeLayer)))

  it.live("partial text deltas concatenate to the reply", () =>
    Effect.gen(function*() {
      const events = yield* collectRun(launchIn(scratch()), "one two three four")
      const pieces = events.flatMap((event) => deltaText(event) ?? [])
      expect(pieces).toEqual(["Echo: ", "one ", "two ", "three ", "four ", "[turn=1]"])
      expect(pieces.join("")).toBe("Echo: one two three four [turn=1]")
      expect(resultOf(events).result).toBe(pieces.join(""))
      expect(resultOf(events).usage?.output_tokens).toBe(pieces.length)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_TOOL: the tool_use and its tool_result lines are in the stream", () =>
    Effect.gen(function*() {
      const events = yield* collectRun(launchIn(scratch()), "please FAKE_TOOL")
      const toolUses = events.flatMap((event) =>
        event.type === "assistant"
          ? event.message.content.flatMap((block) => block.type === "tool_use" && "name" in block ? [block] : [])
          : []
      )
      expect(toolUses).toHaveLength(1)
      expect(toolUses[0]!.name).toBe("Bash")
      expect(toolUses[0]!.input).toEqual({ command: "echo hi", description: "Print hi" })
      const toolResults = events.flatMap((event) =>
        event.type === "user" && typeof event.message.content !== "string"
          ? event.message.content.flatMap((block) =>
            block.type === "tool_result" && "tool_use_id" in block ? [block] : []
          )
          : []
      )
      expect(toolResults).toHaveLength(1)
      expect(toolResults[0]!.tool_use_id).toBe(toolUses[0]!.id)
      expect(toolResults[0]!.content).toBe("hi")
      expect(resultOf(events).result).toBe("The command printed hi.")
      expect(resultOf(events).num_turns).toBe(2)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("a model the upstream rejects fails the stream with ModelRejected", () =>
    Effect.gen(function*() {
      const { error } = yield* failingRun(launchIn(scratch(), { model: "claude-rejected-x" }), "hello")
      expect(error._tag).toBe("ModelRejected")
      if (error._tag !== "ModelRejected") return
      expect(error.models).toEqual(["claude-rejected-x"])
      expect(error.message).toContain("claude-rejected-x")
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_CRASH: the first deltas arrive, then CliExitedEarly with exit code 3 and the stderr tail", () =>
    Effect.gen(function*() {
      const cwd = scratch()
      const { error, seen } = yield* failingRun(launchIn(cwd), "FAKE_CRASH")
      expect(seen.flatMap((event) => deltaText(event) ?? [])).toEqual(["Partial ", "answer "])
      expect(seen.some((event) => event.type === "result")).toBe(false)
      expect(error._tag).toBe("CliExitedEarly")
      if (error._tag !== "CliExitedEarly") return
      expect(error.exitCode).toBe(3)
      expect(error.signal).toBeNull()
      expect(error.stderrTail).toContain("simulated crash")
      expect(processesIn(cwd)).toEqual([])
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_CRASH: the stderr tail is captured every time (10 crashes at once)", () =>
    Effect.gen(function*() {
      const errors = yield* Effect.forEach(
        Array.from({ length: 10 }, () => scratch()),
        (cwd) => Effect.map(failingRun(launchIn(cwd), "FAKE_CRASH"), ({ error }) => error),
        { concurrency: 10 }
      )
      for (const error of errors) {
        expect(error._tag).toBe("CliExitedEarly")
        if (error._tag === "CliExitedEarly") expect(error.stderrTail).toContain("simulated crash")
      }
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_SLOW: closing the scope of a started connection mid-turn leaves no process", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const scope = yield* Scope.make()
      const connection = yield* claude.start(launchIn(scratch())).pipe(Scope.extend(scope))
      const firstDeltas = yield* connection.turn(text("FAKE_SLOW")).pipe(
        Stream.filter(isTextDelta),
        Stream.take(3),
        Stream.runCollect
      )
      expect(replyOf(firstDeltas)).toBe("w1 w2 w3 ")
      expect(isAlive(connection.pid)).toBe(true)
      expect(yield* connection.isRunning).toBe(true)

      yield* Scope.close(scope, Exit.void)
      yield* pidGone(connection.pid)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_SLOW: a one-shot turn stopped after three deltas (Stream.take) kills its process at once", () =>
    Effect.gen(function*() {
      const cwd = scratch()
      const started = Date.now()
      const firstDeltas = yield* runTurn(launchIn(cwd), text("FAKE_SLOW")).pipe(
        Stream.filter(isTextDelta),
        Stream.take(3),
        Stream.runCollect
      )
      expect(replyOf(firstDeltas)).toBe("w1 w2 w3 ")
      yield* noProcessIn(cwd)
      // The fake needs ~3 s for the whole slow answer; the reader stopped after ~0.4 s.
      expect(Date.now() - started).toBeLessThan(2000)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_SLOW: interrupting the fiber that runs a one-shot turn kills its process", () =>
    Effect.gen(function*() {
      const cwd = scratch()
      const fiber = yield* runTurn(launchIn(cwd), text("FAKE_SLOW")).pipe(Stream.runDrain, Effect.fork)
      yield* eventually("no process yet", () => processesIn(cwd).length > 0, 3000)
      yield* Effect.sleep("300 millis")
      const [pid] = processesIn(cwd)
      const interruptedAt = Date.now()
      yield* Fiber.interrupt(fiber)
      yield* pidGone(pid!)
      expect(Date.now() - interruptedAt).toBeLessThan(1500)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("a process that ignores SIGTERM is killed with SIGKILL about a second after its scope closes", () =>
    Effect.gen(function*() {
      const dir = scratch()
      const stubborn = NodePath.join(dir, "stubborn-claude")
      NodeFs.writeFileSync(stubborn, "#!/bin/sh\ntrap '' TERM\nexec sleep 30\n", { mode: 0o755 })
      const claude = yield* ClaudeProcess.pipe(Effect.provide(layerWith({ binary: stubborn })))
      const scope = yield* Scope.make()
      const connection = yield* claude.start(launchIn(dir)).pipe(Scope.extend(scope))
      yield* Effect.sleep("200 millis") // let the shell install its trap and exec
      expect(isAlive(connection.pid)).toBe(true)

      const started = Date.now()
      // Guarded like the FAKE_HANG case: never hang the suite, never leave the process behind.
      const closed = yield* Scope.close(scope, Exit.void).pipe(
        Effect.disconnect,
        Effect.timeout("4 seconds"),
        Effect.option
      )
      const elapsed = Date.now() - started
      const alive = isAlive(connection.pid)
      if (alive) process.kill(connection.pid, "SIGKILL")
      expect(Option.isSome(closed), `closing the scope did not finish within ${elapsed} ms`).toBe(true)
      expect(alive).toBe(false)
      expect(elapsed).toBeLessThan(2500)
    }))

  it.live("FAKE_HANG on a started connection: the idle timeout fails the turn with CliTimeout; closing the scope kills the process", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const scope = yield* Scope.make()
      const connection = yield* claude.start(launchIn(scratch())).pipe(Scope.extend(scope))
      const started = Date.now()
      const error = yield* connection.turn(text("FAKE_HANG")).pipe(Stream.runDrain, Effect.flip)
      expect(error._tag).toBe("CliTimeout")
      if (error._tag === "CliTimeout") expect(error.idleSeconds).toBe(2)
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900)
      expect(Date.now() - started).toBeLessThan(4000)

      yield* Scope.close(scope, Exit.void)
      yield* pidGone(connection.pid)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_HANG in a one-shot turn: CliTimeout after the idle timeout, and the process is gone when the failure arrives", () =>
    Effect.gen(function*() {
      const cwd = scratch()
      const started = Date.now()
      // Guarded: should `run` never end, the test kills the process it spawned (so nothing is
      // left behind) and fails with a message instead of hanging until the test timeout.
      const outcome = yield* failingRun(launchIn(cwd), "FAKE_HANG").pipe(
        Effect.disconnect,
        Effect.timeout("6 seconds"),
        Effect.option
      )
      const elapsed = Date.now() - started
      const leftover = processesIn(cwd)
      for (const pid of leftover) process.kill(pid, "SIGKILL")
      expect(
        Option.isSome(outcome),
        `run did not end ${elapsed} ms after start; process(es) ${leftover.join(",")} still running`
      ).toBe(true)
      if (Option.isNone(outcome)) return
      expect(outcome.value.error._tag).toBe("CliTimeout")
      expect(leftover).toEqual([])
      // A hung process gets no grace period: there is no result line to wait for.
      expect(elapsed).toBeLessThan(2000 + 1500)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("FAKE_UPSTREAM_429: UpstreamFailure with status 429 and retryAfterSeconds 1", () =>
    Effect.gen(function*() {
      const { error, seen } = yield* failingRun(launchIn(scratch()), "FAKE_UPSTREAM_429")
      // The api_retry line keeps its fields (it must not decode as a generic system line).
      const retries = seen.filter(isApiRetry)
      expect(retries).toHaveLength(1)
      expect(retries[0]).toMatchObject({ attempt: 1, retry_delay_ms: 1000, error_status: 429, error: "rate_limit" })
      expect(error._tag).toBe("UpstreamFailure")
      if (error._tag !== "UpstreamFailure") return
      expect(error.status).toBe(429)
      expect(error.retryAfterSeconds).toBe(1)
      expect(error.kind).toBe("rate_limit")
      expect(error.message).toContain("429")
    }).pipe(Effect.provide(FakeLayer)))

  it.scopedLive("FAKE_ECHO_ARGS: argv, cwd and environment of the child (CLAUDECODE never passed on)", () =>
    Effect.gen(function*() {
      // The parent looks like it runs inside Claude Code; the child must not inherit that.
      yield* withProcessEnv({
        CLAUDECODE: "1",
        CLAUDE_CODE_MAX_RETRIES: undefined,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: undefined
      })
      const cwd = scratch()
      const base = "-p --input-format stream-json --output-format stream-json --verbose --include-partial-messages"

      const [plain, withModel, replaced] = yield* Effect.all([
        echoArgs(launchIn(cwd)),
        echoArgs(launchIn(cwd, { model: "claude-sonnet-x", systemPrompt: "Be terse." })),
        echoArgs(launchIn(cwd, { systemPrompt: "You are a pirate.", systemPromptMode: "replace" }))
      ]).pipe(Effect.provide(layerWith()))

      expect(plain.argv.join(" ")).toContain(base)
      expect(plain.argv).not.toContain("--model")
      expect(plain.argv).not.toContain("--append-system-prompt")
      expect(plain.argv).not.toContain("--system-prompt")
      expect(plain.argv).not.toContain("--resume")
      expect(flagValue(plain.argv, "--permission-mode")).toBe("acceptEdits")
      expect(plain.cwd).toBe(cwd)
      expect(plain.env).toMatchObject({
        CLAUDECODE: null,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        CLAUDE_CODE_MAX_RETRIES: "2",
        FAKE_MARKER: "from-options"
      })

      expect(withModel.argv.join(" ")).toContain(base)
      expect(flagValue(withModel.argv, "--model")).toBe("claude-sonnet-x")
      // The system prompt reaches the CLI in the initialize request on stdin, never in argv.
      expect(withModel.initialize).toEqual({ subtype: "initialize", appendSystemPrompt: "Be terse." })
      expect(withModel.argv).not.toContain("Be terse.")
      expect(withModel.argv).not.toContain("--system-prompt")
      expect(flagValue(withModel.argv, "--permission-mode")).toBe("acceptEdits")
      expect(withModel.env.CLAUDECODE).toBeNull()

      expect(replaced.initialize).toEqual({ subtype: "initialize", systemPrompt: "You are a pirate." })
      expect(replaced.argv).not.toContain("--append-system-prompt")
    }))

  it.live("a missing binary fails with CliNotFound (startTurn, start and version)", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const cwd = scratch()
      const fromRun = yield* Stream.runDrain(runTurn(launchIn(cwd), text("hello"))).pipe(Effect.flip)
      expect(fromRun._tag).toBe("CliNotFound")
      if (fromRun._tag === "CliNotFound") {
        expect(fromRun.binary).toBe(MISSING_BINARY)
        expect(fromRun.message).toContain(MISSING_BINARY)
      }
      const fromStart = yield* Effect.scoped(claude.start(launchIn(cwd))).pipe(Effect.flip)
      expect(fromStart._tag).toBe("CliNotFound")
      const fromVersion = yield* Effect.flip(claude.version)
      expect(fromVersion._tag).toBe("CliNotFound")
    }).pipe(Effect.provide(layerWith({ binary: MISSING_BINARY }))))

  it.live("a missing working directory fails before any spawn, with a CliNotFound that names the directory", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const cwd = NodePath.join(scratch(), "gone")
      const error = yield* Effect.scoped(claude.startTurn(launchIn(cwd), text("hello"))).pipe(Effect.flip)
      expect(error._tag).toBe("CliNotFound")
      expect(error.message).toBe(`Claude Code CLI could not be started: its working directory ${cwd} is not accessible`)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("a 300 KB prompt goes over stdin and is echoed back whole", () =>
    Effect.gen(function*() {
      const prompt = `${"x".repeat(300_000)} TAIL-MARKER-7c1f`
      const events = yield* collectRun(launchIn(scratch()), prompt)
      const reply = replyOf(events)
      expect(reply).toContain("TAIL-MARKER-7c1f [turn=1]")
      expect(reply).toBe(`Echo: ${prompt} [turn=1]`)
    }).pipe(Effect.provide(FakeLayer)))

  it.scopedLive("long-lived: two turns on one connection, one process", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const connection = yield* claude.start(launchIn(scratch()))
      const first = Chunk.toReadonlyArray(yield* Stream.runCollect(connection.turn(text("first"))))
      expect(replyOf(first)).toBe("Echo: first [turn=1]")
      expect(resultOf(first).is_error).toBe(false)
      expect(yield* connection.isRunning).toBe(true)

      const second = Chunk.toReadonlyArray(yield* Stream.runCollect(connection.turn(text("second"))))
      expect(replyOf(second)).toBe("Echo: second [turn=2]")
      expect(isInit(second[0]!)).toBe(true)

      // Closing stdin lets the process exit by itself.
      yield* connection.endInput
      yield* connection.awaitExit.pipe(Effect.timeout("2 seconds"))
      expect(yield* connection.isRunning).toBe(false)
      expect(isAlive(connection.pid)).toBe(false)
    }).pipe(Effect.provide(FakeLayer)))

  it.scopedLive("startTurn: the first message is queued before the process starts; the connection then takes further turns", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const [connection, firstTurn] = yield* claude.startTurn(launchIn(scratch()), text("queued early"))
      const first = Chunk.toReadonlyArray(yield* Stream.runCollect(firstTurn))
      expect(replyOf(first)).toBe("Echo: queued early [turn=1]")
      expect(resultOf(first).is_error).toBe(false)
      const second = Chunk.toReadonlyArray(yield* Stream.runCollect(connection.turn(text("then this"))))
      expect(replyOf(second)).toBe("Echo: then this [turn=2]")
      const missing = yield* Effect.scoped(
        Effect.flatMap(ClaudeProcess, (other) => other.startTurn(launchIn(scratch()), text("x")))
      ).pipe(Effect.provide(layerWith({ binary: MISSING_BINARY })), Effect.flip)
      expect(missing._tag).toBe("CliNotFound")
    }).pipe(Effect.provide(FakeLayer)))

  it.scopedLive("interrupt during a FAKE_SLOW turn ends that turn quickly with CliTurnError; the next turn works", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      const connection = yield* claude.start(launchIn(scratch()))
      const seen: Array<CliEvent> = []
      let interruptedAt = 0
      const error = yield* connection.turn(text("FAKE_SLOW")).pipe(
        Stream.tap((event) =>
          Effect.suspend(() => {
            seen.push(event)
            if (seen.filter(isTextDelta).length === 3 && interruptedAt === 0) {
              interruptedAt = Date.now()
              return connection.interrupt
            }
            return Effect.void
          })
        ),
        Stream.runDrain,
        Effect.flip
      )
      expect(error._tag).toBe("CliTurnError")
      if (error._tag === "CliTurnError") expect(error.subtype).toBe("error_during_execution")
      expect(Date.now() - interruptedAt).toBeLessThan(1000)
      expect(seen.filter(isTextDelta).length).toBeLessThan(10)
      expect(yield* connection.isRunning).toBe(true)

      const next = Chunk.toReadonlyArray(yield* Stream.runCollect(connection.turn(text("again"))))
      expect(replyOf(next)).toBe("Echo: again [turn=2]")
      expect(resultOf(next).is_error).toBe(false)
    }).pipe(Effect.provide(FakeLayer)))

  it.live("version reports the CLI's version line", () =>
    Effect.gen(function*() {
      const claude = yield* ClaudeProcess
      expect(yield* claude.version).toBe("2.1.197 (Claude Code)")
    }).pipe(Effect.provide(FakeLayer)))
})
