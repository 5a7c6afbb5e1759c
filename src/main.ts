/**
 * Runs the gateway: logging and configuration from the environment and `.env`, every
 * service, the HTTP server. SIGINT/SIGTERM cancel running turns (recorded), kill their CLI
 * processes and exit cleanly. A failed start is logged (in the configured format when
 * `LOG_LEVEL` and `LOG_FORMAT` themselves are valid) and exits with status 1.
 */
import { PlatformConfigProvider } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Duration, Effect, Either, Layer, Option, Runtime, RuntimeFlags, RuntimeFlagsPatch } from "effect"
import * as NodeV8 from "node:v8"
import { AppConfig } from "./AppConfig.js"
import { gatewayVariables } from "./AppConfig/variables.js"
import { HttpLive } from "./Http/Server.js"
import { withholdFromEnvironment } from "./Internal/environ.js"
import { ServicesLive } from "./Layers.js"
import { defaultLogging, loggingFromConfig, loggingLayer } from "./Logging.js"

/**
 * Once everything has read its settings, they leave the environment block that other
 * processes of the same user can read (see `withholdFromEnvironment`); where that is not
 * possible, a warning says so.
 */
const withholdSettings = Effect.try(() => withholdFromEnvironment(gatewayVariables())).pipe(
  Effect.catchAll((error) =>
    Effect.logWarning(
      `the gateway's settings stay readable in /proc/${process.pid}/environ: ${String(error.cause)}`
    )
  )
)

const MainLive = HttpLive.pipe(
  Layer.provide(ServicesLive),
  Layer.provideMerge(AppConfig.layer),
  Layer.tap(() => withholdSettings)
)

/** An error's message and those of the errors it wraps (a failed listen says why only in its cause). */
const reasonOf = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const own = error.message === "" ? error.name : error.message
  return error.cause instanceof Error ? `${own}: ${reasonOf(error.cause)}` : own
}

/** Why the gateway could not start: the error's reason, or the whole cause of a defect. */
const logStartupFailure = (cause: Cause.Cause<unknown>) => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  return Option.match(Cause.failureOption(cause), {
    onNone: () => Effect.logError("claude-code-api failed to start", cause),
    onSome: (error) => Effect.logError(`claude-code-api failed to start: ${reasonOf(error)}`)
  })
}

/**
 * How long a stopping gateway gives its layers to close: a finalizer that cannot finish (the
 * database gone, so that a cluster node can neither record nor give up anything) must not keep
 * it running. Its turns and CLI processes are stopped first, within a second or two.
 */
const closingDeadline = Duration.seconds(10)

/** Serves until interrupted (SIGINT, SIGTERM); a close that outlasts the deadline exits the process. */
const serveUntilStopped = Effect.scoped(Effect.gen(function*() {
  yield* Layer.build(MainLive)
  const runtime = yield* Effect.runtime<never>()
  // Added last, so it runs first when the gateway stops.
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      setTimeout(() => {
        Runtime.runSync(runtime)(
          Effect.logError(`the gateway did not stop within ${Duration.format(closingDeadline)}; exiting`)
        )
        process.exit(1)
      }, Duration.toMillis(closingDeadline)).unref()
    })
  )
  return yield* Effect.never
}))

const program = Effect.gen(function*() {
  const logging = yield* Effect.either(loggingFromConfig)
  const serve = Either.isLeft(logging) ? Effect.fail(logging.left) : serveUntilStopped
  return yield* serve.pipe(
    Effect.tapErrorCause(logStartupFailure),
    Effect.provide(loggingLayer(Either.getOrElse(logging, () => defaultLogging)))
  )
}).pipe(
  Effect.provide(PlatformConfigProvider.layerDotEnvAdd(".env").pipe(Layer.provideMerge(NodeContext.layer))),
  // Effect records every fiber's start and end in runtime metrics by default. Nothing here reads
  // them, and they cost about a tenth of the gateway's CPU time per streamed turn.
  Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.disable(RuntimeFlags.RuntimeMetrics))
)

// V8 lets the heap grow to several times what is live before a full collection, and keeps the
// pages: over 1 000 turns the gateway's memory swung between 200 and 370 MB (80 to 95 MB live)
// and stayed up to 130 MB above its level after 100 turns. Grown by half at most, it stays
// within 15 MB, for no more CPU time per turn (and a smaller process forks its CLIs faster).
NodeV8.setFlagsFromString("--heap-growing-percent=50")

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
