/**
 * A client's tools (OpenAI function calling) on a cluster of two gateway nodes (the real CLI
 * against the fake Anthropic API, which calls offered tools on cue: `SCENARIO_TOOL=<name>`; see
 * test/support/ClusterNodes.ts). The call is held on the CLI process of the session's owner; the
 * client's result, sent through the other node, reaches that very process (the upstream gets a
 * real `tool_result` for the model's own call id, no transcript), no CLI process starts on the
 * node that took the result, and the answer comes back through it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { clisOf, eventsOf, ownerOf, postChat, type Reply, streamedAnswer, unique } from "../support/ClusterClient.js"
import { type Cluster, type ClusterNode, startCluster } from "../support/ClusterNodes.js"
import { childrenOf } from "../support/processes.js"
import { weatherTool as weather } from "../support/tools.js"

let cluster: Cluster

const user = (content: string) => ({ role: "user", content })

const ok = (reply: Reply, what: string) => {
  expect(reply.status, `${what}: ${reply.text}`).toBe(200)
  return reply
}

/** The last message of the fake API's latest request that mentions `marker`. */
const lastUpstreamMessage = (marker: string): { readonly role: string; readonly content: unknown } => {
  const found = cluster.fake.requests.filter((recorded) =>
    recorded.path === "/v1/messages" && JSON.stringify(recorded.body).includes(marker)
  )
  const body = found.at(-1)?.body as { readonly messages: ReadonlyArray<{ role: string; content: unknown }> }
  expect(body, `an upstream request mentioning ${marker}`).toBeDefined()
  return body.messages.at(-1)!
}

/** The `tool_use_id`s of the tool_result blocks of an upstream message. */
const toolResultIds = (message: { readonly content: unknown }) =>
  (Array.isArray(message.content) ? message.content : []).filter((block) => block.type === "tool_result").map((
    block
  ) => block.tool_use_id)

/** The session's owner, the other node, and the owner's one CLI process in the project (a child of its gateway). */
const placement = (projectId: string) => {
  const owner = ownerOf(cluster, projectId)
  const other = cluster.live().find((node) => node !== owner)!
  const cli = clisOf(owner, projectId)
  expect(cli).toHaveLength(1)
  expect(childrenOf(owner.pid)).toContain(cli[0])
  return { owner, other, cli }
}

/** The CLI still holds the session on its owner alone: the same process, none on the other node. */
const expectStillOn = (projectId: string, owner: ClusterNode, cli: ReadonlyArray<number>) => {
  expect(cluster.nodesRunning(projectId).map((node) => node.name)).toEqual([owner.name])
  expect(clisOf(owner, projectId)).toEqual(cli)
}

describe("client tools on a cluster of two nodes", () => {
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2 })
  }, 90_000)

  afterAll(async () => {
    const left = await cluster?.close()
    expect(left, "CLI processes left when the nodes were stopped").toEqual([])
  }, 60_000)

  it("continues the owner's held call with the result sent by session_id through the other node", async () => {
    const projectId = unique("tools")
    const question = user(`SCENARIO_TOOL=get_weather ${unique("weather")}`)
    const first = ok(
      await postChat(cluster.live()[0]!, { project_id: projectId, messages: [question], tools: [weather] }),
      "the question"
    ).json
    expect(first.choices[0].finish_reason).toBe("tool_calls")
    const call = first.choices[0].message.tool_calls[0]
    expect(call).toMatchObject({
      type: "function",
      function: { name: "get_weather", arguments: "{\"city\":\"fake\"}" }
    })
    const { cli, other, owner } = placement(projectId)

    const result = unique("sunny")
    const answer = ok(
      await postChat(other, {
        session_id: first.session_id,
        messages: [{ role: "tool", tool_call_id: call.id, content: result }],
        tools: [weather]
      }),
      `the result through ${other.name}`
    ).json
    expect(answer.session_id).toBe(first.session_id)
    expect(answer.choices[0].finish_reason).toBe("stop")
    expect(answer.choices[0].message.content).toBe(`Tool said: ${result}`)
    // The held call got the client's result: the model's own call id, as a real tool result.
    expect(toolResultIds(lastUpstreamMessage(result))).toEqual([call.id])
    expectStillOn(projectId, owner, cli)

    const events = await eventsOf(other, first.session_id)
    const attached = events.filter((event) => event.type === "TurnAttached").map((event) => event.data.cliSessionId)
    expect(attached).toHaveLength(2)
    expect(new Set(attached).size).toBe(1)
    expect(events.filter((event) => event.type === "ToolCallsExpired")).toEqual([])
  })

  it("streams a call through the other node and continues it there from the resent history", async () => {
    const projectId = unique("streamed-tools")
    const hello = user(unique("hello"))
    const opening = ok(
      await postChat(cluster.live()[1]!, { project_id: projectId, messages: [hello], tools: [weather] }),
      "the opening"
    ).json
    const { cli, other, owner } = placement(projectId)
    const history = [hello, { role: "assistant", content: opening.choices[0].message.content }]

    // The call, streamed through the node that does not own the session.
    const question = user(`SCENARIO_TOOL=get_weather ${unique("streamed")}`)
    const streamed = ok(
      await postChat(other, { session_id: opening.session_id, stream: true, messages: [question], tools: [weather] }),
      `the question through ${other.name}`
    )
    expect(streamed.headers.get("x-session-id")).toBe(opening.session_id)
    const { chunks, complete, text } = streamedAnswer(streamed.text)
    expect(complete).toBe(true)
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls")
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? [])
    const id: string = deltas.find((delta: { id?: string }) => delta.id !== undefined).id
    const args = deltas.map((delta: { function: { arguments: string } }) => delta.function.arguments).join("")
    expect(args).toBe("{\"city\":\"fake\"}")
    expectStillOn(projectId, owner, cli)

    // A stateless client: the whole conversation again, the result last, through the same node.
    const result = unique("rainy")
    const continued = ok(
      await postChat(other, {
        project_id: projectId,
        stream: true,
        messages: [
          ...history,
          question,
          {
            role: "assistant",
            content: text,
            tool_calls: [{ id, type: "function", function: { name: "get_weather", arguments: args } }]
          },
          { role: "tool", tool_call_id: id, content: result }
        ],
        tools: [weather]
      }),
      `the result through ${other.name}`
    )
    expect(continued.headers.get("x-session-id")).toBe(opening.session_id)
    const answer = streamedAnswer(continued.text)
    expect(answer.complete).toBe(true)
    expect(answer.text).toBe(`Tool said: ${result}`)
    expect(toolResultIds(lastUpstreamMessage(result))).toEqual([id])
    expectStillOn(projectId, owner, cli)
  })
})
