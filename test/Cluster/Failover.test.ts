/**
 * The cluster's promise, end to end: three gateway nodes on one Postgres (the real CLI against
 * the fake Anthropic API; see test/support/ClusterNodes.ts) serve a stream of mixed sessions
 * from a round-robin client (six conversations at once, each turn to the next node: streamed or
 * not, continued by `session_id` or by the resent history), and the node that runs the most
 * sessions is killed (SIGKILL) in the middle of it. Every conversation goes on to its last turn on
 * the surviving nodes; every answer the client got whole is in the log, in order, in its session;
 * no request reaches the client's bound. A request caught by the kill may fail: the client, as a
 * client would, tries it once more (on the next node), and that must succeed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { clisOf, eventsOf, postChat, streamedAnswer, unique } from "../support/ClusterClient.js"
import { type Cluster, type ClusterNode, startCluster } from "../support/ClusterNodes.js"

const conversationCount = 6
const turnsEach = 6
/** The client's bound on each request, body included. */
const boundMs = 15_000
/** How long the client waits before it retries a failed request. */
const retryAfterMs = 1_000
/** The kill comes this long after every conversation is two turns in, with their next turns under way. */
const killDelayMs = 300

interface Conversation {
  readonly index: number
  readonly label: string
  readonly projectId: string
  readonly history: Array<{ readonly role: "user" | "assistant"; readonly content: string }>
  /** The turns the client got whole. */
  readonly acked: Array<Acked>
}

interface Acked {
  readonly turn: number
  readonly sessionId: string
  readonly content: string
  readonly text: string
  readonly startedAt: number
  /** Sent with the whole history and no session id. */
  readonly byHistory: boolean
}

interface Attempt {
  readonly conversation: string
  readonly turn: number
  readonly node: string
  readonly streamed: boolean
  readonly byHistory: boolean
  readonly retry: boolean
  readonly startedAt: number
  readonly ms: number
  /** `ok`, `timeout`, or what went wrong. */
  readonly outcome: string
}

let cluster: Cluster

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const until = async (condition: () => boolean) => {
  while (!condition()) await sleep(20)
}

/** The load balancer in front of the nodes: round robin, skipping a node once it knows it is down. */
class RoundRobin {
  private next = 0
  private readonly down = new Set<ClusterNode>()
  constructor(private readonly nodes: ReadonlyArray<ClusterNode>) {}

  pick(): ClusterNode {
    for (;;) {
      const node = this.nodes[this.next++ % this.nodes.length]!
      if (!this.down.has(node)) return node
    }
  }

  markDown(node: ClusterNode) {
    this.down.add(node)
  }
}

/**
 * One try of the conversation's next turn through `node`, bounded: streamed or not, by
 * `session_id` or by the resent history, as the conversation and the turn choose.
 */
const tryTurn = async (node: ClusterNode, conversation: Conversation, turn: number, content: string) => {
  const streamed = (conversation.index + turn) % 2 === 0
  const sessionId = conversation.acked.at(-1)?.sessionId
  const byHistory = sessionId === undefined || (conversation.index + turn) % 3 === 0
  const startedAt = Date.now()
  let outcome = "ok"
  let answer: { readonly sessionId: string; readonly text: string } | undefined
  try {
    const reply = await postChat(node, {
      project_id: conversation.projectId,
      stream: streamed,
      messages: [...(byHistory ? conversation.history : []), { role: "user", content }],
      ...(byHistory ? {} : { session_id: sessionId })
    }, { timeoutMs: boundMs })
    if (reply.status !== 200) outcome = `${reply.status}: ${reply.text.slice(0, 400)}`
    else if (streamed) {
      const { complete, text } = streamedAnswer(reply.text)
      if (complete) answer = { sessionId: reply.headers.get("x-session-id")!, text }
      else outcome = `an incomplete stream: ${reply.text.slice(-400)}`
    } else {
      const choice = reply.json.choices[0]
      if (choice.finish_reason === "stop") answer = { sessionId: reply.json.session_id, text: choice.message.content }
      else outcome = `finish_reason ${choice.finish_reason}: ${reply.text.slice(0, 400)}`
    }
  } catch (error) {
    const cause = (error as { readonly cause?: unknown }).cause
    outcome = (error as Error).name === "TimeoutError"
      ? "timeout"
      : `${String(error)}${cause === undefined ? "" : ` (${String(cause)})`}`
  }
  const attempt = { conversation: conversation.label, turn, node: node.name, streamed, byHistory, startedAt, outcome }
  return { attempt: { ...attempt, ms: Date.now() - startedAt }, answer }
}

/** A session's turns in the log: the ids started, how each ended, and the texts of the completed ones, in order. */
const turnsInLog = async (node: ClusterNode, sessionId: string) => {
  const events = await eventsOf(node, sessionId)
  const ends = events.filter((event) => /^Turn(Completed|Failed|Cancelled)$/.test(event.type))
  return {
    started: events.filter((event) => event.type === "TurnStarted").map((event) => event.data.turnId as string),
    ended: ends.map((event) => `${event.type}${event.data.reason === undefined ? "" : `:${event.data.reason}`}`),
    texts: ends.filter((event) => event.type === "TurnCompleted").map((end) =>
      events.filter((event) => event.type === "TextDelta" && event.data.turnId === end.data.turnId)
        .map((event) => event.data.text).join("")
    )
  }
}

/** Whether `wanted` appears in `within` in the same order (other items may lie between). */
const isOrderedSubsequence = (wanted: ReadonlyArray<string>, within: ReadonlyArray<string>) => {
  let at = 0
  for (const item of within) if (at < wanted.length && item === wanted[at]) at++
  return at === wanted.length
}

/** The fake API's last request that mentions `marker`, as JSON. */
const upstreamWith = (marker: string) =>
  JSON.stringify(
    cluster.fake.requests.filter((recorded) =>
      recorded.path === "/v1/messages" && JSON.stringify(recorded.body).includes(marker)
    ).at(-1)?.body ?? null
  )

describe("three nodes serve a round-robin stream of sessions while one is killed", () => {
  beforeAll(async () => {
    // Some forty turns in half a minute: the per-key rate limit is not what this is about.
    cluster = await startCluster({ nodes: 3, env: { RATE_LIMIT_PER_MINUTE: "0" } })
  }, 90_000)

  afterAll(async () => {
    const left = await cluster?.close()
    expect(left, "CLI processes left when the nodes were stopped").toEqual([])
  }, 60_000)

  it(
    "continues every session on the survivors, loses nothing acknowledged, and answers every request within its bound",
    async () => {
      const nodes = cluster.live()
      const balancer = new RoundRobin(nodes)
      const attempts: Array<Attempt> = []
      const conversations: ReadonlyArray<Conversation> = Array.from({ length: conversationCount }, (_, index) => ({
        index,
        label: `conversation-${index}`,
        projectId: unique(`failover-${index}`),
        history: [],
        acked: []
      }))

      let kill: { readonly victim: ClusterNode; readonly at: number; readonly ran: ReadonlyArray<string> } | undefined
      let killing: Promise<void> | undefined
      /** Set once a conversation has failed: the others stop rather than wait for it. */
      let stopped = false
      /** The node that runs the most of the conversations' CLIs goes, as the load balancer learns. */
      const killTheBusiestNode = async () => {
        await sleep(killDelayMs)
        const ran = (node: ClusterNode) =>
          conversations.filter((conversation) => clisOf(node, conversation.projectId).length > 0).map(({ label }) =>
            label
          )
        const victim = [...nodes].sort((x, y) => ran(y).length - ran(x).length)[0]!
        balancer.markDown(victim)
        kill = { victim, at: Date.now(), ran: ran(victim) }
        await victim.kill("SIGKILL")
      }

      const converse = async (conversation: Conversation) => {
        for (let turn = 0; turn < turnsEach; turn++) {
          // The conversations keep within two turns of each other, so the kill finds them all mid-way.
          await until(() => stopped || conversations.every(({ acked }) => acked.length >= turn - 1))
          if (stopped) throw new Error(`${conversation.label}: stopped at turn ${turn}, another conversation failed`)
          const content = `${conversation.label} turn ${turn} ${unique("says")}`
          let answer: Acked | undefined
          for (const retry of [false, true]) {
            if (retry) await sleep(retryAfterMs)
            const tried = await tryTurn(balancer.pick(), conversation, turn, content)
            attempts.push({ ...tried.attempt, retry })
            if (tried.answer === undefined) continue
            const { byHistory, startedAt } = tried.attempt
            answer = { turn, content, startedAt, byHistory, ...tried.answer }
            break
          }
          if (answer === undefined) {
            throw new Error(
              `${conversation.label}: turn ${turn} failed, and again when retried`
            )
          }
          conversation.history.push({ role: "user", content }, { role: "assistant", content: answer.text })
          conversation.acked.push(answer)
          if (killing === undefined && conversations.every(({ acked }) => acked.length >= 2)) {
            killing = killTheBusiestNode()
          }
        }
      }

      const results = await Promise.allSettled(
        conversations.map((conversation) =>
          converse(conversation).catch((error) => {
            stopped = true
            throw error
          })
        )
      )
      await killing
      const report = () =>
        [
          `killed ${kill?.victim.name} at ${kill?.at}, which ran ${kill?.ran.join(", ")}`,
          ...attempts.filter((attempt) => attempt.outcome !== "ok" || attempt.retry).map((attempt) =>
            JSON.stringify(attempt)
          ),
          ...cluster.nodes.map((node) => `${node.name}:\n${node.output().slice(-4_000)}`)
        ].join("\n")
      expect(results.flatMap((result) => result.status === "rejected" ? [String(result.reason)] : []), report())
        .toEqual([])
      expect(kill, "the kill").toBeDefined()
      const { at: killedAt, ran, victim } = kill!
      expect(ran.length, "the killed node ran sessions").toBeGreaterThan(0)

      // No request reached the client's bound; the only failures were tries the kill caught.
      expect(attempts.filter((attempt) => attempt.outcome === "timeout"), report()).toEqual([])
      const failed = attempts.filter((attempt) => attempt.outcome !== "ok")
      expect(failed.filter((attempt) => attempt.retry || attempt.startedAt > killedAt), report()).toEqual([])

      const survivors = cluster.live()
      expect(survivors.map((node) => node.name)).not.toContain(victim.name)
      for (const conversation of conversations) {
        const { acked, label } = conversation
        expect(acked.map(({ turn }) => turn), label).toEqual(Array.from({ length: turnsEach }, (_, turn) => turn))
        // The killed node's sessions went on elsewhere.
        if (ran.includes(label)) expect(acked.some(({ startedAt }) => startedAt > killedAt), label).toBe(true)
        // At every turn the model was given the conversation from its start.
        for (const { content } of acked.slice(1)) expect(upstreamWith(content), label).toContain(acked[0]!.content)
        // In the log: every answer the client got, in order; every turn ended; no completed turn
        // besides those but the ones of failed tries (a try the kill cut off may have completed
        // its turn on a surviving owner).
        const failedTries = failed.filter((attempt) => attempt.conversation === label).length
        const logs = new Map<string, Awaited<ReturnType<typeof turnsInLog>>>()
        for (const sessionId of new Set(acked.map((turn) => turn.sessionId))) {
          const via = survivors[conversation.index % survivors.length]!
          const log = await turnsInLog(via, sessionId)
          logs.set(sessionId, log)
          const wanted = acked.filter((turn) => turn.sessionId === sessionId).map(({ text }) => text)
          const why = `${label}, session ${sessionId} read through ${via.name}: ${JSON.stringify({ wanted, log })}`
          expect(isOrderedSubsequence(wanted, log.texts), `${why}\n${report()}`).toBe(true)
          expect(log.texts.length - wanted.length, `${why}\n${report()}`).toBeLessThanOrEqual(failedTries)
          expect(log.ended, `${why}\n${report()}`).toHaveLength(log.started.length)
        }
        // One session throughout, unless a resent history no longer matched it: its session had
        // completed a turn whose answer never reached the client. Then, as for any edited
        // history, a session of its own goes on with the client's conversation.
        acked.forEach((turn, index) => {
          const before = acked[index - 1]
          if (before === undefined || turn.sessionId === before.sessionId) return
          const unacked = logs.get(before.sessionId)!.texts.filter((text) => !acked.some((seen) => seen.text === text))
          expect(
            { byHistory: turn.byHistory, unackedTurnBefore: unacked.length > 0 },
            `${label} changed sessions at turn ${turn.turn}\n${report()}`
          ).toEqual({ byHistory: true, unackedTurnBefore: true })
        })
      }
    },
    90_000
  )
})
