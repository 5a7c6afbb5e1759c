/**
 * Where a cluster of gateways places sessions, worked out in the test as the cluster engine does
 * it: a session's shard from its id (@effect/cluster's own `getShardId`, with the gateway's shard
 * count and the `ChatSession` entity's group), and the shards spread over the healthy runners'
 * addresses by Effect's `HashRing` (each runner of weight 1, as the gateway leaves it). A test
 * learns from it, before a node joins or leaves, which sessions must move and which must stay.
 */
import {
  EntityId,
  MessageStorage,
  RunnerAddress,
  RunnerHealth,
  Runners,
  RunnerStorage,
  Sharding,
  ShardingConfig
} from "@effect/cluster"
import { Effect, Either, HashRing, Layer, Option } from "effect"
import { parseHostAndPort } from "../../src/AppConfig/cluster.js"
import { ChatSession } from "../../src/Cluster/ChatSession.js"
import { shardsPerGroup } from "../../src/Cluster/ClusterNode.js"

/** A client of an in-memory cluster with the gateway's shard count: it only hashes ids here. */
const hashingOnly = Sharding.layer.pipe(
  Layer.provide(Runners.layerNoop),
  Layer.provideMerge(MessageStorage.layerMemory),
  Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
  Layer.provide(ShardingConfig.layer({ runnerAddress: Option.none(), shardsPerGroup }))
)

/** The shard (1 to `shardsPerGroup`) of each session id. */
export const shardsOf = (sessionIds: ReadonlyArray<string>): Promise<ReadonlyArray<number>> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const sharding = yield* Sharding.Sharding
      return sessionIds.map((sessionId) => {
        const entityId = EntityId.make(sessionId)
        return sharding.getShardId(entityId, ChatSession.getShardGroup(entityId)).id
      })
    }).pipe(Effect.scoped, Effect.provide(hashingOnly))
  )

/**
 * The runner address (`host:port`) that owns each shard when exactly `runners` are healthy:
 * element `i` is shard `i + 1`'s.
 */
export const shardOwners = (runners: ReadonlyArray<string>): ReadonlyArray<string> => {
  const ring = HashRing.make<RunnerAddress.RunnerAddress>()
  for (const runner of runners) {
    const { host, port } = Either.getOrThrowWith(parseHostAndPort(runner), (message) => new Error(message))
    HashRing.add(ring, RunnerAddress.make(host, port), { weight: 1 })
  }
  const owners = HashRing.getShards(ring, shardsPerGroup)
  if (owners === undefined) throw new Error("no runners, no owners")
  return owners.map(({ host, port }) => `${host}:${port}`)
}

/** How many shards each of `runners` owns when exactly they are healthy. */
export const shardCounts = (runners: ReadonlyArray<string>): ReadonlyMap<string, number> => {
  const counts = new Map(runners.map((runner) => [runner, 0]))
  for (const owner of shardOwners(runners)) counts.set(owner, (counts.get(owner) ?? 0) + 1)
  return counts
}
