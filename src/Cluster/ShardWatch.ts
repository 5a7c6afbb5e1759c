/**
 * What a node does when the shards it owns change. A session whose shard it lost (another node
 * took it over, or is about to) is given up here: its turn cancelled (as interrupted), its
 * process stopped. When it gains shards, the turns the log shows unfinished in them are recorded
 * as interrupted: the node that ran them is gone, and their readers, on any node, must see them
 * end. A turn that comes first for such a session records it itself (see `Admission`).
 */
import { EntityId, ShardId, Sharding } from "@effect/cluster"
import { Effect, Schedule } from "effect"
import { warnOnFailure } from "../Logging.js"
import { SessionQueries } from "../SessionQueries.js"
import { ChatSession } from "./ChatSession.js"
import { shardsPerGroup } from "./ClusterNode.js"
import { LocalSessionRunner } from "./ClusterRunner.js"

/** How often the node looks at its shards (as often as the cluster recomputes them). */
const checkInterval = "1 second"

/** The sessions' shard group. */
const group = ChatSession.getShardGroup(EntityId.make(""))

/** The shards of the sessions this node owns now (their ids, 1 to `shardsPerGroup`). */
export const ownedShards = (sharding: Sharding.Sharding["Type"]): ReadonlySet<number> => {
  const owned = new Set<number>()
  for (let id = 1; id <= shardsPerGroup; id++) if (sharding.hasShardId(ShardId.make(group, id))) owned.add(id)
  return owned
}

export const watchShards = Effect.gen(function*() {
  const sharding = yield* Sharding.Sharding
  const local = yield* LocalSessionRunner
  const queries = yield* SessionQueries

  const ownsSession = (sessionId: string) => sharding.hasShardId(sharding.getShardId(EntityId.make(sessionId), group))

  let owned: ReadonlySet<number> = new Set()
  /** Shards gained whose unfinished turns are still to be ended (kept until the log answers). */
  let recoveryDue = false

  const check = Effect.gen(function*() {
    const now = ownedShards(sharding)
    if ([...now].some((id) => !owned.has(id))) recoveryDue = true
    owned = now
    for (const sessionId of yield* local.liveSessions) {
      if (!ownsSession(sessionId)) yield* local.relinquish(sessionId)
    }
    if (!recoveryDue) return
    const unfinished = yield* queries.unfinishedTurns
    recoveryDue = false
    const orphaned = new Set(unfinished.map(({ sessionId }) => sessionId).filter(ownsSession))
    yield* Effect.forEach(orphaned, local.endOrphanedTurn, { discard: true })
  })

  yield* check.pipe(
    warnOnFailure("could not take over the sessions of the shards this node gained"),
    Effect.repeat(Schedule.spaced(checkInterval)),
    Effect.forkScoped
  )
})
