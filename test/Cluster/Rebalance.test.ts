/**
 * A node that joins a cluster of gateways, or leaves it, moves only the sessions of the shards
 * that change hands (the real CLI against the fake Anthropic API; see
 * test/support/ClusterNodes.ts). Two nodes run a first turn in each of a handful of sessions; a
 * third joins. Which sessions must move, and where to, is worked out in the test as the cluster
 * engine does it (test/support/ShardPlacement.ts), and checked against what the nodes report. A
 * session that moved has no CLI process left on its old node and its next turn runs on its new
 * owner with the whole conversation; a session that stayed keeps its owner and its very warm CLI
 * process. Then the third node leaves (SIGTERM): its sessions go back, and the others are untouched
 * again.
 *
 * A session's owner is the node whose project root holds its CLI process: each session here runs
 * in a project of its own, so the CLI's working directory names it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { clisOf, postChat, request, unique } from "../support/ClusterClient.js"
import { type Cluster, type ClusterNode, startCluster } from "../support/ClusterNodes.js"
import { freePort } from "../support/ports.js"
import { shardCounts, shardOwners, shardsOf } from "../support/ShardPlacement.js"

/** Sessions started at first; more (up to `maxSessions`) while none would move, or none stay. */
const firstSessions = 8
const maxSessions = 16
/** How long a node may take to give up (or keep giving up) the sessions of shards it lost. */
const settleMs = 10_000

interface Session {
  readonly index: number
  readonly projectId: string
  readonly sessionId: string
  /** The first turn's user message. */
  readonly first: string
  readonly shard: number
  /** The runner address of its owner with two nodes, and with the third. */
  readonly before: string
  readonly during: string
  /** Its CLI process on its owner, as last seen. */
  pid: number
}

let cluster: Cluster
let sessions: ReadonlyArray<Session> = []
/** The third node's runner address, chosen before it starts. */
let joinerAddress = ""
/** Whether the joining test got to its end: the leaving test starts from there. */
let joined = false
/** What each session's user said so far. */
const userMessages = new Map<Session, ReadonlyArray<string>>()

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const user = (content: string) => ({ role: "user", content })

const nodeAt = (address: string): ClusterNode => {
  const node = cluster.nodes.find(({ runnerAddress }) => runnerAddress === address)
  if (node === undefined) throw new Error(`no node has the runner address ${address}`)
  return node
}

/** Where every session's CLI processes are now, and where it belongs, for failure messages. */
const report = () =>
  sessions.map(({ before, during, index, pid, projectId, shard }) => {
    const running = cluster.nodes.map((node) => `${node.name}:[${clisOf(node, projectId).join(",")}]`).join(" ")
    return `#${index} shard ${shard}: ${nodeAt(before).name} -> ${
      during === joinerAddress ? "(the joiner)" : nodeAt(during).name
    }, pid ${pid}; now ${running}`
  }).join("\n")

/** Polls `done` until it holds; fails with `what` and the report once `settleMs` passed. */
const settle = async (what: string, done: () => boolean | Promise<boolean>) => {
  const deadline = Date.now() + settleMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting (${settleMs} ms) until ${what}:\n${report()}`)
    await sleep(100)
  }
}

/** Whether each live node's `/health` reports exactly the shards the ring gives it among `runners`. */
const ownsAsTheRingSays = async (runners: ReadonlyArray<string>) => {
  const expected = shardCounts(runners)
  const live = cluster.live()
  if (live.length !== runners.length) return false
  const owned = await Promise.all(live.map(async (node) => (await request(node, "/health")).json?.cluster?.shards))
  return live.every((node, index) => owned[index] === expected.get(node.runnerAddress!))
}

/** The fake API's requests that mention `marker`, as JSON. */
const upstreamWith = (marker: string) =>
  cluster.fake.requests.filter((recorded) =>
    recorded.path === "/v1/messages" && JSON.stringify(recorded.body).includes(marker)
  ).map((recorded) => JSON.stringify(recorded.body))

/**
 * The next turn of every session at once, each through the next of `via` in turn: it answers,
 * with the conversation so far (the upstream is given every earlier user message), and runs on
 * the node `ownerNow` names, its one CLI process there. A session whose owner is still
 * `ownerBefore` continues on its warm process, which holds the conversation as the model's own
 * messages (a new owner gives it to a new process as a transcript, which the fake API echoes).
 */
const nextTurns = async (
  via: ReadonlyArray<ClusterNode>,
  earlier: ReadonlyMap<Session, ReadonlyArray<string>>,
  ownerBefore: (session: Session) => string,
  ownerNow: (session: Session) => string
): Promise<ReadonlyMap<Session, string>> => {
  const said = new Map(sessions.map((session) => [session, unique(`next-${session.index}`)]))
  const replies = await Promise.all(
    sessions.map((session) =>
      postChat(via[session.index % via.length]!, {
        session_id: session.sessionId,
        messages: [user(said.get(session)!)]
      })
    )
  )
  sessions.forEach((session, index) => {
    const reply = replies[index]!
    const label = `session #${session.index} through ${via[session.index % via.length]!.name}`
    expect(reply.status, `${label}: ${reply.text}`).toBe(200)
    expect(reply.json.session_id, label).toBe(session.sessionId)
    const text: string = reply.json.choices[0].message.content
    expect(text, label).toMatch(/^Hello from fake-anthropic\. You said: /)
    if (ownerBefore(session) === ownerNow(session)) {
      expect(text, label).toContain(`You said: ${said.get(session)}.`)
      expect(text, label).toContain(`[first=${session.first}]`)
    }
    const seen = upstreamWith(said.get(session)!).at(-1)
    for (const message of earlier.get(session)!) {
      expect(seen, `${label}: the upstream saw ${message}`).toContain(message)
    }
    const owner = nodeAt(ownerNow(session))
    expect(cluster.nodesRunning(session.projectId).map(({ name }) => name), `${label}\n${report()}`).toEqual([
      owner.name
    ])
    expect(clisOf(owner, session.projectId), `${label}\n${report()}`).toHaveLength(1)
  })
  return said
}

describe("a node that joins or leaves a cluster moves only the sessions of its shards", () => {
  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 2,
      // Every session keeps its warm process for the whole file (the default keeps four per
      // node), and the turns come faster than the per-key rate limit allows.
      env: { MAX_WARM_PROCESSES: String(maxSessions), RATE_LIMIT_PER_MINUTE: "0" }
    })
  }, 90_000)

  afterAll(async () => {
    const left = await cluster?.close()
    expect(left, "CLI processes left when the nodes were stopped").toEqual([])
  }, 60_000)

  it(
    "a joining node takes the sessions of the shards it gains; the others keep their owner and their warm process",
    async () => {
      const [one, two] = cluster.live() as [ClusterNode, ClusterNode]
      joinerAddress = `127.0.0.1:${await freePort()}`
      const pair = [one.runnerAddress!, two.runnerAddress!]
      const trio = [...pair, joinerAddress]
      const [ownersOfTwo, ownersOfThree] = [shardOwners(pair), shardOwners(trio)]

      // First turns, through both nodes, until some session is to move to the joiner and some to stay.
      const started: Array<Session> = []
      const moving = () => started.filter(({ during }) => during === joinerAddress)
      const staying = () => started.filter(({ before, during }) => before === during)
      while (started.length < firstSessions || (moving().length === 0 || staying().length === 0)) {
        expect(started.length, "sessions started before some would move and some stay").toBeLessThan(maxSessions)
        const batch = Array.from({ length: started.length < firstSessions ? firstSessions : 2 }, (_, offset) => {
          const index = started.length + offset
          return { index, projectId: unique(`rebalance-${index}`), first: unique(`first-${index}`) }
        })
        const replies = await Promise.all(
          batch.map(({ first, index, projectId }) =>
            postChat(cluster.live()[index % 2]!, { project_id: projectId, messages: [user(first)] })
          )
        )
        replies.forEach((reply) => expect(reply.status, reply.text).toBe(200))
        const shards = await shardsOf(replies.map((reply) => reply.json.session_id))
        batch.forEach((fresh, at) => {
          const shard = shards[at]!
          const before = ownersOfTwo[shard - 1]!
          const owners = cluster.nodesRunning(fresh.projectId).map(({ name }) => name)
          expect(owners, `session #${fresh.index} (shard ${shard}) runs on the node its shard maps to`).toEqual([
            nodeAt(before).name
          ])
          const pids = clisOf(nodeAt(before), fresh.projectId)
          expect(pids).toHaveLength(1)
          started.push({
            ...fresh,
            sessionId: replies[at]!.json.session_id,
            shard,
            before,
            during: ownersOfThree[shard - 1]!,
            pid: pids[0]!
          })
        })
      }
      sessions = started
      for (const session of sessions) userMessages.set(session, [session.first])

      const joiner = await cluster.addNode({ CLUSTER_RUNNER_ADDRESS: joinerAddress })
      await cluster.waitReady()
      await settle("the three nodes own the shards the ring gives them", () => ownsAsTheRingSays(trio))

      // The old owners give up the sessions that moved: no CLI process is left for them anywhere
      // (the new owner starts one only for a turn); the sessions that stayed keep theirs.
      const moved = sessions.filter(({ before, during }) => before !== during)
      await settle(
        "the old owners stopped the CLI processes of the sessions that moved",
        () => moved.every(({ projectId }) => cluster.nodesRunning(projectId).length === 0)
      )
      for (const session of sessions.filter(({ before, during }) => before === during)) {
        expect(clisOf(nodeAt(session.before), session.projectId), `session #${session.index}\n${report()}`).toEqual([
          session.pid
        ])
      }

      // The next turn of each, through any node: the moved ones on the joiner (or wherever the ring
      // moved them), with the conversation from the log; the others on the same warm process.
      const said = await nextTurns(
        [one, two, joiner],
        userMessages,
        ({ before }) => before,
        ({ during }) => during
      )
      for (const session of sessions) {
        const [pid] = clisOf(nodeAt(session.during), session.projectId)
        if (session.before === session.during) expect(pid, `session #${session.index}\n${report()}`).toBe(session.pid)
        session.pid = pid!
        userMessages.set(session, [session.first, said.get(session)!])
      }
      joined = true
    },
    60_000
  )

  it(
    "a leaving node (SIGTERM) gives its sessions back; the others keep their owner and their warm process again",
    async () => {
      expect(joined, "the joining test got to its end").toBe(true)
      const joiner = nodeAt(joinerAddress)
      const pair = cluster.nodes.filter((node) => node !== joiner).map(({ runnerAddress }) => runnerAddress!)
      await joiner.kill("SIGTERM")
      expect(joiner.cliProcesses(), `${joiner.name}'s CLI processes after it exited`).toEqual([])
      await cluster.waitReady()
      await settle("the two nodes own the shards the ring gives them", () => ownsAsTheRingSays(pair))

      // Back to the owners of before the join: what moved goes back, what did not stays put.
      const returning = sessions.filter(({ before, during }) => before !== during)
      await settle(
        "the sessions that had moved have no CLI process left",
        () => returning.every(({ projectId }) => cluster.nodesRunning(projectId).length === 0)
      )
      for (const session of sessions.filter(({ before, during }) => before === during)) {
        expect(clisOf(nodeAt(session.before), session.projectId), `session #${session.index}\n${report()}`).toEqual([
          session.pid
        ])
      }

      await nextTurns(cluster.live(), userMessages, ({ during }) => during, ({ before }) => before)
      for (const session of sessions.filter(({ before, during }) => before === during)) {
        expect(clisOf(nodeAt(session.before), session.projectId), `session #${session.index}\n${report()}`).toEqual([
          session.pid
        ])
      }
    },
    45_000
  )
})
