/**
 * The one place where the gateway's layers are assembled.
 */
import { Effect, Layer, type Redacted } from "effect"
import { AppConfig } from "./AppConfig.js"
import type { ClusterSettings } from "./AppConfig/cluster.js"
import { Auth } from "./Auth.js"
import { ClaudeProcess } from "./ClaudeProcess.js"
import { clusterNodeLayer } from "./Cluster/ClusterNode.js"
import { ClusterRunnerLayer, LocalSessionRunner } from "./Cluster/ClusterRunner.js"
import { ClusterStatus } from "./Cluster/ClusterStatus.js"
import { watchShards } from "./Cluster/ShardWatch.js"
import { EventLog } from "./EventLog.js"
import { ModelRegistry } from "./ModelRegistry.js"
import { Projects } from "./Projects.js"
import { makeSessionRunner, SessionRunner } from "./SessionRunner.js"
import { Sessions } from "./Sessions.js"

/**
 * The runner of a cluster node: requests reach each session's owner node, this node runs the
 * sessions it owns, and takes over those of the shards it gains. Closed in reverse: the node's
 * turns end (recorded) before its shards are given up.
 */
const clusterRunner = (settings: ClusterSettings, url: Redacted.Redacted<string>) =>
  Layer.scopedDiscard(watchShards).pipe(
    Layer.provideMerge(ClusterRunnerLayer),
    Layer.provideMerge(Layer.scoped(LocalSessionRunner, makeSessionRunner)),
    Layer.provideMerge(ClusterStatus.layer(settings)),
    Layer.provideMerge(clusterNodeLayer(settings, url))
  )

/** The session runner: on its own, or a node of the cluster named by `AppConfig.cluster`. */
const RunnerLive = Layer.unwrapEffect(
  Effect.map(
    AppConfig,
    ({ cluster, database }) =>
      cluster !== null && database._tag === "Postgres" ? clusterRunner(cluster, database.url) : SessionRunner.layer
  )
)

/**
 * Every domain service (sessions, runner, projects, the event log and its read models, the CLI,
 * the registry, auth) over an `AppConfig` and the platform's file system (the CLI is spawned with
 * the platform's Node command executor). Embed it in another Effect program by providing
 * `AppConfig` (e.g. `AppConfig.layerWith({...})`) and `NodeContext.layer`.
 */
export const ServicesLive = Sessions.layer.pipe(
  Layer.provideMerge(RunnerLive),
  Layer.provideMerge(Projects.layer),
  Layer.provideMerge(Layer.mergeAll(EventLog.layer, ClaudeProcess.layer, ModelRegistry.layer, Auth.layer))
)
