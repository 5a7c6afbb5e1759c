/**
 * A CLI process's stdout as turns. One fiber reads it for the life of the process, splits
 * it into lines, decodes them and queues them (control requests the CLI makes of its host go
 * to `onControl` at once instead); a turn takes the queued lines through its `result` line,
 * or through the end of a model's answer that called the client's tools (the CLI then waits
 * for their results: the turn is suspended, and its rest is the next turn's to read). An
 * error result fails the turn with a typed error (after every line before it), a process
 * that ends first fails it with `CliExitedEarly`, and silence longer than the idle timeout
 * (since the turn began or the CLI last printed) fails it with `CliTimeout`. Time is read
 * from `Clock`.
 *
 * A streamed answer that calls the client's tools is suspended at its `message_stop`. An
 * answer that came whole (the CLI's non-streaming retry after a broken stream) has no such
 * line: it is suspended once the CLI has asked the gateway for every client call it made
 * (their `tools/call` requests are marked in the queue, in order with the lines).
 */
import type { PlatformError } from "@effect/platform/Error"
import { type Cause, Chunk, Duration, Effect, Mailbox, Option, type Scope, Stream } from "effect"
import {
  type CliControlCancel,
  type CliControlRequest,
  type CliEvent,
  decodeCliLine,
  isApiRetry,
  isControlFrame,
  isInit
} from "../Domain/CliEvent.js"
import { type CliError, type CliExitedEarly, CliTimeout } from "../Domain/Errors.js"
import { CallLedger } from "./dispatch.js"
import { LineSplitter } from "./lines.js"
import { classifyErrorResult, type FailureClues } from "./outcome.js"

export interface CliOutput {
  /**
   * The events of turn number `turnNumber` (numbered from 1, its message already written),
   * ending right after its `result` line, or after the `message_stop` of an answer that
   * called one of `clientTools`. `model` is the one the process was started with.
   */
  readonly turn: (
    turnNumber: number,
    model: string | null,
    clientTools?: ReadonlySet<string>
  ) => Stream.Stream<CliEvent, CliError>
  /** Discards lines through the next `result` line: the rest of a turn that was stopped. Fails when output ends first. */
  readonly skipToResult: Effect.Effect<void, CliExitedEarly | Cause.NoSuchElementException>
}

/** The CLI asked the gateway to run the call `toolUseId` (a `tools/call` control request). */
export class CallDispatched {
  constructor(readonly toolUseId: string) {}
}

/**
 * Whether a line (or dispatch) ends a turn that the model suspended for the client's tools:
 * the `message_stop` of a streamed answer that stopped for `tool_use` having called one of
 * them, or, for an answer that came whole, the dispatch of the last of its client calls.
 */
export const suspension = (clientTools: ReadonlySet<string>) => {
  let calledClientTool = false
  let stoppedForTools = false
  /** Client calls of a whole answer that the CLI has not dispatched yet. */
  const undispatched = new Set<string>()
  return (event: CliEvent | CallDispatched): boolean => {
    if (clientTools.size === 0) return false
    if (event instanceof CallDispatched) return undispatched.delete(event.toolUseId) && undispatched.size === 0
    if (event.type === "assistant" && event.parent_tool_use_id == null && event.message.stop_reason === "tool_use") {
      // Streamed answers print their blocks with no stop reason: this one came whole.
      for (const block of event.message.content) {
        if (block.type === "tool_use" && "name" in block && clientTools.has(block.name)) undispatched.add(block.id)
      }
      return false
    }
    if (event.type !== "stream_event" || event.parent_tool_use_id != null) return false
    const inner = event.event
    switch (inner.type) {
      case "message_start":
        calledClientTool = false
        stoppedForTools = false
        return false
      case "content_block_start":
        if ("content_block" in inner && inner.content_block.type === "tool_use" && "name" in inner.content_block) {
          calledClientTool ||= clientTools.has(inner.content_block.name)
        }
        return false
      case "message_delta":
        stoppedForTools = "delta" in inner && inner.delta.stop_reason === "tool_use"
        return false
      case "message_stop":
        return calledClientTool && stoppedForTools
      default:
        return false
    }
  }
}

/** Joins the queued lines when its turn has waited for output longer than the idle timeout. */
class IdleSignal {
  constructor(readonly turnNumber: number) {}
}

type Queued = CliEvent | IdleSignal | CallDispatched

const isLine = (item: Queued): item is CliEvent => !(item instanceof IdleSignal) && !(item instanceof CallDispatched)

/**
 * Starts reading `stdout` in a fiber of the current scope. `exited` tells how the process
 * ended; it is asked once stdout has closed.
 */
export const readOutput = (options: {
  readonly stdout: Stream.Stream<Uint8Array, PlatformError>
  readonly exited: Effect.Effect<CliExitedEarly>
  readonly idleTimeout: Duration.DurationInput
  /** Handles a control request (or its withdrawal) the CLI wrote. */
  readonly onControl: (frame: CliControlRequest | CliControlCancel) => Effect.Effect<void>
}): Effect.Effect<CliOutput, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const idleMillis = Duration.toMillis(options.idleTimeout)
    const idleTimedOut = Effect.failSync(() =>
      Option.some<CliError>(new CliTimeout({ idleSeconds: idleMillis / 1000 }))
    )
    const queued = yield* Mailbox.make<Queued, CliExitedEarly>()
    const lines = new LineSplitter()
    const calls = new CallLedger()
    let lastOutputAt = clock.unsafeCurrentTimeMillis()

    const offerLines = (found: ReadonlyArray<string>) => {
      if (found.length === 0) return Effect.void
      const items: Array<Queued> = []
      const controls: Array<CliControlRequest | CliControlCancel> = []
      for (const text of found) {
        const event = decodeCliLine(text)
        if (isControlFrame(event)) {
          const { frame, toolUseId } = calls.resolve(event)
          controls.push(frame)
          if (toolUseId !== null) items.push(new CallDispatched(toolUseId))
        } else if (event.type !== "control_response") {
          calls.observe(event)
          // Answers to the gateway's own control requests (initialize, interrupt) are not turn lines.
          items.push(event)
        }
      }
      return Effect.zipRight(
        Effect.forEach(controls, options.onControl, { discard: true }),
        items.length === 0 ? Effect.void : queued.offerAll(items)
      )
    }
    yield* options.stdout.pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.suspend(() => {
          lastOutputAt = clock.unsafeCurrentTimeMillis()
          const found: Array<string> = []
          for (const bytes of chunk) {
            for (const line of lines.push(bytes)) found.push(line)
          }
          return offerLines(found)
        })
      ),
      Effect.ignore,
      Effect.zipRight(Effect.suspend(() => offerLines(lines.end()))),
      Effect.zipRight(Effect.flatMap(options.exited, (exit) => queued.fail(exit))),
      // Interruptible even when the process is started from an uninterruptible region, so that
      // closing the scope can stop it.
      Effect.interruptible,
      Effect.forkScoped
    )

    /** One sleeping fiber per turn (not a timer per read) that signals when the CLI has been quiet too long. */
    const idleWatch = (turnNumber: number) =>
      Effect.gen(function*() {
        const since = clock.unsafeCurrentTimeMillis()
        for (;;) {
          const quietFor = clock.unsafeCurrentTimeMillis() - Math.max(lastOutputAt, since)
          if (quietFor >= idleMillis) return yield* queued.offer(new IdleSignal(turnNumber))
          yield* Effect.sleep(Duration.millis(idleMillis - quietFor))
        }
      })

    /** What a turn took from the queue past its last line: the next turn's to read. */
    let leftover: Array<Queued> = []
    type Taken = readonly [Iterable<Queued>, boolean]
    const takeQueued = Effect.suspend((): Effect.Effect<Taken, CliExitedEarly> => {
      if (leftover.length === 0) return queued.takeAll
      const taken = leftover
      leftover = []
      return Effect.succeed([taken, false] as const)
    })

    /**
     * Everything queued so far, at once, through the line that `endsTurn`: a burst of lines
     * becomes one chunk (and one append to the log downstream), and the read after the last
     * line ends the turn. When this turn's idle signal is among them, the lines before it are
     * still delivered and the next read fails with `CliTimeout`.
     */
    const reader = (
      turnNumber: number,
      endsTurn: (item: CliEvent | CallDispatched) => boolean
    ): Effect.Effect<Chunk.Chunk<CliEvent>, Option.Option<CliError>> => {
      let timedOut = false
      let ended = false
      return Effect.suspend(() =>
        ended ? Effect.fail(Option.none()) : timedOut ? idleTimedOut : takeQueued.pipe(
          Effect.mapError(Option.some),
          Effect.flatMap(([taken, done]) => {
            const items = Array.from(taken)
            const found: Array<CliEvent> = []
            for (let index = 0; index < items.length; index++) {
              const item = items[index]!
              if (item instanceof IdleSignal) {
                if (item.turnNumber !== turnNumber) continue
                timedOut = true
                break
              }
              if (isLine(item)) found.push(item)
              if (endsTurn(item)) {
                leftover = items.slice(index + 1)
                ended = true
                break
              }
            }
            if (found.length > 0) return Effect.succeed(Chunk.unsafeFromArray(found))
            if (timedOut) return idleTimedOut
            return done ? Effect.fail(Option.none()) : Effect.succeed(Chunk.empty())
          })
        )
      )
    }

    const turn = (
      turnNumber: number,
      startModel: string | null,
      clientTools: ReadonlySet<string> = new Set()
    ): Stream.Stream<CliEvent, CliError> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        let clues: FailureClues = { syntheticError: null, lastRetry: null }
        let model = startModel
        // An error result ends the turn with a typed failure, after every line before it.
        let failure: CliError | null = null
        const suspended = suspension(clientTools)
        yield* Effect.forkScoped(Effect.interruptible(idleWatch(turnNumber)))
        const endsTurn = (item: CliEvent | CallDispatched) =>
          (isLine(item) && item.type === "result") || suspended(item)
        return Stream.repeatEffectChunkOption(reader(turnNumber, endsTurn)).pipe(
          Stream.mapChunks((found) =>
            Chunk.filter(found, (event) => {
              if (isInit(event)) model = startModel ?? event.model
              else if (isApiRetry(event)) clues = { ...clues, lastRetry: event }
              else if (event.type === "assistant" && event.error !== undefined) {
                clues = { ...clues, syntheticError: event.error }
              } else if (event.type === "result" && event.is_error) {
                failure = classifyErrorResult(event, clues, model)
                return false
              }
              return true
            })
          ),
          Stream.concat(Stream.suspend(() => (failure === null ? Stream.empty : Stream.fail(failure))))
        )
      }))

    const skipToResult: CliOutput["skipToResult"] = Effect.suspend(() => {
      const index = leftover.findIndex((item) => isLine(item) && item.type === "result")
      if (index !== -1) {
        leftover = leftover.slice(index + 1)
        return Effect.void
      }
      leftover = []
      return queued.take.pipe(
        Effect.flatMap((item) => (isLine(item) && item.type === "result" ? Effect.void : skipToResult))
      )
    })

    return { turn, skipToResult }
  })
