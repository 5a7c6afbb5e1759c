/**
 * The API's handlers, group by group. Domain services do the work; these only translate.
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Option } from "effect"
import { AppConfig } from "../AppConfig.js"
import { ClaudeProcess } from "../ClaudeProcess.js"
import { ModelNotFound } from "../Domain/Errors.js"
import type { ModelInfo } from "../Domain/Model.js"
import { ModelRegistry } from "../ModelRegistry.js"
import { SessionRunner } from "../SessionRunner.js"
import { SessionStore } from "../SessionStore.js"
import { GatewayApi } from "./Api.js"
import { makeChatCompletions } from "./ChatCompletions.js"
import { fromDomain } from "./Errors.js"
import type { Model } from "./OpenAI.js"
import { callersSession } from "./Ownership.js"

export const gatewayVersion = "0.1.0"

export const ChatHandlers = HttpApiBuilder.group(GatewayApi, "chat", (handlers) =>
  Effect.gen(function*() {
    const chat = yield* makeChatCompletions
    const runner = yield* SessionRunner
    const store = yield* SessionStore
    return handlers
      .handleRaw("createChatCompletion", ({ request }) => chat.handle(request))
      .handle("cancelChatCompletion", ({ path }) =>
        Effect.gen(function*() {
          yield* callersSession(store, path.session_id)
          const cancelled = yield* runner.cancel(path.session_id, "client")
          return {
            session_id: path.session_id,
            object: "chat.completion.cancellation" as const,
            cancelled,
            status: cancelled ? "cancelled" as const : "not_running" as const
          }
        }).pipe(Effect.mapError(fromDomain)))
      .handle("chatCompletionStatus", ({ path }) =>
        Effect.gen(function*() {
          const summary = yield* callersSession(store, path.session_id)
          const activity = yield* runner.activity(path.session_id)
          return {
            session_id: path.session_id,
            object: "chat.completion.status" as const,
            status: summary.closed ? "closed" as const : activity.running ? "running" as const : "idle" as const,
            is_running: activity.running,
            turn_id: activity.turnId,
            started_at: activity.startedAt === null ? null : Math.floor(activity.startedAt / 1000),
            project_id: summary.projectId,
            warm: activity.warm
          }
        }).pipe(Effect.mapError(fromDomain)))
  }))

/** `created` of a model: the date in its id (`…-20250929`) when there is one. */
const createdOf = (id: string): number => {
  const match = /-(\d{4})(\d{2})(\d{2})$/.exec(id)
  return match ? Math.floor(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / 1000) : 0
}

export const ModelsHandlers = HttpApiBuilder.group(GatewayApi, "models", (handlers) =>
  Effect.gen(function*() {
    const registry = yield* ModelRegistry
    const toModel = (info: ModelInfo): Model => ({
      id: info.id,
      object: "model",
      created: createdOf(info.id),
      owned_by: "anthropic",
      name: info.name,
      description: info.description,
      aliases: registry.aliasesOf(info.id),
      fallbacks: registry.fallbacksOf(info.id)
    })
    return handlers
      .handle("listModels", () => Effect.succeed({ object: "list" as const, data: registry.list.map(toModel) }))
      .handle("listCapabilities", () =>
        Effect.succeed({
          object: "list" as const,
          data: registry.list.map((info) => ({
            id: info.id,
            name: info.name,
            description: info.description,
            max_tokens: info.max_tokens ?? null,
            supports_streaming: info.supports_streaming,
            supports_tools: info.supports_tools,
            supports_images: true,
            pricing: {
              input_cost_per_1k: info.input_cost_per_1k ?? null,
              output_cost_per_1k: info.output_cost_per_1k ?? null
            },
            aliases: registry.aliasesOf(info.id),
            fallbacks: registry.fallbacksOf(info.id)
          }))
        }))
      .handle("getModel", ({ path }) =>
        Option.match(registry.get(path.model_id), {
          onNone: () => Effect.fail(fromDomain(new ModelNotFound({ model: path.model_id }))),
          onSome: (info) => Effect.succeed(toModel(info))
        }))
  }))

export const SystemHandlers = HttpApiBuilder.group(GatewayApi, "system", (handlers) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const claude = yield* ClaudeProcess
    const store = yield* SessionStore
    const runner = yield* SessionRunner
    // `claude --version` costs ~0.1 s: ask at most every 30 s.
    const cliVersion = yield* Effect.cachedWithTTL(Effect.option(claude.version), Duration.seconds(30))
    return handlers
      .handle("root", () =>
        Effect.succeed({
          name: "Claude Code API",
          version: gatewayVersion,
          description: "OpenAI-compatible API gateway for the Claude Code CLI",
          endpoints: {
            chat_completions: "/v1/chat/completions",
            models: "/v1/models",
            model_capabilities: "/v1/models/capabilities",
            health: "/health"
          },
          docs: "/docs",
          openapi: "/openapi.json"
        }))
      .handleRaw("health", () =>
        Effect.gen(function*() {
          const version = yield* cliVersion
          const database = yield* store.ping.pipe(Effect.isSuccess)
          const running = yield* runner.runningCount
          const healthy = Option.isSome(version) && database
          return HttpServerResponse.unsafeJson({
            status: healthy ? "healthy" : "unhealthy",
            version: gatewayVersion,
            claude_cli: { available: Option.isSome(version), version: Option.getOrNull(version) },
            database: { reachable: database },
            turns: { running, limit: config.maxConcurrentTurns }
          }, { status: healthy ? 200 : 503 })
        }))
  }))
