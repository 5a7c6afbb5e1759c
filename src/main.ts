/**
 * Runs the gateway: configuration from the environment and `.env`, every service, the
 * HTTP server. SIGINT/SIGTERM cancel running turns (recorded), kill their CLI processes
 * and exit cleanly.
 */
import { PlatformConfigProvider } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Layer, Option, RuntimeFlags, RuntimeFlagsPatch } from "effect"
import { AppConfig } from "./AppConfig.js"
import { HttpLive } from "./Http/Server.js"
import { ServicesLive } from "./Layers.js"

const MainLive = HttpLive.pipe(
  Layer.provide(ServicesLive),
  Layer.provideMerge(AppConfig.layer),
  Layer.provide(PlatformConfigProvider.layerDotEnvAdd(".env")),
  Layer.provide(NodeContext.layer)
)

const program = Layer.launch(MainLive).pipe(
  Effect.tapErrorCause((cause) => {
    const failure = Cause.failureOption(cause)
    const message = Option.match(failure, {
      onNone: () => Cause.pretty(cause),
      onSome: (error) => (error instanceof Error ? error.message : String(error))
    })
    return Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(`claude-code-api failed to start: ${message}`)
  }),
  // Effect records every fiber's start and end in runtime metrics by default. Nothing here reads
  // them, and they cost about a tenth of the gateway's CPU time per streamed turn.
  Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.disable(RuntimeFlags.RuntimeMetrics))
)

NodeRuntime.runMain(program, { disableErrorReporting: true })
