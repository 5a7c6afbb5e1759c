/**
 * A CLI process's stdout read as turns (`ClaudeProcess/output`), fed by hand and timed by
 * `TestClock`: a turn ends after its `result` line, lines split across chunks are joined,
 * the idle timeout counts silence (not duration, and not the time between turns), an error
 * result becomes a typed failure after the lines before it, output that ends early is
 * `CliExitedEarly`, and a stopped turn's rest can be skipped. With the client's tools, a turn
 * also ends at the `message_stop` of an answer that stopped for them (`suspension`, checked on
 * recorded runs of the real CLI), and the rest is the next turn's.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Mailbox, Stream, TestClock } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { readOutput, suspension } from "../../src/ClaudeProcess/output.js"
import { type CliEvent, decodeCliLine } from "../../src/Domain/CliEvent.js"
import { CliExitedEarly } from "../../src/Domain/Errors.js"

const encoder = new TextEncoder()
const init = { type: "system", subtype: "init", session_id: "s", model: "claude-test" }
const delta = (text: string) => ({
  type: "stream_event",
  session_id: "s",
  event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }
})
const result = { type: "result", subtype: "success", is_error: false, session_id: "s", result: "ok" }
const exitedEarly = new CliExitedEarly({ exitCode: 3, signal: null, stderrTail: "boom" })

/** A reader over a stdout the test writes to. */
const harness = Effect.gen(function*() {
  const stdout = yield* Mailbox.make<Uint8Array>()
  const output = yield* readOutput({
    stdout: Mailbox.toStream(stdout),
    exited: Effect.succeed(exitedEarly),
    idleTimeout: "10 seconds",
    onControl: () => Effect.void
  })
  return {
    output,
    /** Prints the lines in one chunk of bytes (optionally as raw text). */
    print: (...lines: ReadonlyArray<unknown>) =>
      stdout.offer(
        encoder.encode(lines.map((line) => (typeof line === "string" ? line : JSON.stringify(line) + "\n")).join(""))
      ),
    /** The process closes its stdout. */
    close: stdout.end
  }
})

const collect = (turn: Stream.Stream<CliEvent, unknown>) => Effect.map(Stream.runCollect(turn), Chunk.toReadonlyArray)
const typesOf = (events: ReadonlyArray<CliEvent>) => events.map((event) => event.type)
const advance = (millis: number) => Effect.zipRight(TestClock.adjust(millis), Effect.yieldNow())

describe("readOutput", () => {
  it.scoped("a turn ends right after its result line; a line split across chunks is joined", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const first = yield* Effect.fork(collect(output.turn(1, null)))
      const whole = JSON.stringify(delta("hello")) + "\n"
      yield* print(init, whole.slice(0, 20))
      yield* print(whole.slice(20), result, init)
      expect(typesOf(yield* Fiber.join(first))).toEqual(["system", "stream_event", "result"])
      // What followed the result belongs to the next turn.
      yield* print(result)
      expect(typesOf(yield* collect(output.turn(2, null)))).toEqual(["system", "result"])
    }))

  it.scoped("the idle timeout counts silence: output resets it, and it fails the turn with CliTimeout", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const turn = yield* Effect.fork(Effect.either(collect(output.turn(1, null))))
      yield* print(init)
      yield* advance(9_000)
      yield* print(delta("still here"))
      yield* advance(9_999)
      expect(turn.unsafePoll()).toBeNull()
      yield* advance(1)
      const outcome = yield* Fiber.join(turn)
      expect(outcome._tag).toBe("Left")
      if (outcome._tag === "Left") expect(outcome.left).toMatchObject({ _tag: "CliTimeout", idleSeconds: 10 })
    }))

  it.scoped("a steady turn much longer than the idle timeout completes", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const turn = yield* Effect.fork(collect(output.turn(1, null)))
      yield* print(init)
      for (let second = 0; second < 60; second += 5) {
        yield* advance(5_000)
        yield* print(delta(`at ${second}`))
      }
      yield* print(result)
      expect(typesOf(yield* Fiber.join(turn))).toHaveLength(14)
    }))

  it.scoped("time between turns does not count towards the next turn's idle timeout", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const first = yield* Effect.fork(collect(output.turn(1, null)))
      yield* print(init, result)
      yield* Fiber.join(first)
      yield* advance(60_000)
      const second = yield* Effect.fork(collect(output.turn(2, null)))
      yield* advance(9_000)
      yield* print(init, result)
      expect(typesOf(yield* Fiber.join(second))).toEqual(["system", "result"])
    }))

  it.scoped("an error result fails the turn with its classified error, after the lines before it", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const seen: Array<CliEvent> = []
      const turn = yield* Effect.fork(
        output.turn(1, "claude-test").pipe(
          Stream.runForEach((event) => Effect.sync(() => seen.push(event))),
          Effect.flip
        )
      )
      yield* print(
        init,
        {
          type: "system",
          subtype: "api_retry",
          attempt: 1,
          retry_delay_ms: 2500,
          error_status: 429,
          error: "rate_limit"
        },
        {
          type: "result",
          subtype: "error_during_execution",
          is_error: true,
          api_error_status: 429,
          result: "API Error: 429"
        }
      )
      const error = yield* Fiber.join(turn)
      expect(error).toMatchObject({ _tag: "UpstreamFailure", status: 429, retryAfterSeconds: 3 })
      expect(typesOf(seen)).toEqual(["system", "system"])
    }))

  it.scoped("output that ends before the result fails the turn with how the process exited", () =>
    Effect.gen(function*() {
      const { close, output, print } = yield* harness
      const turn = yield* Effect.fork(Effect.flip(collect(output.turn(1, null))))
      yield* print(init, delta("cut sho"))
      yield* close
      expect(yield* Fiber.join(turn)).toEqual(exitedEarly)
    }))

  it.scoped("skipToResult discards the rest of a stopped turn, so the next turn starts clean", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      yield* print(init, delta("abandoned"), result, init)
      yield* output.skipToResult
      yield* print(result)
      expect(typesOf(yield* collect(output.turn(2, null)))).toEqual(["system", "result"])
    }))
})

// ---------------------------------------------------------------------------
// Suspension for the client's tools

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "cli")
const controlTypes: ReadonlyArray<string> = ["control_request", "control_cancel_request", "control_response"]

/** The CLI's stdout lines of a client-tools recording, raw (control traffic left out). */
const recordedFrames = (name: string): ReadonlyArray<Record<string, unknown> & { readonly type: string }> =>
  readFileSync(join(FIXTURES, "client-tools", `${name}.frames.jsonl`), "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { dir: string; frame: Record<string, unknown> & { readonly type: string } })
    .filter((recorded) => recorded.dir === "out" && !controlTypes.includes(recorded.frame.type))
    .map((recorded) => recorded.frame)

const decoded = (frames: ReadonlyArray<unknown>) => frames.map((frame) => decodeCliLine(JSON.stringify(frame)))

/** Where the predicate says the turn ends, over a whole run. */
const suspendedAt = (lines: ReadonlyArray<CliEvent>, tools: ReadonlyArray<string>) => {
  const suspended = suspension(new Set(tools))
  return lines.flatMap((line, index) => (suspended(line) ? [index] : []))
}

/** Indices of the top-level lines with this stream event type. */
const streamEventsAt = (lines: ReadonlyArray<CliEvent>, type: string) =>
  lines.flatMap((line, index) =>
    line.type === "stream_event" && line.parent_tool_use_id == null && line.event.type === type ? [index] : []
  )

const isStopForToolUse = (line: CliEvent | undefined) =>
  line?.type === "stream_event" && line.event.type === "message_delta" && "delta" in line.event &&
  line.event.delta.stop_reason === "tool_use"

describe("suspension", () => {
  const cases = [
    ["single", ["get_weather"]],
    ["parallel", ["get_weather", "get_time"]],
    ["error_and_large_results", ["get_weather", "get_time"]],
    ["user_while_held", ["get_weather"]],
    ["interrupt_while_held", ["get_weather"]]
  ] as const

  for (const [name, tools] of cases) {
    it(`${name}: true exactly once, at the message_stop of the answer that stopped for tool_use`, () => {
      const lines = decoded(recordedFrames(name))
      const at = suspendedAt(lines, tools)
      expect(at).toEqual([streamEventsAt(lines, "message_stop")[0]])
      expect(isStopForToolUse(lines[at[0]! - 1])).toBe(true)
      // The answer after the results (the second message_stop) does not suspend.
      expect(streamEventsAt(lines, "message_stop")).toHaveLength(2)
    })
  }

  it("single: the exact line (counted among the recording's stdout lines)", () => {
    const lines = decoded(recordedFrames("single"))
    expect(suspendedAt(lines, ["get_weather"])).toEqual([16])
    expect(lines[16]).toMatchObject({ type: "stream_event", event: { type: "message_stop" } })
    expect(lines[17]).toMatchObject({ type: "user" })
  })

  it("false throughout when the answer called only tools that are not the client's", () => {
    expect(suspendedAt(decoded(recordedFrames("single")), ["get_time"])).toEqual([])
    expect(suspendedAt(decoded(recordedFrames("parallel")), ["search"])).toEqual([])
    // Claude Code's own Bash, recorded: the answer stops for tool_use, but not for a client's tool.
    const bash = readFileSync(join(FIXTURES, "tool_use_partial.jsonl"), "utf8").split("\n")
      .filter((line) => line.length > 0).map(decodeCliLine)
    expect(streamEventsAt(bash, "message_delta").some((index) => isStopForToolUse(bash[index]))).toBe(true)
    expect(suspendedAt(bash, ["get_weather"])).toEqual([])
  })

  it("false throughout without client tools, or for a run that called none", () => {
    expect(suspendedAt(decoded(recordedFrames("single")), [])).toEqual([])
    expect(suspendedAt(decoded(recordedFrames("system_prompt_in_initialize")), ["get_weather"])).toEqual([])
  })

  it("false for a sub-agent's lines, which do not disturb the top-level answer either", () => {
    const frames = recordedFrames("single")
    const asSubAgent = frames.map((frame) =>
      frame.type === "stream_event" ? { ...frame, parent_tool_use_id: "toolu_task_1" } : frame
    )
    expect(suspendedAt(decoded(asSubAgent), ["get_weather"])).toEqual([])

    // A sub-agent's whole answer (no call of its own) inside the top-level one that calls the
    // client's tool: its message_start and end_turn stop must not reset the top-level answer's.
    const sub = (event: unknown) => ({
      type: "stream_event",
      session_id: "s",
      parent_tool_use_id: "toolu_task_1",
      event
    })
    const subAnswer = [
      sub({ type: "message_start", message: { id: "msg_sub" } }),
      sub({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
      sub({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "sub" } }),
      sub({ type: "content_block_stop", index: 0 }),
      sub({ type: "message_delta", delta: { stop_reason: "end_turn" } }),
      sub({ type: "message_stop" })
    ]
    const stop = streamEventsAt(decoded(frames), "message_stop")[0]!
    const toolStart = frames.findIndex((frame) =>
      frame.type === "stream_event" && (frame.event as { type: string }).type === "content_block_start" &&
      (frame.event as { content_block: { type: string } }).content_block.type === "tool_use"
    )
    const mixed = [...frames.slice(0, toolStart + 1), ...subAnswer, ...frames.slice(toolStart + 1, stop + 1)]
    expect(suspendedAt(decoded(mixed), ["get_weather"])).toEqual([mixed.length - 1])
  })

  it("each answer is judged on its own: a message_start forgets the previous answer's calls", () => {
    const line = (event: unknown) => ({ type: "stream_event", session_id: "s", parent_tool_use_id: null, event })
    const lines = decoded([
      line({ type: "message_start", message: { id: "m1" } }),
      line({
        type: "content_block_start",
        index: 0,
        content_block: { type: "tool_use", id: "t1", name: "get_weather", input: {} }
      }),
      line({ type: "message_delta", delta: { stop_reason: "end_turn" } }),
      line({ type: "message_stop" }),
      line({ type: "message_start", message: { id: "m2" } }),
      line({ type: "message_delta", delta: { stop_reason: "tool_use" } }),
      line({ type: "message_stop" })
    ])
    expect(suspendedAt(lines, ["get_weather"])).toEqual([])
  })
})

describe("readOutput with the client's tools", () => {
  it.scoped("recorded single: the turn ends at the suspension, the continuation is the next turn", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const frames = recordedFrames("single")
      const stop = streamEventsAt(decoded(frames), "message_stop")[0]!
      const first = yield* Effect.fork(collect(output.turn(1, null, new Set(["get_weather"]))))
      yield* print(...frames.slice(0, stop + 1))
      const suspended = yield* Fiber.join(first)
      expect(suspended).toHaveLength(stop + 1)
      expect(suspended[suspended.length - 1]).toMatchObject({ type: "stream_event", event: { type: "message_stop" } })
      yield* print(...frames.slice(stop + 1))
      const rest = yield* collect(output.turn(2, null, new Set(["get_weather"])))
      expect(rest).toHaveLength(frames.length - stop - 1)
      expect(typesOf(rest)[0]).toBe("user")
      expect(typesOf(rest)[rest.length - 1]).toBe("result")
    }))

  it.scoped("without the client's tools the same run is one turn, through its result", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const frames = recordedFrames("single")
      const turn = yield* Effect.fork(collect(output.turn(1, null)))
      yield* print(...frames)
      expect(yield* Fiber.join(turn)).toHaveLength(frames.length)
    }))

  it.scoped("recorded single in one read: the same split into the suspended turn and the rest", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const frames = recordedFrames("single")
      const stop = streamEventsAt(decoded(frames), "message_stop")[0]!
      yield* print(...frames)
      expect(yield* collect(output.turn(1, null, new Set(["get_weather"])))).toHaveLength(stop + 1)
      const rest = yield* collect(output.turn(2, null, new Set(["get_weather"])))
      expect(rest).toEqual(decoded(frames.slice(stop + 1)))
    }))

  it.scoped("recorded interrupt_while_held: after the suspension, skipToResult drops the interrupted rest", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const frames = recordedFrames("interrupt_while_held")
      const lines = decoded(frames)
      const stop = streamEventsAt(lines, "message_stop")[0]!
      const errorResult = lines.findIndex((line) => line.type === "result")
      yield* print(...frames)
      expect(yield* collect(output.turn(1, null, new Set(["get_weather"])))).toHaveLength(stop + 1)
      yield* output.skipToResult
      const next = yield* collect(output.turn(2, null, new Set(["get_weather"])))
      expect(next).toEqual(lines.slice(errorResult + 1))
      expect(typesOf(next)[0]).toBe("system")
      expect(next[next.length - 1]).toMatchObject({ type: "result", is_error: false })
    }))

  // The answer called the client's get_weather and Claude Code's own Bash: the CLI prints Bash's
  // result right after the message_stop, in the same read, while get_weather is held. (A turn
  // that ended with `Stream.takeUntil` dropped such lines.)
  it.scoped("lines that follow the suspension in the same read are the next turn's", () =>
    Effect.gen(function*() {
      const { output, print } = yield* harness
      const event = (inner: unknown) => ({
        type: "stream_event",
        session_id: "s",
        parent_tool_use_id: null,
        event: inner
      })
      const bashResult = {
        type: "user",
        session_id: "s",
        parent_tool_use_id: null,
        message: { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_bash", content: "a.txt" }] }
      }
      const first = yield* Effect.fork(collect(output.turn(1, null, new Set(["get_weather"]))))
      yield* print(
        init,
        event({ type: "message_start", message: { id: "m1" } }),
        event({
          type: "content_block_start",
          index: 0,
          content_block: { type: "tool_use", id: "toolu_bash", name: "Bash", input: {} }
        }),
        event({
          type: "content_block_start",
          index: 1,
          content_block: { type: "tool_use", id: "toolu_w", name: "get_weather", input: {} }
        }),
        event({ type: "message_delta", delta: { stop_reason: "tool_use" } }),
        event({ type: "message_stop" }),
        bashResult
      )
      expect(typesOf(yield* Fiber.join(first))).toEqual([
        "system",
        "stream_event",
        "stream_event",
        "stream_event",
        "stream_event",
        "stream_event"
      ])
      const second = yield* Effect.fork(collect(output.turn(2, null, new Set(["get_weather"]))))
      yield* print(delta("after the results"), result)
      expect(typesOf(yield* Fiber.join(second))).toEqual(["user", "stream_event", "result"])
    }))
})

describe("readOutput with an answer that came whole (the CLI's non-streaming retry)", () => {
  const cases = [
    ["nonstreaming_retry", ["toolu_fake_0002"]],
    ["nonstreaming_retry_parallel", ["toolu_fake_0003", "toolu_fake_0004"]]
  ] as const
  for (const [name, ids] of cases) {
    it.scoped(`recorded ${name}: the turn ends once every client call is dispatched, each with its call's id`, () =>
      Effect.gen(function*() {
        const stdout = yield* Mailbox.make<Uint8Array>()
        const dispatched: Array<unknown> = []
        const output = yield* readOutput({
          stdout: Mailbox.toStream(stdout),
          exited: Effect.succeed(exitedEarly),
          idleTimeout: "10 seconds",
          onControl: (frame) =>
            Effect.sync(() => {
              if (JSON.stringify(frame).includes("tools/call")) dispatched.push(frame)
            })
        })
        const frames = readFileSync(join(FIXTURES, "client-tools", `${name}.frames.jsonl`), "utf8")
          .split("\n").filter((line) => line.length > 0)
          .map((line) => (JSON.parse(line) as { frame: unknown }).frame)
        const turn = yield* Effect.fork(collect(output.turn(1, null, new Set(["get_weather", "get_time"]))))
        yield* stdout.offer(encoder.encode(frames.map((frame) => JSON.stringify(frame) + "\n").join("")))
        const events = yield* Fiber.join(turn)
        // The answer's whole lines (text, then each call) come last; no message_stop came.
        expect(events.slice(-1 - ids.length).map((event) => event.type)).toEqual(
          ids.map(() => "assistant").concat("assistant")
        )
        expect(events.some((event) => event.type === "stream_event" && event.event.type === "message_stop")).toBe(false)
        const metas = dispatched.map((frame) =>
          (frame as { request: { message: { params: { _meta: Record<string, unknown> } } } }).request.message.params
            ._meta
        )
        expect(metas.map((meta) => meta["claudecode/toolUseId"])).toEqual(ids)
      }))
  }
})
