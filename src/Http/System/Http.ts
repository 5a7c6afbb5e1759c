/**
 * The system group's handlers: service information, and health (the CLI's version, the
 * database and whether it takes writes, running turns; 503 when turns cannot be served).
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Option } from "effect"
import { AppConfig } from "../../AppConfig.js"
import { ClaudeProcess } from "../../ClaudeProcess.js"
import { ClusterStatus } from "../../Cluster/ClusterStatus.js"
import { SessionRunner } from "../../SessionRunner.js"
import { SessionStore } from "../../SessionStore.js"
import { gatewayVersion } from "../../version.js"
import { GatewayApi } from "../Api.js"

export const SystemHandlers = HttpApiBuilder.group(GatewayApi, "system", (handlers) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const claude = yield* ClaudeProcess
    const store = yield* SessionStore
    const runner = yield* SessionRunner
    const cluster = yield* Effect.serviceOption(ClusterStatus)
    // `claude --version` costs ~0.1 s: ask at most every 30 s.
    const cliVersion = yield* Effect.cachedWithTTL(Effect.option(claude.version), Duration.seconds(30))
    return handlers
      .handle("root", () =>
        Effect.succeed({
          name: "Claude Code API",
          version: gatewayVersion,
          description: "OpenAI-compatible API gateway for the Claude Code CLI",
          endpoints: {
            chat: "/v1/chat/completions",
            chat_completions: "/v1/chat/completions",
            models: "/v1/models",
            model_capabilities: "/v1/models/capabilities",
            sessions: "/v1/sessions",
            projects: "/v1/projects",
            health: "/health"
          },
          docs: "/docs",
          redoc: "/redoc",
          openapi: "/openapi.json",
          health: "/health"
        }))
      .handleRaw("health", () =>
        Effect.gen(function*() {
          const version = yield* cliVersion
          const database = yield* store.ping.pipe(Effect.isSuccess)
          const unwritable = database ? yield* store.checkWritable.pipe(Effect.flip, Effect.option) : Option.none()
          const running = yield* runner.runningCount
          const live = yield* runner.liveSessions
          const node = Option.isSome(cluster)
            ? {
              cluster: {
                runner_address: cluster.value.runnerAddress,
                shards: yield* cluster.value.ownedShards,
                shards_total: cluster.value.shards
              }
            }
            : {}
          const problems = [
            ...(Option.isNone(version) ? ["the Claude Code CLI is not available"] : []),
            ...(database ? [] : ["the event log's database is unreachable"]),
            ...Option.match(unwritable, {
              onNone: () => [],
              onSome: (error) => [`the event log's database cannot be written (${error.message})`]
            })
          ]
          const healthy = problems.length === 0
          return HttpServerResponse.unsafeJson({
            status: healthy ? "healthy" : "unhealthy",
            version: gatewayVersion,
            claude_cli: { available: Option.isSome(version), version: Option.getOrNull(version) },
            claude_version: Option.getOrNull(version),
            database: { reachable: database, writable: database && Option.isNone(unwritable) },
            turns: { running, limit: config.maxConcurrentTurns },
            active_sessions: live.length,
            ...node,
            ...(healthy ? {} : { error: problems.join("; ") })
          }, { status: healthy ? 200 : 503 })
        }))
  }))
