/**
 * End to end: a client's own tools (OpenAI function calling) through the gateway, with the
 * REAL Claude Code CLI against the fake Anthropic API (which calls offered tools on cue:
 * `SCENARIO_TOOL=<name>`, `SCENARIO_TOOLS=<a>,<b>`). Raw `fetch` throughout, since the exact
 * wire shapes are what is tested; the SDKs have their own suite.
 *
 * What it shows: the calls come back as `tool_calls` (JSON and SSE), the client's results
 * continue the very CLI process that made the calls (the upstream gets real `tool_result`
 * blocks, not a transcript), errors and unanswered calls reach the model as such, a new user
 * message may follow the results, and when the held process is gone (cancelled, expired) the
 * conversation goes on from the log on a new process; nothing is left running.
 */
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { FakeAnthropic, RecordedRequest } from "../fixtures/FakeAnthropic.js"
import { type Gateway, realCliConfig, startGateway } from "../support/Gateway.js"
import { claudeProcessesLeftUnder, claudeProcessesUnder } from "../support/processes.js"
import { type RealCliSuite, startRealCliSuite } from "../support/RealCliSuite.js"
import { weatherTool as weather } from "../support/tools.js"

const MODEL = "claude-sonnet-4-5-20250929"

const time = {
  type: "function",
  function: {
    name: "get_time",
    description: "The time in a city",
    parameters: { type: "object", properties: { city: { type: "string" } } }
  }
} as const

interface ToolCallJson {
  readonly id: string
  readonly type: string
  readonly function: { readonly name: string; readonly arguments: string }
}
interface CompletionJson {
  readonly choices: ReadonlyArray<{
    readonly message: { readonly content: string | null; readonly tool_calls?: ReadonlyArray<ToolCallJson> }
    readonly finish_reason: string
  }>
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number }
  readonly session_id: string
}
interface EventJson {
  readonly id: number
  readonly type: string
  readonly data: Record<string, unknown>
}

let fake: FakeAnthropic
let gateway: Gateway
let suiteRoot: string
let homeDir: string
let suite: RealCliSuite | undefined
const extraGateways: Array<Gateway> = []

const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 8)}`

const post = async (base: string, body: unknown) => {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, ...(body as object) })
  })
  return { status: response.status, headers: response.headers, text: await response.text() }
}

const complete = async (body: unknown, base = gateway.url): Promise<CompletionJson> => {
  const response = await post(base, body)
  expect(response.status, response.text).toBe(200)
  return JSON.parse(response.text) as CompletionJson
}

/** The `data:` payloads of an SSE body, `[DONE]` included. */
const ssePayloads = (text: string): ReadonlyArray<string> =>
  text.split("\n\n").flatMap((frame) => frame.split("\n").filter((line) => line.startsWith("data: ")))
    .map((line) => line.slice("data: ".length))

const events = async (sessionId: string, base = gateway.url): Promise<ReadonlyArray<EventJson>> => {
  const response = await fetch(`${base}/v1/sessions/${sessionId}/events?limit=1000`)
  expect(response.status).toBe(200)
  return ((await response.json()) as { data: ReadonlyArray<EventJson> }).data
}

const upstreamCalls = (): ReadonlyArray<RecordedRequest> =>
  fake.requests.filter((request) => request.method === "POST" && request.path === "/v1/messages")

/** The last message of the upstream's latest request that contains `marker` anywhere. */
const lastUpstreamMessage = (marker: string) => {
  const found = upstreamCalls().filter((request) => JSON.stringify(request.body).includes(marker))
  const body = found[found.length - 1]?.body as { messages: ReadonlyArray<{ role: string; content: unknown }> }
  expect(body, `an upstream request mentioning ${marker}`).toBeDefined()
  return body.messages[body.messages.length - 1]!
}

/** The tool_result blocks of an upstream message. */
const toolResults = (message: { content: unknown }) =>
  (Array.isArray(message.content) ? message.content : []).filter(
    (block: { type?: string }) => block.type === "tool_result"
  ) as ReadonlyArray<{ tool_use_id: string; is_error?: boolean; content: unknown }>

const waitForNoCli = async (root: string) => expect(await claudeProcessesLeftUnder(root)).toEqual([])

describe("client tools with the real Claude Code CLI", () => {
  beforeAll(async () => {
    suite = await startRealCliSuite("cca-e2e-tools-")
    ;({ fake, gateway, home: homeDir, root: suiteRoot } = suite)
  })

  afterAll(async () => {
    for (const extra of extraGateways) await extra.close()
    expect(await suite?.close()).toEqual([])
  })

  it("answers with the call, then continues the same CLI process with the client's result", async () => {
    const question = { role: "user", content: `SCENARIO_TOOL=get_weather ${unique("weather")}` }
    const first = await complete({ messages: [question], tools: [weather] })
    const choice = first.choices[0]!
    expect(choice.finish_reason).toBe("tool_calls")
    expect(choice.message.content).toBe("Let me use get_weather.")
    expect(choice.message.tool_calls).toEqual([
      {
        id: expect.stringMatching(/^toolu_/),
        type: "function",
        function: { name: "get_weather", arguments: "{\"city\":\"fake\"}" }
      }
    ])
    expect(first.usage.prompt_tokens).toBeGreaterThan(0)
    // Claude Code's own tools are off: the model was offered the client's tool alone.
    const offered = (upstreamCalls().at(-1)!.body as { tools: ReadonlyArray<{ name: string }> }).tools
    expect(offered.map((tool) => tool.name)).toEqual(["get_weather"])

    const call = choice.message.tool_calls![0]!
    const followUp = await complete({
      messages: [
        question,
        { role: "assistant", content: choice.message.content, tool_calls: choice.message.tool_calls },
        { role: "tool", tool_call_id: call.id, content: "sunny, 21 C" }
      ],
      tools: [weather]
    })
    expect(followUp.session_id).toBe(first.session_id)
    expect(followUp.choices[0]!.finish_reason).toBe("stop")
    expect(followUp.choices[0]!.message.content).toBe("Tool said: sunny, 21 C")
    // The upstream saw a real tool result for the model's own call id: the held process went on.
    const results = toolResults(lastUpstreamMessage("sunny, 21 C"))
    expect(results.map((result) => result.tool_use_id)).toEqual([call.id])

    const log = await events(first.session_id)
    const attached = log.filter((event) => event.type === "TurnAttached").map((event) => event.data.cliSessionId)
    expect(new Set(attached).size).toBe(1)
    expect(log.filter((event) => event.type === "ToolCallStarted").map((event) => event.data.name)).toEqual([
      "get_weather"
    ])
  })

  it("streams parallel calls as OpenAI tool-call deltas, and hands the model errors and unanswered calls as such", async () => {
    const question = { role: "user", content: `SCENARIO_TOOLS=get_weather,get_time ${unique("both")}` }
    const response = await post(gateway.url, { messages: [question], tools: [weather, time], stream: true })
    expect(response.status).toBe(200)
    const payloads = ssePayloads(response.text)
    expect(payloads.at(-1)).toBe("[DONE]")
    const chunks = payloads.slice(0, -1).map((payload) => JSON.parse(payload))
    const deltas = chunks.flatMap((chunk) =>
      chunk.choices.flatMap((c: { delta: { tool_calls?: unknown } }) => c.delta.tool_calls ?? [])
    )
    const firsts = deltas.filter((delta: { id?: string }) => delta.id !== undefined)
    expect(firsts).toEqual([
      {
        index: 0,
        id: expect.stringMatching(/^toolu_/),
        type: "function",
        function: { name: "get_weather", arguments: "" }
      },
      {
        index: 1,
        id: expect.stringMatching(/^toolu_/),
        type: "function",
        function: { name: "get_time", arguments: "" }
      }
    ])
    for (const delta of deltas) expect(Object.keys(delta)).toEqual(expect.arrayContaining(["index", "function"]))
    const argumentsOf = (index: number) =>
      deltas.filter((delta: { index: number }) => delta.index === index).map((
        delta: { function: { arguments: string } }
      ) => delta.function.arguments).join("")
    expect(JSON.parse(argumentsOf(0))).toEqual({ city: "fake" })
    expect(JSON.parse(argumentsOf(1))).toEqual({ city: "fake" })
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls")
    const sessionId = response.headers.get("x-session-id")!

    // The log replays the tool-call stream as exactly the chunks it sent.
    const turnId = (await events(sessionId)).find((event) => event.type === "TurnStarted")!.data.turnId as string
    const replay = await fetch(
      `${gateway.url}/v1/sessions/${sessionId}/events?stream=true&format=chunks&turn_id=${encodeURIComponent(turnId)}`
    )
    expect(ssePayloads(await replay.text())).toEqual(payloads)
    const messages = await fetch(`${gateway.url}/v1/sessions/${sessionId}/messages`)
    const listed = ((await messages.json()) as { data: ReadonlyArray<{ role: string; tool_calls?: unknown }> }).data
    expect(listed.map((message) => message.role)).toEqual(["user", "assistant"])
    expect(listed[1]!.tool_calls).toEqual(firsts.map((first: ToolCallJson) => ({
      id: first.id,
      type: "function",
      function: { name: first.function.name, arguments: "{\"city\":\"fake\"}" }
    })))

    // Only the first call is answered, as an error; the second is left unanswered.
    const followUp = await complete({
      session_id: sessionId,
      messages: [{ role: "tool", tool_call_id: firsts[0].id, content: "no such city", is_error: true }],
      tools: [weather, time]
    })
    expect(followUp.choices[0]!.message.content).toMatch(/^Tool failed: no such city\n/)
    const results = toolResults(lastUpstreamMessage("no such city"))
    expect(results.map((result) => [result.tool_use_id, result.is_error === true])).toEqual([
      [firsts[0].id, true],
      [firsts[1].id, true]
    ])
    expect(JSON.stringify(results[1]!.content)).toContain("Not executed")
  })

  it("takes a new user message after the tool results, in the same continuation", async () => {
    const question = { role: "user", content: `SCENARIO_TOOL=get_weather ${unique("then")}` }
    const first = await complete({ messages: [question], tools: [weather] })
    const call = first.choices[0]!.message.tool_calls![0]!
    const marker = unique("and-also")
    const followUp = await complete({
      session_id: first.session_id,
      messages: [
        { role: "tool", tool_call_id: call.id, content: "rainy" },
        { role: "user", content: `Thanks; ${marker}` }
      ],
      tools: [weather]
    })
    expect(followUp.choices[0]!.finish_reason).toBe("stop")
    const upstream = JSON.stringify(upstreamCalls().filter((r) => JSON.stringify(r.body).includes(marker)).at(-1)!.body)
    expect(upstream).toContain("rainy")
    expect(upstream).toContain(marker)
    expect(toolResults(lastUpstreamMessage(marker)).length + toolResults(lastUpstreamMessage("rainy")).length)
      .toBeGreaterThan(0)
  })

  it("continues from the log on a new process when the held calls were cancelled, and leaves no process", async () => {
    const project = unique("cancelled")
    const question = { role: "user", content: `SCENARIO_TOOL=get_weather ${unique("gone")}` }
    const first = await complete({ project_id: project, messages: [question], tools: [weather] })
    const call = first.choices[0]!.message.tool_calls![0]!
    const cancel = await fetch(`${gateway.url}/v1/chat/completions/${first.session_id}`, { method: "DELETE" })
    expect(cancel.status).toBe(200)
    await waitForNoCli(NodePath.join(gateway.projectRoot, project))
    const dropped = (await events(first.session_id)).filter((event) => event.type === "ToolCallsExpired")
    expect(dropped.map((event) => event.data)).toEqual([{
      _tag: "ToolCallsExpired",
      callIds: [call.id],
      reason: "cancelled"
    }])

    const followUp = await complete({
      project_id: project,
      messages: [
        question,
        { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", tool_call_id: call.id, content: "foggy" }
      ],
      tools: [weather]
    })
    expect(followUp.session_id).toBe(first.session_id)
    expect(followUp.choices[0]!.message.content).toBe("Tool said: foggy")
    // A new process got the conversation as a transcript, the call and its result included.
    const sent = JSON.stringify(lastUpstreamMessage("foggy").content)
    expect(sent).toContain(`Assistant called tool get_weather (call ${call.id})`)
    expect(sent).toContain(`Tool result (call ${call.id}): foggy`)
  })

  it("expires a held call after the tool-call timeout, recorded in the log", async () => {
    const root = NodePath.join(suiteRoot, "expiring")
    const expiring = await startGateway({
      ...realCliConfig(fake, homeDir),
      databasePath: NodePath.join(suiteRoot, "expiring.db"),
      projectRoot: root,
      spareProcess: false,
      toolCallTimeoutSeconds: 1
    })
    extraGateways.push(expiring)
    const first = await complete({
      messages: [{ role: "user", content: `SCENARIO_TOOL=get_weather ${unique("late")}` }],
      tools: [weather]
    }, expiring.url)
    const call = first.choices[0]!.message.tool_calls![0]!
    await waitForNoCli(root)
    const dropped = (await events(first.session_id, expiring.url)).filter((event) => event.type === "ToolCallsExpired")
    expect(dropped.map((event) => event.data)).toEqual([{
      _tag: "ToolCallsExpired",
      callIds: [call.id],
      reason: "timeout"
    }])

    const late = await complete({
      session_id: first.session_id,
      messages: [{ role: "tool", tool_call_id: call.id, content: "late but fine" }],
      tools: [weather]
    }, expiring.url)
    expect(late.choices[0]!.message.content).toBe("Tool said: late but fine")
  })

  it("answers a call made in the CLI's non-streaming retry after a broken stream, and continues it", async () => {
    const question = { role: "user", content: `SCENARIO_STREAM_ERROR SCENARIO_TOOL=get_weather ${unique("retry")}` }
    const first = await complete({ messages: [question], tools: [weather] })
    expect(first.choices[0]!.finish_reason).toBe("tool_calls")
    const call = first.choices[0]!.message.tool_calls![0]!
    expect(call.function).toEqual({ name: "get_weather", arguments: "{\"city\":\"fake\"}" })
    const followUp = await complete({
      session_id: first.session_id,
      messages: [{ role: "tool", tool_call_id: call.id, content: "windy" }],
      tools: [weather]
    })
    expect(followUp.choices[0]!.message.content).toBe("Tool said: windy")
    expect(toolResults(lastUpstreamMessage("windy")).map((result) => result.tool_use_id)).toEqual([call.id])
  })

  it("offers a tool list of hundreds of kilobytes (over stdin, never argv), and Claude Code's own tools when kept", async () => {
    const root = NodePath.join(suiteRoot, "builtins")
    const keeping = await startGateway({
      ...realCliConfig(fake, homeDir),
      databasePath: NodePath.join(suiteRoot, "builtins.db"),
      projectRoot: root,
      spareProcess: false,
      clientToolsKeepBuiltins: true
    })
    extraGateways.push(keeping)
    const many = Array.from({ length: 150 }, (_, index) => ({
      type: "function",
      function: {
        name: `tool_${index}`,
        description: `Tool number ${index}. ${"x".repeat(2000)}`,
        parameters: { type: "object", properties: { value: { type: "string", description: "y".repeat(100) } } }
      }
    }))
    expect(JSON.stringify(many).length).toBeGreaterThan(300_000)
    const answer = await complete({
      messages: [{ role: "user", content: `SCENARIO_TOOL=tool_149 ${unique("many")}` }],
      tools: [...many, weather]
    }, keeping.url)
    expect(answer.choices[0]!.message.tool_calls![0]!.function.name).toBe("tool_149")
    const offered = (upstreamCalls().at(-1)!.body as { tools: ReadonlyArray<{ name: string }> }).tools.map((t) =>
      t.name
    )
    expect(offered).toEqual(expect.arrayContaining(["tool_0", "tool_149", "get_weather", "Bash", "Read"]))
  })

  it("shuts down with a call held: the held process is stopped, none is left", async () => {
    const root = NodePath.join(suiteRoot, "shutdown")
    const stopping = await startGateway({
      ...realCliConfig(fake, homeDir),
      databasePath: NodePath.join(suiteRoot, "shutdown.db"),
      projectRoot: root,
      spareProcess: false
    })
    const first = await complete({
      messages: [{ role: "user", content: `SCENARIO_TOOL=get_weather ${unique("bye")}` }],
      tools: [weather]
    }, stopping.url)
    expect(first.choices[0]!.finish_reason).toBe("tool_calls")
    expect(claudeProcessesUnder(root).length).toBe(1)
    await stopping.close()
    expect(claudeProcessesUnder(root)).toEqual([])
  })

  it("refuses invalid tools with a 400 naming the parameter, before any process starts", async () => {
    const before = upstreamCalls().length
    const response = await post(gateway.url, {
      messages: [{ role: "user", content: "hi" }],
      tools: [{ type: "function", function: { name: "has space", parameters: { type: "object" } } }]
    })
    expect(response.status).toBe(400)
    expect(JSON.parse(response.text).error.param).toBe("tools[0].function.name")
    expect(upstreamCalls().length).toBe(before)
  })
})
