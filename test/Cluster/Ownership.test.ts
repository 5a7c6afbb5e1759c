/**
 * Sessions belong to the API key that created them on every node of a cluster: two gateway
 * nodes on one Postgres with `REQUIRE_AUTH` and two keys (the real CLI against the fake
 * Anthropic API; see test/support/ClusterNodes.ts). A session key one started through one node is
 * not there for key two on either node, whatever the route, and goes on for key one through the
 * other node, on its owner's warm process; key two cannot cancel key one's running turn either.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { clisOf, eventsOf, ownerOf, postChat, type Reply, request, unique } from "../support/ClusterClient.js"
import { type Cluster, type ClusterNode, startCluster } from "../support/ClusterNodes.js"

const keyOne = "cluster-ownership-key-one"
const keyTwo = "cluster-ownership-key-two"

let cluster: Cluster

const user = (content: string) => ({ role: "user", content })

/** The ids in a key's session list on `node`. */
const listedBy = async (node: ClusterNode, key: string): Promise<ReadonlyArray<string>> => {
  const reply = await request(node, "/v1/sessions?limit=100", { key })
  expect(reply.status, `key's session list on ${node.name}: ${reply.text}`).toBe(200)
  return reply.json.data.map((session: { readonly id: string }) => session.id)
}

const expectNotFound = (reply: Reply, what: string) => {
  expect(reply.status, `${what}: ${reply.text}`).toBe(404)
  expect(reply.json?.error?.code, what).toBe("session_not_found")
}

/** Whether the fake API ever received a request that mentions `marker`. */
const reachedTheModel = (marker: string) =>
  cluster.fake.requests.some((recorded) => JSON.stringify(recorded.body).includes(marker))

describe("sessions belong to their API key on every node of a cluster", () => {
  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 2,
      // Key two asks a dozen times per node in a second: the per-key rate limit is not what this is about.
      env: { REQUIRE_AUTH: "true", API_KEYS: `${keyOne},${keyTwo}`, RATE_LIMIT_PER_MINUTE: "0" }
    })
  }, 90_000)

  afterAll(async () => {
    const left = await cluster?.close()
    expect(left, "CLI processes left when the nodes were stopped").toEqual([])
  }, 60_000)

  it("hides a session key one started through node A from key two on both nodes, and continues it for key one through node B", async () => {
    const [a, b] = cluster.live() as [ClusterNode, ClusterNode]
    const projectId = unique("owned")
    const marker = unique("first")
    const first = await postChat(a, { project_id: projectId, messages: [user(marker)] }, { key: keyOne })
    expect(first.status, first.text).toBe(200)
    const sessionId: string = first.json.session_id
    const owner = ownerOf(cluster, projectId)
    const cli = clisOf(owner, projectId)
    expect(cli).toHaveLength(1)

    for (const node of [b, a]) {
      const on = `key two on ${node.name}${node === owner ? " (the owner)" : ""}`
      expectNotFound(await request(node, `/v1/sessions/${sessionId}`, { key: keyTwo }), `${on}: GET the session`)
      const intruder = unique("intruder")
      expectNotFound(
        await postChat(node, { session_id: sessionId, messages: [user(intruder)] }, { key: keyTwo }),
        `${on}: continue it by session_id`
      )
      expectNotFound(
        await postChat(node, { session_id: sessionId, stream: true, messages: [user(intruder)] }, { key: keyTwo }),
        `${on}: continue it by session_id, streamed`
      )
      expect(reachedTheModel(intruder), `${on}: the refused turn reached the model`).toBe(false)
      expectNotFound(
        await request(node, `/v1/sessions/${sessionId}/events`, { key: keyTwo }),
        `${on}: its events`
      )
      expectNotFound(
        await request(node, `/v1/sessions/${sessionId}/events?stream=true`, { key: keyTwo }),
        `${on}: its events, followed`
      )
      expectNotFound(
        await request(node, `/v1/sessions/${sessionId}/messages`, { key: keyTwo }),
        `${on}: its messages`
      )
      expectNotFound(
        await request(node, `/v1/chat/completions/${sessionId}/status`, { key: keyTwo }),
        `${on}: its status`
      )
      expectNotFound(
        await request(node, `/v1/sessions/${sessionId}`, { method: "DELETE", key: keyTwo }),
        `${on}: delete it`
      )
      expectNotFound(
        await request(node, `/v1/sessions/${sessionId}?purge=true`, { method: "DELETE", key: keyTwo }),
        `${on}: purge it`
      )
      expect(await listedBy(node, keyTwo), `${on}: the list`).not.toContain(sessionId)
      expect(await listedBy(node, keyOne), `key one's list on ${node.name}`).toContain(sessionId)
    }

    // Untouched by all that: open, one turn, and it goes on for key one through node B.
    const seen = await request(b, `/v1/sessions/${sessionId}`, { key: keyOne })
    expect(seen.status, seen.text).toBe(200)
    expect(seen.json).toMatchObject({ id: sessionId, status: "idle", turn_count: 1 })
    const second = unique("second")
    const next = await postChat(b, { session_id: sessionId, messages: [user(second)] }, { key: keyOne })
    expect(next.status, next.text).toBe(200)
    expect(next.json.session_id).toBe(sessionId)
    const text: string = next.json.choices[0].message.content
    expect(text).toContain(`You said: ${second}.`)
    expect(text).toContain(`[first=${marker}]`)
    expect(text).toContain("[user_msgs=2 ")
    // On the owner's warm process, whichever node took the request.
    expect(ownerOf(cluster, projectId)).toBe(owner)
    expect(clisOf(owner, projectId)).toEqual(cli)
  })

  it("does not let key two cancel key one's running turn from either node", async () => {
    const [a, b] = cluster.live() as [ClusterNode, ClusterNode]
    const first = await postChat(a, { messages: [user(unique("first"))] }, { key: keyOne })
    expect(first.status, first.text).toBe(200)
    const sessionId: string = first.json.session_id
    const slow = postChat(b, {
      session_id: sessionId,
      stream: true,
      messages: [user(`${unique("slow")} SCENARIO_SLOW`)]
    }, { key: keyOne })
    // Running on its owner, seen from node A.
    const deadline = Date.now() + 15_000
    for (;;) {
      const status = await request(a, `/v1/chat/completions/${sessionId}/status`, { key: keyOne })
      expect(status.status, status.text).toBe(200)
      if (status.json.is_running === true) break
      if (Date.now() > deadline) throw new Error(`the slow turn was not running: ${(await slow).text}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    for (const node of [a, b]) {
      expectNotFound(
        await request(node, `/v1/chat/completions/${sessionId}`, { method: "DELETE", key: keyTwo }),
        `key two cancels through ${node.name}`
      )
    }
    const answer = await slow
    expect(answer.status, answer.text).toBe(200)
    expect(answer.text).toContain("\"finish_reason\":\"stop\"")
    expect(answer.text.trimEnd().endsWith("data: [DONE]")).toBe(true)
    const events = await eventsOf(a, sessionId, keyOne)
    expect(events.filter((event) => /^Turn(Completed|Failed|Cancelled)$/.test(event.type)).map((event) => event.type))
      .toEqual(["TurnCompleted", "TurnCompleted"])
  })
})
