/**
 * The models group's endpoints and OpenAI's model objects (with our aliases and fallbacks).
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"

export const Model = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("model"),
  created: Schema.Number,
  owned_by: Schema.String,
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  aliases: Schema.optional(Schema.Array(Schema.String)),
  fallbacks: Schema.optional(Schema.Array(Schema.String))
}).annotations({ identifier: "Model" })
export type Model = typeof Model.Type

export const ModelList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Model)
}).annotations({ identifier: "ModelList" })

export const ModelCapabilities = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  description: Schema.String,
  max_tokens: Schema.NullOr(Schema.Number),
  supports_streaming: Schema.Boolean,
  supports_tools: Schema.Boolean,
  supports_images: Schema.Boolean,
  pricing: Schema.Struct({
    input_cost_per_1k: Schema.NullOr(Schema.Number),
    output_cost_per_1k: Schema.NullOr(Schema.Number)
  }),
  aliases: Schema.Array(Schema.String),
  fallbacks: Schema.Array(Schema.String)
}).annotations({ identifier: "ModelCapabilities" })

export const ModelCapabilitiesList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(ModelCapabilities)
}).annotations({ identifier: "ModelCapabilitiesList" })

export class ModelsApi extends HttpApiGroup.make("models")
  .add(
    HttpApiEndpoint.get("listModels", "/v1/models").addSuccess(ModelList).annotate(OpenApi.Summary, "List models")
  )
  .add(
    HttpApiEndpoint.get("listCapabilities", "/v1/models/capabilities")
      .addSuccess(ModelCapabilitiesList)
      .annotate(OpenApi.Summary, "Models with their capabilities, pricing, aliases and fallbacks")
  )
  .add(
    HttpApiEndpoint.get("getModel", "/v1/models/:model_id")
      .setPath(Schema.Struct({ model_id: Schema.String }))
      .addSuccess(Model)
      .annotate(OpenApi.Summary, "Retrieve a model by id or alias")
  )
{}
