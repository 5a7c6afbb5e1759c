/**
 * ClaudeProcess: the `claude` CLI as a child process whose stdout is a `Stream` of typed
 * `CliEvent`s. It owns argv, environment, cwd and stdin, turns the CLI's error results
 * into typed errors, and guarantees that closing the scope (or interrupting a stream)
 * leaves no process behind. It never touches the database.
 */
import { Command, CommandExecutor, FileSystem } from "@effect/platform"
import { NodeCommandExecutor } from "@effect/platform-node"
import { type PlatformError, SystemError, type SystemErrorReason } from "@effect/platform/Error"
import {
  Chunk,
  Context,
  Deferred,
  Duration,
  Effect,
  Fiber,
  Layer,
  Mailbox,
  Option,
  Ref,
  type Scope,
  Stream
} from "effect"
import * as NodeFs from "node:fs"
import { AppConfig } from "./AppConfig.js"
import { cliArgs, cliEnv, type CliLaunch, interruptLine, userMessageLine } from "./ClaudeProcess/invocation.js"
import { LineSplitter } from "./ClaudeProcess/lines.js"
import { classifyErrorResult, type FailureClues } from "./ClaudeProcess/outcome.js"
import { type CliEvent, decodeCliLine, isApiRetry, isInit } from "./Domain/CliEvent.js"
import type { ContentPart } from "./Domain/Conversation.js"
import { type CliError, CliExitedEarly, CliNotFound, CliTimeout } from "./Domain/Errors.js"
import { withDeadline } from "./Internal/deadline.js"

export type { CliLaunch } from "./ClaudeProcess/invocation.js"

/** One running CLI process, fed one user message at a time. */
export interface CliConnection {
  readonly pid: number
  /**
   * Sends one user message and streams that turn's events, ending right after its
   * `result` line. An error result fails the stream with `ModelRejected`,
   * `UpstreamFailure` or `CliTurnError`; a process that dies first fails it with
   * `CliExitedEarly`; silence longer than the idle timeout fails it with `CliTimeout`.
   * Run one turn at a time: the CLI merges messages written during a turn. Keep stdin
   * open until the `result` line is read: a CLI whose stdin closes exits without flushing
   * output still queued behind a full pipe.
   */
  readonly turn: (content: ReadonlyArray<ContentPart>) => Stream.Stream<CliEvent, CliError>
  /** Asks the CLI to stop the running turn (the process survives and ends the turn with an error result). */
  readonly interrupt: Effect.Effect<void>
  /**
   * Stops a turn whose stream was abandoned: sends the interrupt and reads the turn's
   * remaining lines through its `result`, so the next turn starts clean. False when the
   * turn did not end within `within` (the process should then be closed).
   */
  readonly cancelTurn: (within: Duration.DurationInput) => Effect.Effect<boolean>
  /** Closes stdin: the process finishes the running turn and exits. */
  readonly endInput: Effect.Effect<void>
  /** Whether the process is still running. */
  readonly isRunning: Effect.Effect<boolean>
  /** Waits until the process has exited. */
  readonly awaitExit: Effect.Effect<void>
}

export declare namespace ClaudeProcess {
  export interface Service {
    /**
     * Starts a CLI process that lives until the scope closes. Closing the scope sends
     * SIGTERM to the process group and SIGKILL after a second if it is still alive.
     */
    readonly start: (launch: CliLaunch) => Effect.Effect<CliConnection, CliNotFound, Scope.Scope>
    /**
     * Starts a process for a turn, as `start` then `turn` would, except that the message is
     * queued before the process exists: the CLI waits for its first message before it
     * begins its work, so every millisecond until it arrives delays the answer. Returns the
     * connection (for later turns) and this turn's events.
     */
    readonly startTurn: (
      launch: CliLaunch,
      content: ReadonlyArray<ContentPart>
    ) => Effect.Effect<readonly [CliConnection, Stream.Stream<CliEvent, CliError>], CliNotFound, Scope.Scope>
    /**
     * Runs one turn in a fresh process: message in, events out, then stdin closed. Interrupting
     * the stream kills the process. After the `result` line the process is given a moment
     * to exit on its own (so its transcript is complete) before it is killed.
     */
    readonly run: (launch: CliLaunch, content: ReadonlyArray<ContentPart>) => Stream.Stream<CliEvent, CliError>
    /** `claude --version`, e.g. `2.1.197 (Claude Code)`. */
    readonly version: Effect.Effect<string, CliNotFound | CliExitedEarly>
  }
}

export interface ClaudeProcessOptions {
  readonly binary: string
  readonly maxRetries: number
  readonly idleTimeout: Duration.DurationInput
  /** Extra environment for the child (tests point it at a fake upstream this way). */
  readonly env?: Readonly<Record<string, string>>
}

const encoder = new TextEncoder()
const stderrTailLength = 2000
const graceAfterResult = Duration.seconds(3)
const killGrace = Duration.seconds(1)
const stderrDrain = Duration.millis(500)

export const makeClaudeProcess = (options: ClaudeProcessOptions) =>
  Effect.gen(function*() {
    const executor = yield* CommandExecutor.CommandExecutor
    const idleSeconds = Duration.toSeconds(options.idleTimeout)
    const idleMillis = Duration.toMillis(options.idleTimeout)
    const env = cliEnv({ ...process.env, ...options.env }, { maxRetries: options.maxRetries })

    const notFound = (error: PlatformError) =>
      new CliNotFound({
        binary: options.binary,
        message: error._tag === "SystemError" && error.method === "access"
          ? `Claude Code CLI could not be started: its working directory ${
            String(error.pathOrDescriptor)
          } is not accessible`
          : error._tag === "SystemError" && error.reason === "NotFound"
          ? `Claude Code CLI not found: ${options.binary}`
          : `Claude Code CLI could not be started: ${error.message}`
      })

    /** A process, and the events of its first turn when its message was queued (else none). */
    const open = Effect.fn("ClaudeProcess.start")(
      function*(launch: CliLaunch, first: ReadonlyArray<ContentPart> | null) {
        const stdin = yield* Mailbox.make<Uint8Array>()
        const firstWritten = yield* Deferred.make<void>()
        if (first !== null) stdin.unsafeOffer(encoder.encode(userMessageLine(first)))
        const command = Command.make(options.binary, ...cliArgs(launch)).pipe(
          Command.workingDirectory(launch.cwd),
          Command.env(env, { extendEnv: false }),
          // Done at the first write, or when the pump ends without one (the process died at once).
          Command.stdin(
            Mailbox.toStream(stdin).pipe(
              Stream.tap(() => Deferred.succeed(firstWritten, undefined)),
              Stream.ensuring(Deferred.succeed(firstWritten, undefined))
            )
          )
        )
        const proc = yield* Command.start(command).pipe(
          Effect.provideService(CommandExecutor.CommandExecutor, executor),
          Effect.mapError(notFound)
        )
        // The executor's stdin pump (forked as the process started) writes the queued message as
        // soon as it runs: let it run first, so the work that follows the start does not delay it.
        if (first !== null) yield* Deferred.await(firstWritten)
        // Runs before the executor's own finalizer (which waits for exit after SIGTERM forever);
        // `withDeadline` keeps the wait bounded even inside a finalizer.
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            yield* stdin.end
            if (!(yield* proc.isRunning)) return
            const stopped = yield* withDeadline(proc.kill("SIGTERM"), killGrace)
            if (Option.isNone(stopped)) yield* proc.kill("SIGKILL").pipe(Effect.ignore)
          }).pipe(Effect.ignore)
        )

        const stderrTail = yield* Ref.make("")
        const stderrReader = yield* proc.stderr.pipe(
          Stream.decodeText(),
          Stream.runForEach((chunk) => Ref.update(stderrTail, (tail) => (tail + chunk).slice(-stderrTailLength))),
          Effect.ignore,
          Effect.forkScoped
        )

        // stdout is read by one fiber for the life of the process: each chunk of bytes becomes
        // the lines it completes, decoded and offered at once. Turns take from this mailbox.
        const events = yield* Mailbox.make<CliEvent | IdleSignal, CliExitedEarly>()
        const lines = new LineSplitter()
        let lastOutputAt = Date.now()
        const offerLines = (found: ReadonlyArray<string>) =>
          found.length === 0 ? Effect.void : events.offerAll(found.map(decodeCliLine))
        yield* proc.stdout.pipe(
          Stream.runForEachChunk((chunk) =>
            Effect.suspend(() => {
              lastOutputAt = Date.now()
              const found: Array<string> = []
              for (const bytes of chunk) {
                for (const line of lines.push(bytes)) found.push(line)
              }
              return offerLines(found)
            })
          ),
          Effect.ignore,
          Effect.zipRight(Effect.suspend(() => offerLines(lines.end()))),
          Effect.zipRight(
            Effect.gen(function*() {
              const exit = yield* proc.exitCode.pipe(Effect.either)
              // stderr may still be draining when stdout closes.
              yield* Fiber.await(stderrReader).pipe(Effect.timeout(stderrDrain), Effect.ignore)
              const tail = (yield* Ref.get(stderrTail)).trim()
              yield* events.fail(
                exit._tag === "Right"
                  ? new CliExitedEarly({ exitCode: exit.right, signal: null, stderrTail: tail })
                  : new CliExitedEarly({ exitCode: null, signal: signalOf(exit.left.message), stderrTail: tail })
              )
            })
          ),
          Effect.forkScoped
        )

        /**
         * The idle timeout of turn number `turnNumber`: once the CLI has been silent for
         * `idleTimeout` (since the turn began or its last output), a signal joins the lines.
         * One sleeping fiber per turn rather than a timer per read.
         */
        const idleWatch = (turnNumber: number) =>
          Effect.gen(function*() {
            const since = Date.now()
            for (;;) {
              const quietFor = Date.now() - Math.max(lastOutputAt, since)
              if (quietFor >= idleMillis) return yield* events.offer(new IdleSignal(turnNumber))
              yield* Effect.sleep(Duration.millis(idleMillis - quietFor))
            }
          })

        /**
         * Everything the CLI has printed so far, at once: a burst of lines becomes one chunk
         * (and one append to the log downstream), not one round trip per line. When this
         * turn's idle signal is among them, the lines before it are still delivered and the
         * next read fails with `CliTimeout`.
         */
        const idleTimedOut = Effect.fail(Option.some<CliError>(new CliTimeout({ idleSeconds })))
        const reader = (turnNumber: number): Effect.Effect<Chunk.Chunk<CliEvent>, Option.Option<CliError>> => {
          let timedOut = false
          return Effect.suspend(() =>
            timedOut
              ? idleTimedOut
              : events.takeAll.pipe(
                Effect.mapError(Option.some),
                Effect.flatMap(([taken, done]) => {
                  const lines: Array<CliEvent> = []
                  for (const item of taken) {
                    if (!(item instanceof IdleSignal)) lines.push(item)
                    else if (item.turnNumber === turnNumber) {
                      timedOut = true
                      break
                    }
                  }
                  if (lines.length > 0) return Effect.succeed(Chunk.unsafeFromArray(lines))
                  if (timedOut) return idleTimedOut
                  return done ? Effect.fail(Option.none()) : Effect.succeed(Chunk.empty())
                })
              )
          )
        }

        let turns = 0
        /** The events of a turn whose message has been written. */
        const turnEvents = (turnNumber: number): Stream.Stream<CliEvent, CliError> =>
          Stream.unwrapScoped(Effect.gen(function*() {
            let clues: FailureClues = { syntheticError: null, lastRetry: null }
            let model = launch.model
            // An error result ends the turn with a typed failure, after every line before it.
            let failure: CliError | null = null
            yield* Effect.forkScoped(idleWatch(turnNumber))
            return Stream.repeatEffectChunkOption(reader(turnNumber)).pipe(
              Stream.takeUntil((event) => event.type === "result"),
              Stream.mapChunks((lines) =>
                Chunk.filter(lines, (event) => {
                  if (isInit(event)) model = launch.model ?? event.model
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
        const turn = (content: ReadonlyArray<ContentPart>): Stream.Stream<CliEvent, CliError> =>
          Stream.unwrap(
            Effect.map(stdin.offer(encoder.encode(userMessageLine(content))), () => turnEvents(++turns))
          )
        const firstTurn = first === null ? Stream.empty : turnEvents(++turns)

        let controlRequests = 0
        const interrupt = Effect.suspend(() =>
          stdin.offer(encoder.encode(interruptLine(`gateway-interrupt-${++controlRequests}`)))
        ).pipe(Effect.asVoid)
        const drainToResult: Effect.Effect<void, unknown> = events.take.pipe(
          Effect.flatMap((
            event
          ) => (!(event instanceof IdleSignal) && event.type === "result" ? Effect.void : drainToResult))
        )
        const cancelTurn = (within: Duration.DurationInput) =>
          withDeadline(Effect.zipRight(interrupt, drainToResult), within).pipe(Effect.map(Option.isSome))
        const connection: CliConnection = {
          pid: proc.pid,
          turn,
          interrupt,
          cancelTurn,
          endInput: Effect.asVoid(stdin.end),
          isRunning: proc.isRunning.pipe(Effect.orElseSucceed(() => false)),
          awaitExit: Effect.ignore(proc.exitCode)
        }
        return [connection, firstTurn] as const
      }
    )

    const start = (launch: CliLaunch) => Effect.map(open(launch, null), ([connection]) => connection)
    const startTurn = (launch: CliLaunch, content: ReadonlyArray<ContentPart>) => open(launch, content)

    const run = (launch: CliLaunch, content: ReadonlyArray<ContentPart>): Stream.Stream<CliEvent, CliError> =>
      Stream.unwrapScoped(
        Effect.gen(function*() {
          const [connection, events] = yield* startTurn(launch, content)
          // A process that answered (a `result` line, success or error) is given a moment to exit
          // by itself, so its transcript is complete; any other ending kills it at once.
          let answered = false
          yield* Effect.addFinalizer(() =>
            answered ? Effect.asVoid(withDeadline(connection.awaitExit, graceAfterResult)) : Effect.void
          )
          return events.pipe(
            // Only now may stdin close: the process then exits by itself.
            Stream.ensuring(connection.endInput),
            Stream.tap((event) => Effect.sync(() => (answered ||= event.type === "result"))),
            Stream.tapError((error) =>
              Effect.sync(() => {
                answered ||= error._tag === "ModelRejected" || error._tag === "UpstreamFailure" ||
                  error._tag === "CliTurnError"
              })
            )
          )
        })
      )

    const version = Command.make(options.binary, "--version").pipe(
      Command.env(env, { extendEnv: false }),
      Command.string,
      Effect.provideService(CommandExecutor.CommandExecutor, executor),
      Effect.timeoutFail({
        duration: Duration.seconds(15),
        onTimeout: () => new CliExitedEarly({ exitCode: null, signal: null, stderrTail: "--version timed out" })
      }),
      Effect.map((output) => output.trim()),
      Effect.mapError((error) => (error._tag === "CliExitedEarly" ? error : notFound(error)))
    )

    return { start, startTurn, run, version } satisfies ClaudeProcess.Service
  })

/** Joins a process's lines when its turn has been waiting for output longer than the idle timeout. */
class IdleSignal {
  constructor(readonly turnNumber: number) {}
}

const signalOf = (message: string): string | null => /signal: (\w+)/.exec(message)?.[1] ?? null

/** The platform's reason for a failed `access`, from its errno code. */
const accessFailureReason = (cause: unknown): SystemErrorReason => {
  const code = (cause as { readonly code?: unknown } | null)?.code
  return code === "ENOENT" || code === "ENOTDIR"
    ? "NotFound"
    : code === "EACCES" || code === "EPERM"
    ? "PermissionDenied"
    : "Unknown"
}

/** `FileSystem.access` done at once, on the calling thread. */
const accessNow = (path: string, options?: FileSystem.AccessFileOptions): Effect.Effect<void, PlatformError> =>
  Effect.try({
    try: () =>
      NodeFs.accessSync(
        path,
        NodeFs.constants.F_OK | (options?.readable ? NodeFs.constants.R_OK : 0) |
          (options?.writable ? NodeFs.constants.W_OK : 0)
      ),
    catch: (cause) =>
      new SystemError({
        reason: accessFailureReason(cause),
        module: "FileSystem",
        method: "access",
        pathOrDescriptor: path,
        cause
      })
  })

/**
 * The platform's Node command executor, over the ambient file system except for one thing: its
 * check of the working directory before each spawn is synchronous. Asynchronous, that check is a
 * round trip through libuv's thread pool, a millisecond or two on a busy machine, before the CLI
 * can even start. `fresh`, because layers are shared by reference: `NodeContext.layer` builds the
 * same executor layer over the plain file system, and that instance would be reused here.
 */
const cliExecutor: Layer.Layer<CommandExecutor.CommandExecutor, never, FileSystem.FileSystem> = Layer
  .fresh(NodeCommandExecutor.layer)
  .pipe(
    Layer.provide(
      Layer.effect(FileSystem.FileSystem, Effect.map(FileSystem.FileSystem, (fs) => ({ ...fs, access: accessNow })))
    )
  )

export class ClaudeProcess extends Context.Tag("claude-code-api/ClaudeProcess")<
  ClaudeProcess,
  ClaudeProcess.Service
>() {
  /** Configured from `AppConfig` (binary, retry budget, idle timeout); spawns with `cliExecutor`. */
  static readonly layer = Layer.effect(
    ClaudeProcess,
    Effect.gen(function*() {
      const config = yield* AppConfig
      return yield* makeClaudeProcess({
        binary: config.claudeBinary,
        maxRetries: config.cliMaxRetries,
        idleTimeout: Duration.seconds(config.cliIdleTimeoutSeconds),
        env: config.cliEnv
      })
    })
  ).pipe(Layer.provide(cliExecutor))

  /** Explicit options, e.g. a fake CLI in tests or an extra environment. */
  static readonly layerWith = (options: ClaudeProcessOptions) =>
    Layer.effect(ClaudeProcess, makeClaudeProcess(options)).pipe(Layer.provide(cliExecutor))
}
