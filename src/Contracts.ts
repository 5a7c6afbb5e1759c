/**
 * The generated, checked-in contracts under `schemas/`: the OpenAPI document and the
 * JSON Schemas of the event log and the models file. A test regenerates them and fails
 * when the files in the repository drift.
 */
import { OpenApi } from "@effect/platform"
import { JSONSchema } from "effect"
import { ModelsFile } from "./Domain/Model.js"
import { SessionEvent, StoredEvent } from "./Domain/SessionEvent.js"
import { GatewayApi } from "./Http/Api.js"

/** The OpenAPI document served at `/openapi.json`. */
const openApiDocument = () => OpenApi.fromApi(GatewayApi)

/** File name under `schemas/` → its content. */
export const contracts = (): Record<string, unknown> => ({
  "openapi.json": openApiDocument(),
  "session-event.schema.json": JSONSchema.make(SessionEvent),
  "stored-event.schema.json": JSONSchema.make(StoredEvent),
  "models.schema.json": JSONSchema.make(ModelsFile)
})

export const renderContract = (content: unknown): string => JSON.stringify(content, null, 2) + "\n"
