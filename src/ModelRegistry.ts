/**
 * ModelRegistry: the configured models, their aliases and fallback chains. Loaded and
 * validated once at startup; resolving is pure.
 */
import { FileSystem } from "@effect/platform"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { AppConfig } from "./AppConfig.js"
import type { ModelInfo, ResolvedModel } from "./Domain/Model.js"
import { ModelsFile } from "./Domain/Model.js"

/** The models file is missing or invalid. */
export class ModelsConfigError extends Schema.TaggedError<ModelsConfigError>()("ModelsConfigError", {
  path: Schema.String,
  message: Schema.String
}) {}

export declare namespace ModelRegistry {
  export interface Service {
    /** Every configured model, in file order. */
    readonly list: ReadonlyArray<ModelInfo>
    /** A model by id or alias. */
    readonly get: (idOrAlias: string) => Option.Option<ModelInfo>
    /** Aliases that point at a model id. */
    readonly aliasesOf: (id: string) => ReadonlyArray<string>
    /** The fallback chain configured for a model id. */
    readonly fallbacksOf: (id: string) => ReadonlyArray<string>
    /**
     * Resolves a request's `model` field. Aliases map to ids, unknown names pass through
     * unchanged (the CLI decides), and an absent field means the configured default or,
     * when there is none, the CLI's own default.
     */
    readonly resolve: (requested: string | null | undefined) => ResolvedModel
  }
}

/** Builds the registry from a parsed models file. Fallback chains are followed transitively, without cycles. */
export const makeModelRegistry = (file: ModelsFile): ModelRegistry.Service => {
  const byId = new Map(file.models.map((model) => [model.id, model] as const))
  const canonical = (name: string): string => file.aliases[name] ?? name
  const fallbacksOf = (id: string): ReadonlyArray<string> => {
    const chain: Array<string> = []
    const seen = new Set([id])
    const queue = [...(file.fallbacks[id] ?? [])]
    while (queue.length > 0) {
      const next = canonical(queue.shift()!)
      if (seen.has(next)) continue
      seen.add(next)
      chain.push(next)
      for (const fallback of file.fallbacks[next] ?? []) queue.push(fallback)
    }
    return chain
  }
  return {
    list: file.models,
    get: (idOrAlias) => Option.fromNullable(byId.get(canonical(idOrAlias))),
    aliasesOf: (id) => Object.entries(file.aliases).flatMap(([alias, target]) => (target === id ? [alias] : [])),
    fallbacksOf,
    resolve: (requested) => {
      const name = requested?.trim() ? requested.trim() : file.default_model
      if (!name) return { requested: requested ?? null, model: null, fallbacks: [], info: null }
      const model = canonical(name)
      return { requested: requested ?? null, model, fallbacks: fallbacksOf(model), info: byId.get(model) ?? null }
    }
  }
}

export class ModelRegistry extends Context.Tag("claude-code-api/ModelRegistry")<
  ModelRegistry,
  ModelRegistry.Service
>() {
  /** Reads `AppConfig.modelsPath`; fails startup when the file is missing or invalid. */
  static readonly layer = Layer.effect(
    ModelRegistry,
    Effect.gen(function*() {
      const { modelsPath } = yield* AppConfig
      const fs = yield* FileSystem.FileSystem
      const problem = (message: string) =>
        new ModelsConfigError({
          path: modelsPath,
          message: `CLAUDE_CODE_API_MODELS_PATH: cannot use models file ${modelsPath}: ${message}`
        })
      const text = yield* fs.readFileString(modelsPath).pipe(
        Effect.mapError((error) =>
          problem(error._tag === "SystemError" && error.reason === "NotFound" ? "no such file" : error.message)
        )
      )
      const file = yield* Schema.decodeUnknown(Schema.parseJson(ModelsFile))(text).pipe(
        Effect.mapError((error) => problem(error.message))
      )
      return makeModelRegistry(file)
    })
  )

  /** A registry over an in-memory file (tests, embedding). */
  static readonly layerFrom = (file: typeof ModelsFile.Encoded) =>
    Layer.effect(
      ModelRegistry,
      Effect.map(Schema.decodeUnknown(ModelsFile)(file), makeModelRegistry).pipe(Effect.orDie)
    )
}
