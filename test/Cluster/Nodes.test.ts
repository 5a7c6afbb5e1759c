/**
 * Three gateway nodes on one Postgres, as three machines would run them (separate processes,
 * project roots and homes; the real CLI against the fake Anthropic API; see
 * test/support/ClusterNodes.ts), driven with the official `openai` SDK and `fetch` against
 * different nodes: a session continued on other nodes than the one that started it, streaming
 * through a node that does not own the session, one turn at a time per session across nodes,
 * cancelling from any node, the lists and the live event stream on every node, and the owner
 * leaving (SIGTERM) or dying (SIGKILL) with its sessions continuing on the others.
 *
 * A session's owner is the node whose project root holds its warm CLI process: each session
 * here runs in a project of its own, so the CLI's working directory names it.
 */
import * as NodePath from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster, type ClusterNode, startCluster } from "../support/ClusterNodes.js"
import { childrenOf } from "../support/processes.js"
import { SseFrames } from "../support/sse.js"

const MODEL = "claude-sonnet-4-5-20250929"

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam
type Completion = OpenAI.Chat.Completions.ChatCompletion & { readonly session_id: string }

interface EventJson {
  readonly id: number
  readonly type: string
  readonly data: { readonly turnId?: string; readonly reason?: string; readonly text?: string }
}

interface ErrorBody {
  readonly error: { readonly code: string | null }
}

let cluster: Cluster

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 8)}`
const user = (content: string): Message => ({ role: "user", content })
const assistant = (content: string): Message => ({ role: "assistant", content })
const textOf = (completion: OpenAI.Chat.Completions.ChatCompletion) => completion.choices[0]?.message.content ?? ""

/** A chat completion through `node` with the `openai` SDK; `timeoutMs` bounds the request. */
const chat = async (
  node: ClusterNode,
  messages: ReadonlyArray<Message>,
  extras: { readonly session_id?: string; readonly project_id?: string } = {},
  timeoutMs = 30_000
): Promise<Completion> => {
  const client = new OpenAI({ baseURL: node.baseURL, apiKey: "test", maxRetries: 0, timeout: timeoutMs })
  const params = { model: MODEL, messages: [...messages], ...extras }
  return (await client.chat.completions.create(
    params as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming
  )) as Completion
}

const postChat = async (node: ClusterNode, body: Record<string, unknown>) => {
  const response = await fetch(`${node.baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, ...body })
  })
  return { status: response.status, body: (await response.json()) as unknown }
}

const getJson = async <A>(url: string): Promise<A> => {
  const response = await fetch(url)
  expect(response.status, `GET ${url}`).toBe(200)
  return (await response.json()) as A
}

const eventsOf = async (node: ClusterNode, sessionId: string): Promise<ReadonlyArray<EventJson>> =>
  (await getJson<{ readonly data: ReadonlyArray<EventJson> }>(
    `${node.baseURL}/sessions/${sessionId}/events?limit=1000`
  ))
    .data

const isTurnEnd = (event: EventJson) => /^Turn(Completed|Failed|Cancelled)$/.test(event.type)

/** What the model was given (the messages, as JSON) in the fake API's last request whose last message holds `marker`. */
const upstreamFor = (marker: string): string => {
  const calls = cluster.fake.requests.filter((request) => {
    const messages = (request.body as { readonly messages?: ReadonlyArray<unknown> } | null)?.messages ?? []
    return request.path === "/v1/messages" && JSON.stringify(messages[messages.length - 1] ?? null).includes(marker)
  })
  const call = calls[calls.length - 1]
  if (call === undefined) throw new Error(`the fake API received no request ending with ${marker}`)
  return JSON.stringify((call.body as { readonly messages: unknown }).messages)
}

/** A node's CLI processes in the project's directory. */
const clisOf = (node: ClusterNode, projectId: string) =>
  node.cliProcesses().filter(({ cwd }) => cwd === NodePath.join(node.projectRoot, projectId)).map(({ pid }) => pid)

/** Every CLI process in the project's directory on any node's folder, and which node started it (for failure messages). */
const cliReport = (projectId: string) =>
  cluster.nodes.flatMap((node) =>
    node.cliProcesses().filter(({ cwd }) => NodePath.basename(cwd) === projectId).map(({ cwd, pid }) => {
      const parent = cluster.nodes.find((candidate) => childrenOf(candidate.pid).includes(pid))
      return `CLI ${pid} started by ${parent?.name ?? "no live node"} runs in ${cwd}`
    })
  ).join("; ")

/** The one live node that runs the project's CLI in its own project root (the session's owner), or a failure. */
const ownerOf = (projectId: string) => {
  const owners = cluster.nodesRunning(projectId)
  expect(owners.map((node) => node.name), `the node that runs ${projectId}: ${cliReport(projectId)}`).toHaveLength(1)
  return owners[0]!
}

/** A new session's first turn through `via`, in a project of its own; its owner is the node that runs its CLI. */
const firstTurn = async (via: ClusterNode) => {
  const projectId = unique("project")
  const marker = unique("first")
  const completion = await chat(via, [user(marker)], { project_id: projectId })
  expect(textOf(completion)).toContain(`You said: ${marker}.`)
  const owner = ownerOf(projectId)
  return {
    projectId,
    marker,
    completion,
    sessionId: completion.session_id,
    owner,
    others: cluster.live().filter((node) => node !== owner)
  }
}

/** Polls `probe` until it gives a value, failing once `deadline` (epoch ms) has passed. */
const eventually = async <A>(what: string, deadline: number, probe: () => Promise<A | undefined>): Promise<A> => {
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await sleep(100)
  }
}

/** A streamed chat turn through `node`, once its headers are in. */
const streamChat = async (node: ClusterNode, body: Record<string, unknown>): Promise<SseFrames> => {
  const response = await fetch(`${node.baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, stream: true, ...body })
  })
  if (response.status !== 200) throw new Error(`${node.name} answered ${response.status}: ${await response.text()}`)
  return new SseFrames(response.body!)
}

/** The `data:` lines of frames (comments and `id:`/`event:` lines left out). */
const dataLines = (frames: ReadonlyArray<string>) =>
  frames.flatMap((frame) => frame.split("\n").filter((line) => line.startsWith("data: ")))

const deltaOf = (line: string): string => {
  if (line === "data: [DONE]") return ""
  const chunk = JSON.parse(line.slice("data: ".length)) as {
    readonly choices?: ReadonlyArray<{ readonly delta?: { readonly content?: string | null } }>
  }
  return chunk.choices?.[0]?.delta?.content ?? ""
}

const hasContent = (frame: string) => dataLines([frame]).some((line) => deltaOf(line).length > 0)

describe("three gateway nodes on one Postgres", () => {
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 })
  }, 90_000)

  afterAll(async () => {
    const left = await cluster?.close()
    expect(left, "CLI processes left when the nodes were stopped").toEqual([])
  }, 60_000)

  it("continues a session started on one node on the two others, by session_id and by the resent history", async () => {
    const [a, b, c] = cluster.live() as [ClusterNode, ClusterNode, ClusterNode]
    const first = await firstTurn(a)
    const cli = clisOf(first.owner, first.projectId)
    expect(cli).toHaveLength(1)

    const second = unique("second")
    const two = await chat(b, [user(second)], { session_id: first.sessionId })
    expect(two.session_id).toBe(first.sessionId)
    expect(textOf(two)).toContain(`You said: ${second}.`)
    expect(textOf(two)).toContain(`[first=${first.marker}]`)
    expect(textOf(two)).toContain("[user_msgs=2 ")

    // A stateless client: the whole history again, no session id.
    const third = unique("third")
    const three = await chat(c, [
      user(first.marker),
      assistant(textOf(first.completion)),
      user(second),
      assistant(textOf(two)),
      user(third)
    ], { project_id: first.projectId })
    expect(three.session_id).toBe(first.sessionId)
    expect(textOf(three)).toContain(`You said: ${third}.`)
    expect(textOf(three)).toContain("[user_msgs=3 ")
    const seen = upstreamFor(third)
    expect(seen).toContain(first.marker)
    expect(seen).toContain(second)

    // One session in the log, its three turns run by its owner's one warm CLI process.
    const listed = await getJson<{ readonly data: ReadonlyArray<{ id: string; turn_count: number }> }>(
      `${a.baseURL}/sessions?project_id=${first.projectId}`
    )
    expect(listed.data.map(({ id, turn_count }) => ({ id, turn_count }))).toEqual([
      { id: first.sessionId, turn_count: 3 }
    ])
    expect(cluster.nodesRunning(first.projectId).map((node) => node.name)).toEqual([first.owner.name])
    expect(clisOf(first.owner, first.projectId)).toEqual(cli)
  })

  it("streams through a node that does not own the session: deltas as they come, [DONE], the frames the owner recorded", async () => {
    const first = await firstTurn(cluster.live()[0]!)
    const via = first.others[0]!
    const prompt = `${unique("streamed")} SCENARIO_SLOW`
    const stream = await streamChat(via, { session_id: first.sessionId, messages: [user(prompt)] })
    expect(await stream.until(hasContent, 15_000)).not.toBeNull()
    // The first delta is passed on while the turn still runs on its owner.
    const status = await getJson<{ readonly is_running: boolean }>(
      `${first.owner.baseURL}/chat/completions/${first.sessionId}/status`
    )
    expect(status.is_running).toBe(true)
    await stream.rest(15_000)

    const lines = dataLines(stream.frames)
    expect(lines[lines.length - 1]).toBe("data: [DONE]")
    expect(lines.filter((line) => deltaOf(line).length > 0).length).toBeGreaterThan(1)
    expect(lines.map(deltaOf).join("")).toContain(`You said: ${prompt}.`)
    expect(lines.some((line) => line.includes("\"finish_reason\":\"stop\""))).toBe(true)

    // The same frames as the owner recorded for the turn.
    const events = await eventsOf(first.owner, first.sessionId)
    const turnId = events.filter((event) => event.type === "TurnCompleted").at(-1)?.data.turnId
    const replay = await fetch(
      `${first.owner.baseURL}/sessions/${first.sessionId}/events?stream=true&format=chunks&turn_id=${turnId}`
    )
    const replayed = new SseFrames(replay.body!)
    await replayed.rest(15_000)
    expect(dataLines(replayed.frames)).toEqual(lines)
  })

  it("runs one turn at a time per session whichever nodes two requests reach (409 session_busy), and two sessions at once", async () => {
    const first = await firstTurn(cluster.live()[0]!)
    const [other, another] = first.others as [ClusterNode, ClusterNode]
    for (const pair of [[other, another], [first.owner, other]]) {
      const answers = await Promise.all(
        pair.map((node) =>
          postChat(node, { session_id: first.sessionId, messages: [user(`${unique("race")} SCENARIO_SLOW`)] })
        )
      )
      expect(answers.map(({ status }) => status).sort(), JSON.stringify(answers)).toEqual([200, 409])
      expect((answers.find(({ status }) => status === 409)!.body as ErrorBody).error.code).toBe("session_busy")
    }

    const [x, y] = [unique("apart-x"), unique("apart-y")]
    const [one, two] = await Promise.all([
      chat(other, [user(x)], { project_id: unique("project") }),
      chat(another, [user(y)], { project_id: unique("project") })
    ])
    expect(textOf(one)).toContain(`You said: ${x}.`)
    expect(textOf(two)).toContain(`You said: ${y}.`)
    expect(one.session_id).not.toBe(two.session_id)
  })

  it("cancels a turn running on its owner from another node", async () => {
    const first = await firstTurn(cluster.live()[0]!)
    const stream = await streamChat(first.owner, {
      session_id: first.sessionId,
      messages: [user(`${unique("cancel-me")} SCENARIO_SLOW`)]
    })
    expect(await stream.until(hasContent, 15_000)).not.toBeNull()

    const cancel = await fetch(`${first.others[0]!.baseURL}/chat/completions/${first.sessionId}`, { method: "DELETE" })
    expect(cancel.status).toBe(200)
    expect(await cancel.json()).toMatchObject({ cancelled: true, status: "cancelled", session_id: first.sessionId })
    await stream.rest(15_000)
    const lines = dataLines(stream.frames)
    expect(lines[lines.length - 1]).toBe("data: [DONE]")
    expect((JSON.parse(lines[lines.length - 2]!.slice("data: ".length)) as ErrorBody).error.code).toBe(
      "turn_cancelled"
    )

    const events = await eventsOf(first.others[1]!, first.sessionId)
    expect(events[events.length - 1]).toMatchObject({ type: "TurnCancelled", data: { reason: "client" } })
  })

  it("lists on every node the sessions created through every node", async () => {
    const projectId = unique("listed")
    const created: Array<string> = []
    for (const node of cluster.live()) {
      const response = await fetch(`${node.baseURL}/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ project_id: projectId })
      })
      expect(response.status).toBe(201)
      created.push(((await response.json()) as { readonly id: string }).id)
    }
    for (const node of cluster.live()) {
      const listed = await getJson<{ readonly data: ReadonlyArray<{ readonly id: string }> }>(
        `${node.baseURL}/sessions?project_id=${projectId}`
      )
      expect(listed.data.map(({ id }) => id).sort(), node.name).toEqual([...created].sort())
    }
  })

  it("follows a session's events live on a node that does not own it", async () => {
    const first = await firstTurn(cluster.live()[0]!)
    const [follower, via] = first.others as [ClusterNode, ClusterNode]
    const after = (await eventsOf(follower, first.sessionId)).at(-1)!.id
    const follow = await fetch(`${follower.baseURL}/sessions/${first.sessionId}/events?stream=true&after=${after}`)
    expect(follow.status).toBe(200)
    const followed = new SseFrames(follow.body!)
    // The first frame (a comment) says the stream is open before the turn starts.
    expect(await followed.until(() => true, 15_000)).not.toBeNull()

    let answered = false
    const prompt = `${unique("followed")} SCENARIO_SLOW`
    const answer = chat(via, [user(prompt)], { session_id: first.sessionId }).finally(() => (answered = true))
    expect(await followed.until((frame) => frame.includes("event: TextDelta"), 15_000)).not.toBeNull()
    expect(answered, "the turn's answer came before its first delta was followed").toBe(false)
    expect(await followed.until((frame) => frame.includes("event: TurnCompleted"), 15_000)).not.toBeNull()
    await followed.cancel()

    const events = dataLines(followed.frames).map((line) => JSON.parse(line.slice("data: ".length)) as EventJson)
    expect(events[0]?.type).toBe("TurnStarted")
    const text = events.filter((event) => event.type === "TextDelta").map((event) => event.data.text).join("")
    expect(text).toBe(textOf(await answer))
  })

  it(
    "continues a session on another node after its owner leaves (SIGTERM); no CLI process outlives the node",
    async () => {
      const first = await firstTurn(cluster.live()[0]!)
      await first.owner.kill("SIGTERM")
      expect(first.owner.cliProcesses(), `${first.owner.name}'s CLI processes after it exited`).toEqual([])

      // The next turn goes to a surviving node at once: it answers within the client's bound.
      const next = unique("after-sigterm")
      const answer = await chat(first.others[0]!, [user(next)], { session_id: first.sessionId }, 20_000)
      expect(answer.session_id).toBe(first.sessionId)
      expect(textOf(answer)).toMatch(/^Hello from fake-anthropic\. /)
      expect(upstreamFor(next)).toContain(first.marker)
      expect(first.others.map((node) => node.name)).toContain(ownerOf(first.projectId).name)
    },
    60_000
  )

  it("records the turn of a SIGKILLed owner as interrupted and continues the session on a survivor", async () => {
    await cluster.waitReady()
    const first = await firstTurn(cluster.live()[0]!)
    const via = first.others[0]!
    const stream = await streamChat(via, {
      session_id: first.sessionId,
      messages: [user(`${unique("killed")} SCENARIO_SLOW`)]
    })
    expect(await stream.until(hasContent, 15_000)).not.toBeNull()
    const { turn_id } = await getJson<{ readonly turn_id: string | null }>(
      `${via.baseURL}/chat/completions/${first.sessionId}/status`
    )
    expect(turn_id).not.toBeNull()

    await first.owner.kill("SIGKILL")
    const killedAt = Date.now()
    // The client is not left waiting on a stream nobody writes to.
    await stream.rest(15_000)
    expect(stream.cutOff).toBe(false)

    const end = await eventually("the killed turn's end in the log", killedAt + 15_000, async () => {
      const events = await eventsOf(via, first.sessionId)
      const ends = events.filter((event) => event.data.turnId === turn_id && isTurnEnd(event))
      return ends.length > 0 ? ends : undefined
    })
    expect(end).toHaveLength(1)
    expect(["TurnCancelled", "TurnFailed"], JSON.stringify(end[0])).toContain(end[0]!.type)

    const next = unique("after-sigkill")
    const bound = Math.max(1_000, killedAt + 20_000 - Date.now())
    const answer = await chat(via, [user(next)], { session_id: first.sessionId }, bound)
    expect(answer.session_id).toBe(first.sessionId)
    expect(textOf(answer)).toMatch(/^Hello from fake-anthropic\. /)
    expect(upstreamFor(next)).toContain(first.marker)
    expect(first.others.map((node) => node.name)).toContain(ownerOf(first.projectId).name)
  }, 60_000)
})
