/**
 * The models group's handlers over `ModelRegistry`. A request that carries
 * `anthropic-version` (an Anthropic client listing models) is answered in Anthropic's shape.
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Option } from "effect"
import { ModelNotFound } from "../../Domain/Errors.js"
import type { ModelInfo } from "../../Domain/Model.js"
import { ModelRegistry } from "../../ModelRegistry.js"
import { GatewayApi } from "../Api.js"
import { fromDomain } from "../Edge/Errors.js"
import type { Model } from "./Api.js"

/** Whether the caller speaks Anthropic's API. */
const isAnthropicClient = (request: HttpServerRequest.HttpServerRequest) => "anthropic-version" in request.headers

/** A model in Anthropic's shape. */
const anthropicModelOf = (info: ModelInfo) => ({
  type: "model" as const,
  id: info.id,
  display_name: info.name,
  created_at: new Date(createdOf(info.id) * 1000).toISOString()
})

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
    const modelOf = (id: string) =>
      Option.match(registry.get(id), {
        onNone: () => Effect.fail(fromDomain(new ModelNotFound({ model: id }))),
        onSome: Effect.succeed
      })
    return handlers
      .handleRaw("listModels", ({ request }) => {
        if (!isAnthropicClient(request)) {
          return Effect.succeed(HttpServerResponse.unsafeJson({ object: "list", data: registry.list.map(toModel) }))
        }
        const data = registry.list.map(anthropicModelOf)
        return Effect.succeed(HttpServerResponse.unsafeJson({
          data,
          has_more: false,
          first_id: data[0]?.id ?? null,
          last_id: data[data.length - 1]?.id ?? null
        }))
      })
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
      .handleRaw("getModel", ({ path, request }) =>
        Effect.map(
          modelOf(path.model_id),
          (info) => HttpServerResponse.unsafeJson(isAnthropicClient(request) ? anthropicModelOf(info) : toModel(info))
        ))
  }))
