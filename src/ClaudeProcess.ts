/**
 * ClaudeProcess: the `claude` CLI as a long-lived child process fed one user message per
 * turn, whose stdout is a `Stream` of typed `CliEvent`s per turn (`ClaudeProcess/output`).
 * It owns argv, environment, cwd and stdin, and guarantees that closing the scope leaves
 * no process behind. It never touches the database.
 */
import { Command, CommandExecutor, FileSystem } from "@effect/platform"
import { NodeCommandExecutor } from "@effect/platform-node"
import { type PlatformError, SystemError, type SystemErrorReason } from "@effect/platform/Error"
import { Context, Deferred, Duration, Effect, Fiber, Layer, Mailbox, Option, Ref, type Scope, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import { AppConfig } from "./AppConfig.js"
import { ToolBridge, type ToolOutcome } from "./ClaudeProcess/bridge.js"
import {
  cliArgs,
  cliEnv,
  type CliLaunch,
  initializeLine,
  interruptLine,
  launchEnv,
  userMessageLine
} from "./ClaudeProcess/invocation.js"
import { readOutput } from "./ClaudeProcess/output.js"
import { lowerPriority } from "./ClaudeProcess/priority.js"
import { type CliSandbox, sandboxArgs, sandboxEnv } from "./ClaudeProcess/sandbox.js"
import type { CliEvent } from "./Domain/CliEvent.js"
import type { ContentPart } from "./Domain/Conversation.js"
import { type CliError, CliExitedEarly, CliNotFound } from "./Domain/Errors.js"
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
  /**
   * Continues a turn suspended on calls of the client's tools: `message` (if any) first, which
   * the CLI hands the model after the results, then each call's result. Streams the rest of
   * the turn as `turn` does: through its `result`, or its next suspension.
   */
  readonly resume: (
    results: ReadonlyArray<{ readonly callId: string; readonly outcome: ToolOutcome }>,
    message: ReadonlyArray<ContentPart> | null
  ) => Stream.Stream<CliEvent, CliError>
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
  /** Run the model's Bash commands in Claude Code's sandbox (`ClaudeProcess/sandbox`); null or absent: not. */
  readonly sandbox?: CliSandbox | null | undefined
  /** How many nice steps the CLI runs below the gateway (`ClaudeProcess/priority`); 0 or absent: the gateway's own priority. */
  readonly nice?: number | undefined
}

const encoder = new TextEncoder()
const stderrTailLength = 2000
const killGrace = Duration.seconds(1)
const stderrDrain = Duration.millis(500)

export const makeClaudeProcess = (options: ClaudeProcessOptions) =>
  Effect.gen(function*() {
    const executor = yield* CommandExecutor.CommandExecutor
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

    /**
     * Spawns the CLI with its stdin fed from a mailbox. `initialize` (the system prompt, the
     * schema, the tool server) and `first`, when given, are queued before the spawn and
     * written as soon as the executor's stdin pump runs.
     */
    const spawn = Effect.fnUntraced(function*(launch: CliLaunch, first: ReadonlyArray<ContentPart> | null) {
      const stdin = yield* Mailbox.make<Uint8Array>()
      const firstWritten = yield* Deferred.make<void>()
      stdin.unsafeOffer(encoder.encode(initializeLine(launch)))
      if (first !== null) stdin.unsafeOffer(encoder.encode(userMessageLine(first)))
      const sandbox = options.sandbox ?? null
      const command = Command.make(
        options.binary,
        ...cliArgs(launch),
        ...(sandbox === null ? [] : sandboxArgs(sandbox))
      ).pipe(
        Command.workingDirectory(launch.cwd),
        Command.env({
          ...env,
          ...launchEnv(launch),
          ...(sandbox === null ? {} : sandboxEnv(launch.cwd, NodeOs.tmpdir()))
        }, { extendEnv: false }),
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
      yield* lowerPriority(proc.pid, options.nice ?? 0)
      // The pump was forked as the process started: let it write before the work that follows.
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
      return { proc, stdin }
    })

    /**
     * Reads the process's stderr in the background; `final` is its last `stderrTailLength`
     * characters once it has drained (or shortly after the process ended).
     */
    const stderrTail = Effect.fnUntraced(function*(stderr: Stream.Stream<Uint8Array, PlatformError>) {
      const tail = yield* Ref.make("")
      const reader = yield* stderr.pipe(
        Stream.decodeText(),
        Stream.runForEach((chunk) => Ref.update(tail, (text) => (text + chunk).slice(-stderrTailLength))),
        Effect.ignore,
        Effect.interruptible,
        Effect.forkScoped
      )
      // stderr may still be draining when stdout closes.
      const final = Fiber.await(reader).pipe(
        Effect.timeout(stderrDrain),
        Effect.ignore,
        Effect.zipRight(Ref.get(tail)),
        Effect.map((text) => text.trim())
      )
      return { final }
    })

    /** A process, and the events of its first turn when its message was queued (else none). */
    const open = Effect.fn("ClaudeProcess.start")(
      function*(launch: CliLaunch, first: ReadonlyArray<ContentPart> | null) {
        const { proc, stdin } = yield* spawn(launch, first)
        const stderr = yield* stderrTail(proc.stderr)
        const exited = Effect.gen(function*() {
          const exit = yield* proc.exitCode.pipe(Effect.either)
          const tail = yield* stderr.final
          return exit._tag === "Right"
            ? new CliExitedEarly({ exitCode: exit.right, signal: null, stderrTail: tail })
            : new CliExitedEarly({ exitCode: null, signal: signalOf(exit.left.message), stderrTail: tail })
        })
        const bridge = new ToolBridge(launch.clientTools ?? [])
        const clientTools = new Set((launch.clientTools ?? []).map((tool) => tool.name))
        const write = (lines: ReadonlyArray<string>) =>
          lines.length === 0 ? Effect.void : Effect.asVoid(stdin.offerAll(lines.map((text) => encoder.encode(text))))
        const output = yield* readOutput({
          stdout: proc.stdout,
          exited,
          idleTimeout: options.idleTimeout,
          onControl: (frame) => Effect.suspend(() => write(bridge.receive(frame)))
        })

        let turns = 0
        const nextTurn = () => output.turn(++turns, launch.model, clientTools)
        const turn = (content: ReadonlyArray<ContentPart>): Stream.Stream<CliEvent, CliError> =>
          Stream.unwrap(Effect.map(write([userMessageLine(content)]), nextTurn))
        const resume: CliConnection["resume"] = (results, message) =>
          Stream.unwrap(Effect.suspend(() =>
            Effect.map(
              write([
                ...(message === null ? [] : [userMessageLine(message)]),
                ...results.flatMap(({ callId, outcome }) => bridge.answer(callId, outcome))
              ]),
              nextTurn
            )
          ))
        let controlRequests = 0
        const interrupt = Effect.suspend(() =>
          stdin.offer(encoder.encode(interruptLine(`gateway-interrupt-${++controlRequests}`)))
        ).pipe(Effect.asVoid)
        const connection: CliConnection = {
          pid: proc.pid,
          turn,
          resume,
          interrupt,
          cancelTurn: (within) =>
            withDeadline(Effect.zipRight(interrupt, output.skipToResult), within).pipe(Effect.map(Option.isSome)),
          endInput: Effect.asVoid(stdin.end),
          isRunning: proc.isRunning.pipe(Effect.orElseSucceed(() => false)),
          awaitExit: Effect.ignore(proc.exitCode)
        }
        return [connection, first === null ? Stream.empty : nextTurn()] as const
      }
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

    return {
      start: (launch) => Effect.map(open(launch, null), ([connection]) => connection),
      startTurn: (launch, content) => open(launch, content),
      version
    } satisfies ClaudeProcess.Service
  })

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
  /** Configured from `AppConfig` (binary, retry budget, idle timeout, sandbox); spawns with `cliExecutor`. */
  static readonly layer = Layer.effect(
    ClaudeProcess,
    Effect.gen(function*() {
      const config = yield* AppConfig
      return yield* makeClaudeProcess({
        binary: config.claudeBinary,
        maxRetries: config.cliMaxRetries,
        idleTimeout: Duration.seconds(config.cliIdleTimeoutSeconds),
        env: config.cliEnv,
        sandbox: config.sandbox ? { readPaths: config.sandboxReadPaths } : null,
        nice: config.cliNice
      })
    })
  ).pipe(Layer.provide(cliExecutor))

  /** Explicit options, e.g. a fake CLI in tests or an extra environment. */
  static readonly layerWith = (options: ClaudeProcessOptions) =>
    Layer.effect(ClaudeProcess, makeClaudeProcess(options)).pipe(Layer.provide(cliExecutor))
}
