/**
 * The system group's endpoints: service information and health.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"

export const ServiceInfo = Schema.Struct({
  name: Schema.String,
  version: Schema.String,
  description: Schema.String,
  endpoints: Schema.Record({ key: Schema.String, value: Schema.String }),
  docs: Schema.String,
  redoc: Schema.String,
  openapi: Schema.String,
  health: Schema.String
}).annotations({ identifier: "ServiceInfo" })

export const Health = Schema.Struct({
  status: Schema.Literal("healthy", "unhealthy"),
  version: Schema.String,
  claude_cli: Schema.Struct({ available: Schema.Boolean, version: Schema.NullOr(Schema.String) }),
  claude_version: Schema.NullOr(Schema.String).annotations({ description: "The same as claude_cli.version" }),
  database: Schema.Struct({
    reachable: Schema.Boolean,
    writable: Schema.Boolean.annotations({
      description: "False after the event log refused a write, until a probe write goes in again"
    })
  }),
  turns: Schema.Struct({ running: Schema.Number, limit: Schema.Number }),
  active_sessions: Schema.Number.annotations({ description: "Sessions with a live CLI process or a running turn" }),
  cluster: Schema.optional(Schema.Struct({
    runner_address: Schema.String.annotations({ description: "How the other nodes reach this one" }),
    shards: Schema.Number.annotations({ description: "The shards this node owns: their sessions run here" }),
    shards_total: Schema.Number
  })).annotations({
    description: "Present on a node of a cluster (CLUSTER_RUNNER_ADDRESS); its turns and sessions are its own"
  }),
  error: Schema.optional(Schema.String).annotations({ description: "Why the gateway is unhealthy" })
}).annotations({ identifier: "Health" })

/** The body of `GET /health` when the gateway cannot serve turns (status 503). */
const Unhealthy = Health.annotations({ identifier: "Unhealthy", ...HttpApiSchema.annotations({ status: 503 }) })

export class SystemApi extends HttpApiGroup.make("system")
  .add(HttpApiEndpoint.get("root", "/").addSuccess(ServiceInfo).annotate(OpenApi.Summary, "Service information"))
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(Health)
      .addError(Unhealthy)
      .annotate(OpenApi.Summary, "Health: CLI, database, running turns (503 when unusable)")
  )
{}
