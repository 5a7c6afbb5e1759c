/**
 * The model configuration file (`config/models.json`): models, aliases, fallback chains.
 */
import { Schema } from "effect"

export const ModelInfo = Schema.Struct({
  id: Schema.NonEmptyString,
  name: Schema.String,
  description: Schema.optionalWith(Schema.String, { default: () => "" }),
  max_tokens: Schema.optional(Schema.Number),
  input_cost_per_1k: Schema.optional(Schema.Number),
  output_cost_per_1k: Schema.optional(Schema.Number),
  supports_streaming: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  supports_tools: Schema.optionalWith(Schema.Boolean, { default: () => true })
})
export type ModelInfo = typeof ModelInfo.Type

export const ModelsFile = Schema.Struct({
  /** Used when a request names no model; null or absent means the CLI's own default. */
  default_model: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  aliases: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  /** Model id → models to try, in order, when upstream rejects it. */
  fallbacks: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }), {
    default: () => ({})
  }),
  models: Schema.Array(ModelInfo)
})
export type ModelsFile = typeof ModelsFile.Type

/** What a request's `model` field resolves to. */
export interface ResolvedModel {
  /** The field as sent. */
  readonly requested: string | null
  /** The model to pass as `--model`; null leaves the choice to the CLI. */
  readonly model: string | null
  /** Models to try next, in order, if `model` is rejected. */
  readonly fallbacks: ReadonlyArray<string>
  /** The registry entry, when the model is one we list. */
  readonly info: ModelInfo | null
}
