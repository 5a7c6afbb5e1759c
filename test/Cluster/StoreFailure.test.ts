/**
 * Every turn ends for its reader on every node: when the owner cannot record a streamed turn's end
 * (the database refuses its writes), a client reading the turn through another node gets the error
 * and `[DONE]` at once, as one on the owner does, although the log it reads never shows an end;
 * once the database takes writes again, the owner records the end and the session goes on. And a
 * node whose database is gone still stops when told to, its CLI processes first.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MODEL, ownerOf, postChat, request, ssePayloads, unique } from "../support/ClusterClient.js"
import { type Cluster, startCluster } from "../support/ClusterNodes.js"
import { gatewayRole } from "../support/Postgres.js"

let cluster: Cluster

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, env: { RATE_LIMIT_PER_MINUTE: "0" } })
}, 120_000)

afterAll(async () => {
  await cluster?.close()
}, 60_000)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs a statement as the superuser in the nodes' database. */
const asSuperuser = (statement: string) =>
  cluster.postgres.run(statement, new URL(cluster.databaseUrl).pathname.slice(1))

describe("a turn whose end the owner cannot record", () => {
  it("ends for its reader on another node with the error, and is recorded once the database takes writes", async () => {
    const projectId = unique("project")
    const opening = await postChat(cluster.live()[0]!, {
      project_id: projectId,
      messages: [{ role: "user", content: "hi" }]
    })
    expect(opening.status, opening.text).toBe(200)
    const sessionId = opening.json.session_id as string
    const owner = ownerOf(cluster, projectId)
    const other = cluster.live().find((node) => node !== owner)!

    const response = await fetch(`${other.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        session_id: sessionId,
        stream: true,
        messages: [{ role: "user", content: `${unique("refused")} SCENARIO_SLOW` }]
      }),
      signal: AbortSignal.timeout(60_000)
    })
    expect(response.status).toBe(200)
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ""
    while (!ssePayloads(text).some((payload) => payload.includes("\"content\""))) {
      const { done, value } = await reader.read()
      if (done) throw new Error(`the stream ended before any content: ${text}`)
      text += value
    }

    await asSuperuser(`REVOKE INSERT ON session_events FROM ${gatewayRole}`)
    let granted = false
    try {
      // Read to the end while the database still refuses: the end comes from the owner, not the log.
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        text += value
      }
      const payloads = ssePayloads(text)
      expect(payloads.at(-1)).toBe("[DONE]")
      const error = JSON.parse(payloads.at(-2)!) as { readonly error: { readonly code: string } }
      expect(error.error.code).toBe("storage_unavailable")
    } finally {
      await asSuperuser(`GRANT INSERT ON session_events TO ${gatewayRole}`)
      granted = true
    }
    expect(granted).toBe(true)

    // The owner retries the end until the log takes it.
    let events: ReadonlyArray<{ readonly type: string }> = []
    for (let waited = 0; waited < 20_000; waited += 250) {
      const reply = await request(other, `/v1/sessions/${sessionId}/events?limit=1000`)
      events = reply.json.data
      if (/^Turn(Completed|Failed|Cancelled)$/.test(events.at(-1)?.type ?? "")) break
      await sleep(250)
    }
    expect(events.at(-1)?.type).toBe("TurnFailed")

    const next = await postChat(other, { session_id: sessionId, messages: [{ role: "user", content: "again" }] })
    expect(next.status, next.text).toBe(200)
  }, 90_000)

  it("a node that cannot reach its database any more stops on SIGTERM, leaving no CLI process", async () => {
    const projectId = unique("project")
    const opening = await postChat(cluster.live()[0]!, {
      project_id: projectId,
      messages: [{ role: "user", content: "hi" }]
    })
    expect(opening.status, opening.text).toBe(200)
    const owner = ownerOf(cluster, projectId)
    expect(owner.cliProcesses().length).toBeGreaterThan(0)

    const database = new URL(cluster.databaseUrl).pathname.slice(1)
    await cluster.postgres.run(`REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC, ${gatewayRole}`)
    await cluster.postgres.run(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`)
    try {
      await sleep(1_000)
      // The harness fails this when the node has not exited within 20 s (the gateway's bound is 10 s).
      await owner.kill("SIGTERM")
      expect(owner.cliProcesses()).toEqual([])
    } finally {
      await cluster.postgres.run(`GRANT CONNECT ON DATABASE ${database} TO ${gatewayRole}`)
    }
  }, 60_000)
})
