/**
 * A CLI process's stdout read as turns (`ClaudeProcess/output`), fed by hand and timed by
 * `TestClock`: a turn ends after its `result` line, lines split across chunks are joined,
 * the idle timeout counts silence (not duration, and not the time between turns), an error
 * result becomes a typed failure after the lines before it, output that ends early is
 * `CliExitedEarly`, and a stopped turn's rest can be skipped.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Mailbox, Stream, TestClock } from "effect"
import { readOutput } from "../../src/ClaudeProcess/output.js"
import type { CliEvent } from "../../src/Domain/CliEvent.js"
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
