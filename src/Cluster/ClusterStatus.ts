/**
 * What a cluster node says about itself in `/health`; absent on a gateway of its own.
 */
import { Sharding } from "@effect/cluster"
import { Context, Effect, Layer } from "effect"
import type { ClusterSettings } from "../AppConfig/cluster.js"
import { shardsPerGroup } from "./ClusterNode.js"
import { ownedShards } from "./ShardWatch.js"

export declare namespace ClusterStatus {
  export interface Service {
    /** How other nodes reach this one, `host:port`. */
    readonly runnerAddress: string
    /** Shards in the cluster. */
    readonly shards: number
    /** The shards this node owns now (their sessions run here). */
    readonly ownedShards: Effect.Effect<number>
  }
}

export class ClusterStatus extends Context.Tag("claude-code-api/Cluster/ClusterStatus")<
  ClusterStatus,
  ClusterStatus.Service
>() {
  static readonly layer = (settings: ClusterSettings) =>
    Layer.effect(
      ClusterStatus,
      Effect.map(Sharding.Sharding, (sharding) => {
        const { host, port } = settings.runnerAddress
        return {
          runnerAddress: host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`,
          shards: shardsPerGroup,
          ownedShards: Effect.sync(() => ownedShards(sharding).size)
        }
      })
    )
}
