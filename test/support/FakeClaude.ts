/**
 * A fake `ClaudeProcess` for unit tests of the session runner: no process is spawned. Each
 * started "process" is a record the test can inspect (its settings, the prompts it got,
 * whether its input was closed, whether it was killed), and each turn plays a script chosen
 * from its prompt, paced on `Clock` (so `TestClock` drives it). The scripts speak the CLI's
 * own line format, decoded with the same decoder as real output.
 */
import { Context, Deferred, type Duration, Effect, Layer, Option, Stream } from "effect"
import { ClaudeProcess, type CliConnection, type CliLaunch } from "../../src/ClaudeProcess.js"
import type { ToolOutcome } from "../../src/ClaudeProcess/bridge.js"
import { type CliEvent, decodeCliLine } from "../../src/Domain/CliEvent.js"
import { type ContentPart, textOf } from "../../src/Domain/Conversation.js"
import { type CliError, CliTurnError } from "../../src/Domain/Errors.js"

/** What one turn does. */
export interface FakeTurn {
  /** Lines printed, in order. */
  readonly lines: ReadonlyArray<CliEvent>
  /** Pause before each line (default none). */
  readonly every?: Duration.DurationInput
  /** After the lines: the turn is over (default), the CLI goes silent, or the turn fails. */
  readonly then?: "end" | "hang" | CliError
  /** The CLI does not honour an interrupt (it has to be killed). */
  readonly ignoresInterrupt?: boolean
}

/** One fake process. */
export interface FakeProcess {
  readonly pid: number
  readonly launch: CliLaunch
  /** The text of every message it was sent, in order. */
  readonly prompts: Array<string>
  /** The results of held calls it was given, in order. */
  readonly results: Array<{ readonly callId: string; readonly outcome: ToolOutcome }>
  interrupts: number
  inputEnded: boolean
  /** Still running when its scope was closed. */
  killed: boolean
  exited: boolean
}

/** Chooses a turn from what the process is sent. */
export type FakeScript = (turn: {
  readonly prompt: string
  readonly launch: CliLaunch
  readonly process: FakeProcess
  /** 1 for the process's first turn. */
  readonly turnNumber: number
  /** For a suspended turn's continuation: the results it was given. */
  readonly results?: ReadonlyArray<{ readonly callId: string; readonly outcome: ToolOutcome }>
}) => FakeTurn

const line = (value: unknown): CliEvent => decodeCliLine(JSON.stringify(value))

/** Lines in the CLI's `stream-json` format. */
export const cli = {
  init: (sessionId: string, model: string) =>
    line({ type: "system", subtype: "init", session_id: sessionId, model, cwd: "/fake", claude_code_version: "fake" }),
  messageStart: (sessionId: string, model: string) =>
    line({
      type: "stream_event",
      session_id: sessionId,
      event: { type: "message_start", message: { id: "msg_fake", model } }
    }),
  textDelta: (sessionId: string, text: string) =>
    line({
      type: "stream_event",
      session_id: sessionId,
      event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }
    }),
  result: (sessionId: string, text: string) =>
    line({
      type: "result",
      subtype: "success",
      is_error: false,
      session_id: sessionId,
      result: text,
      stop_reason: "end_turn",
      total_cost_usd: 0.001,
      duration_ms: 10,
      num_turns: 1,
      usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }
    })
}

/**
 * An answer that calls the client's tools and stops for them (no `result`: the CLI holds the
 * calls): init, the upstream's start, `text` if any, each call with its arguments in two
 * pieces, and the stop for `tool_use`.
 */
export const callingTools = (
  sessionId: string,
  model: string,
  text: string,
  calls: ReadonlyArray<{ readonly id: string; readonly name: string; readonly input: unknown }>
): ReadonlyArray<CliEvent> => {
  const event = (inner: unknown) => line({ type: "stream_event", session_id: sessionId, event: inner })
  const first = text.length > 0 ? 1 : 0
  return [
    cli.init(sessionId, model),
    cli.messageStart(sessionId, model),
    ...(text.length > 0 ? [cli.textDelta(sessionId, text)] : []),
    ...calls.flatMap((call, at) => {
      const json = JSON.stringify(call.input)
      const half = Math.floor(json.length / 2)
      return [
        event({
          type: "content_block_start",
          index: first + at,
          content_block: { type: "tool_use", id: call.id, name: call.name, input: {} }
        }),
        event({
          type: "content_block_delta",
          index: first + at,
          delta: { type: "input_json_delta", partial_json: json.slice(0, half) }
        }),
        event({
          type: "content_block_delta",
          index: first + at,
          delta: { type: "input_json_delta", partial_json: json.slice(half) }
        }),
        event({ type: "content_block_stop", index: first + at })
      ]
    }),
    event({ type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 12 } }),
    event({ type: "message_stop" })
  ]
}

/** A complete answer: init, the upstream's start, the text in pieces, the result. */
export const answer = (sessionId: string, model: string, text: string): ReadonlyArray<CliEvent> => [
  cli.init(sessionId, model),
  cli.messageStart(sessionId, model),
  ...text.split(/(?<= )/).map((piece) => cli.textDelta(sessionId, piece)),
  cli.result(sessionId, text)
]

/**
 * The default script: `Echo: <prompt> [turn=N]`. A prompt containing `HANG` goes silent after
 * its first words, one containing `SLOW` prints a line a second; the CLI session id is
 * `cli-<pid>`, or the resumed one.
 */
export const echoScript: FakeScript = ({ launch, process, prompt, turnNumber }) => {
  const sessionId = launch.resume ?? `cli-${process.pid}`
  const model = launch.model ?? "claude-fake-default"
  if (prompt.includes("HANG")) {
    return {
      lines: [cli.init(sessionId, model), cli.messageStart(sessionId, model), cli.textDelta(sessionId, "thinking")],
      then: "hang"
    }
  }
  const lines = answer(sessionId, model, `Echo: ${prompt} [turn=${turnNumber}]`)
  return prompt.includes("SLOW") ? { lines, every: "1 second" } : { lines }
}

export declare namespace FakeClaude {
  export interface Service {
    /** Every process started, oldest first. */
    readonly processes: ReadonlyArray<FakeProcess>
    /** Processes still running (not exited). */
    readonly running: () => ReadonlyArray<FakeProcess>
  }
}

/** The records of the fake's processes, next to the `ClaudeProcess` it provides. */
export class FakeClaude extends Context.Tag("test/FakeClaude")<FakeClaude, FakeClaude.Service>() {
  /**
   * A fake `ClaudeProcess` playing `script` (default `echoScript`), and its records. A process
   * takes `startDelay` (on `Clock`) to start.
   */
  static readonly layer = (
    script: FakeScript = echoScript,
    options: { readonly startDelay?: Duration.DurationInput } = {}
  ): Layer.Layer<ClaudeProcess | FakeClaude> =>
    Layer.effectContext(Effect.sync(() => {
      const processes: Array<FakeProcess> = []
      const start = (launch: CliLaunch) =>
        Effect.gen(function*() {
          if (options.startDelay !== undefined) yield* Effect.sleep(options.startDelay)
          const process: FakeProcess = {
            pid: 1000 + processes.length,
            launch,
            prompts: [],
            results: [],
            interrupts: 0,
            inputEnded: false,
            killed: false,
            exited: false
          }
          processes.push(process)
          const gone = yield* Deferred.make<void>()
          const exit = Effect.suspend(() => {
            process.exited = true
            return Deferred.succeed(gone, undefined)
          })
          yield* Effect.addFinalizer(() =>
            Effect.suspend(() => {
              if (!process.exited) process.killed = true
              return exit
            })
          )
          let current: { readonly stop: Deferred.Deferred<void>; readonly ignoresInterrupt: boolean } | null = null
          const play = (
            content: ReadonlyArray<ContentPart>,
            results?: ReadonlyArray<{ readonly callId: string; readonly outcome: ToolOutcome }>
          ): Stream.Stream<CliEvent, CliError> =>
            Stream.unwrap(Effect.gen(function*() {
              const prompt = textOf(content)
              process.prompts.push(prompt)
              for (const result of results ?? []) process.results.push(result)
              const planned = script({
                prompt,
                launch,
                process,
                turnNumber: process.prompts.length,
                ...(results !== undefined ? { results } : {})
              })
              const stop = yield* Deferred.make<void>()
              current = { stop, ignoresInterrupt: planned.ignoresInterrupt === true }
              const every = planned.every === undefined ? Option.none() : Option.some(planned.every)
              const printed = Stream.fromIterable(planned.lines).pipe(
                Stream.mapEffect((event) =>
                  Option.match(every, {
                    onNone: () => Effect.succeed(event),
                    onSome: (pause) => Effect.as(Effect.sleep(pause), event)
                  })
                )
              )
              const after = planned.then === undefined || planned.then === "end"
                ? Stream.empty
                : planned.then === "hang"
                ? Stream.never
                : Stream.fail(planned.then)
              const interrupted = Stream.fromEffect(Deferred.await(stop)).pipe(
                Stream.flatMap(() =>
                  Stream.fail(new CliTurnError({ subtype: "error_during_execution", message: "interrupted" }))
                )
              )
              return Stream.concat(printed, after).pipe(Stream.merge(interrupted, { haltStrategy: "either" }))
            }))
          const interrupt = Effect.suspend(() => {
            process.interrupts++
            return current === null || current.ignoresInterrupt
              ? Effect.void
              : Deferred.succeed(current.stop, undefined)
          }).pipe(Effect.asVoid)
          const turn = (content: ReadonlyArray<ContentPart>) => play(content)
          const connection: CliConnection = {
            pid: process.pid,
            turn,
            resume: (results, message) => play(message ?? [], results),
            interrupt,
            cancelTurn: (within) =>
              Effect.zipRight(
                interrupt,
                current?.ignoresInterrupt === true ? Effect.as(Effect.sleep(within), false) : Effect.succeed(true)
              ),
            endInput: Effect.suspend(() => {
              process.inputEnded = true
              return exit
            }),
            isRunning: Effect.sync(() => !process.exited),
            awaitExit: Deferred.await(gone)
          }
          return { connection, turn }
        })
      const service = ClaudeProcess.of({
        start: (launch) => Effect.map(start(launch), ({ connection }) => connection),
        startTurn: (launch, content) =>
          Effect.map(start(launch), ({ connection, turn }) => [connection, turn(content)] as const),
        version: Effect.succeed("0.0.0 (fake)")
      })
      return Context.make(ClaudeProcess, service).pipe(
        Context.add(FakeClaude, { processes, running: () => processes.filter((process) => !process.exited) })
      )
    }))
}
