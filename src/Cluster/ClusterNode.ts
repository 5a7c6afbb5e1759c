/**
 * This gateway as a node of a cluster: an @effect/cluster runner on the websocket transport
 * (raw TCP sockets add about 40 ms per message here: Nagle's algorithm meets delayed
 * acknowledgements), with runners, shard locks and the cluster's tables in the event log's
 * Postgres database. The settings below must be the same on every node; they are fixed here so
 * that nodes of one version agree.
 */
import { RunnerAddress, type ShardingConfig } from "@effect/cluster"
import { HttpMiddleware } from "@effect/platform"
import { NodeClusterHttp } from "@effect/platform-node"
import { Layer, Option, type Redacted } from "effect"
import type { ClusterSettings } from "../AppConfig/cluster.js"
import { inMigrationTurn } from "../EventLog.js"

/** Shards per group: sessions map to shards by a hash of their id, shards to nodes by a hash ring. */
export const shardsPerGroup = 60

/**
 * How quickly a node that is gone is noticed and its shards taken over (the library's defaults
 * take 30–45 s): runners are pinged every 2 s, shard locks refreshed every 2 s and given up
 * after 6 s, assignments recomputed every second. Measured: a killed node's sessions answered
 * from another node after 3.4 s, a stopped node's after 0.7 s.
 */
const timings = {
  runnerHealthCheckInterval: "2 seconds",
  shardLockRefreshInterval: "2 seconds",
  shardLockExpiration: "6 seconds",
  refreshAssignmentsInterval: "1 second",
  entityMessagePollInterval: "1 second",
  entityTerminationTimeout: "5 seconds"
} as const

const addressOf = ({ host, port }: { readonly host: string; readonly port: number }) => RunnerAddress.make(host, port)

/** The sharding settings of a node (every setting the environment could otherwise override). */
export const shardingSettings = (settings: ClusterSettings): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: Option.some(addressOf(settings.runnerAddress)),
  runnerListenAddress: Option.map(Option.fromNullable(settings.listenAddress), addressOf),
  shardsPerGroup,
  availableShardGroups: ["default"],
  assignedShardGroups: ["default"],
  ...timings
})

/**
 * The node's runner: `Sharding`, serving the cluster at its listen address; needs a `SqlClient`
 * on the Postgres database at `url`, where the cluster's tables are created (by one starting node
 * at a time). Its server's requests are the cluster's own traffic: they are not logged as the
 * gateway's requests.
 */
export const clusterNodeLayer = (settings: ClusterSettings, url: Redacted.Redacted<string>) =>
  Layer.scopedContext(
    inMigrationTurn(url)(Layer.build(
      NodeClusterHttp.layer({ transport: "websocket", storage: "sql", shardingConfig: shardingSettings(settings) })
    ))
  ).pipe(Layer.locally(HttpMiddleware.loggerDisabled, true))
