/**
 * End to end: OpenAI's Responses API through the gateway, with the REAL Claude Code CLI against
 * the fake Anthropic API, as its clients use it, unmodified: the `openai` SDK (`responses.create`
 * in both modes, the `responses.stream()` helper's `finalResponse()`, `previous_response_id`),
 * Codex's request sequence (instructions, a developer message, its function tool next to a
 * `custom` apply_patch tool and a hosted tool, `store: false`, streamed, the output items replayed
 * with their `function_call_output`), and the Vercel AI SDK's default OpenAI model (the
 * Responses API, `item_reference` inputs) through 3-step tool loops. Every raw stream passes the
 * strict reader; every tool round trip runs on ONE CLI process (one CLI session id in every
 * `TurnAttached`, real `tool_result` blocks upstream, no transcript of the conversation added).
 */
import { createOpenAI } from "@ai-sdk/openai"
import { generateText, stepCountIs, streamText, tool } from "ai"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { z } from "zod"
import type { OutputItem, ResponseObject } from "../../src/Http/Responses/Wire.js"
import type { FakeAnthropic, RecordedRequest } from "../fixtures/FakeAnthropic.js"
import type { Gateway } from "../support/Gateway.js"
import { type RealCliSuite, startRealCliSuite } from "../support/RealCliSuite.js"
import { checkResponseStream } from "../support/ResponsesStream.js"

const MODEL = "claude-sonnet-4-5-20250929"
const API_KEY = "sk-test"
const weatherParameters = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
const weatherTool = {
  type: "function",
  name: "get_weather",
  description: "The weather of a city",
  parameters: weatherParameters,
  strict: false
} as const

let fake: FakeAnthropic
let gateway: Gateway
let suite: RealCliSuite | undefined
let openai: OpenAI

const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 8)}`

/** A test's own project and marker: the sessions and upstream requests of this test. */
const scope = (label: string) => ({ project: unique(label), marker: unique(`${label}-marker`) })

const getJson = async <A>(path: string): Promise<A> => {
  const response = await fetch(`${gateway.url}${path}`)
  expect(response.status, path).toBe(200)
  return (await response.json()) as A
}

const postResponses = (body: Record<string, unknown>) =>
  fetch(`${gateway.baseURL}/responses`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify(body)
  })

const upstreamCalls = (marker: string): ReadonlyArray<RecordedRequest> =>
  fake.requests.filter((request) =>
    request.method === "POST" && request.path === "/v1/messages" && JSON.stringify(request.body).includes(marker)
  )

type UpstreamBody = {
  readonly messages: ReadonlyArray<{ readonly role: string; readonly content: unknown }>
  readonly tools?: ReadonlyArray<{ readonly name: string }>
}

/**
 * Proves that one CLI process served the whole conversation of `project` (`turns` requests): a
 * single session, the same CLI session id on every attached turn, and every upstream request
 * after the first ends with the client's results as `tool_result` blocks.
 */
const expectOneProcess = async (
  { marker, project }: { readonly project: string; readonly marker: string },
  turns: number
) => {
  const sessions = await getJson<{ data: ReadonlyArray<{ id: string }> }>(`/v1/sessions?project_id=${project}`)
  expect(sessions.data).toHaveLength(1)
  const log = await getJson<{ data: ReadonlyArray<{ type: string; data: Record<string, unknown> }> }>(
    `/v1/sessions/${sessions.data[0]!.id}/events?limit=1000`
  )
  const attached = log.data.filter((event) => event.type === "TurnAttached").map((event) => event.data.cliSessionId)
  expect(attached).toHaveLength(turns)
  expect(new Set(attached).size).toBe(1)
  const upstream = upstreamCalls(marker)
  expect(upstream).toHaveLength(turns)
  // Earlier messages of a first request are a transcript; no later request adds one.
  const transcripts = (request: RecordedRequest) => JSON.stringify(request.body).split("<conversation>").length
  for (const request of upstream.slice(1)) {
    const messages = (request.body as UpstreamBody).messages
    const last = messages[messages.length - 1]!
    expect(last.role).toBe("user")
    expect((Array.isArray(last.content) ? last.content : []).at(-1)?.type).toBe("tool_result")
    expect(transcripts(request)).toBe(transcripts(upstream[0]!))
  }
  return upstream
}

const functionCalls = (output: ReadonlyArray<OutputItem | OpenAI.Responses.ResponseOutputItem>) =>
  output.filter((item): item is Extract<OutputItem, { type: "function_call" }> => item.type === "function_call")

describe("the Responses API, real CLI", () => {
  beforeAll(async () => {
    suite = await startRealCliSuite("cca-e2e-responses-")
    ;({ fake, gateway } = suite)
    openai = new OpenAI({ baseURL: gateway.baseURL, apiKey: API_KEY, maxRetries: 0 })
  })

  afterAll(async () => {
    await suite?.close()
  })

  describe("openai SDK", () => {
    it("responses.create: a response with usage; GET answers it, DELETE removes it", async () => {
      const { marker, project } = scope("oa-create")
      const response = await openai.responses.create({
        model: MODEL,
        instructions: "Answer briefly.",
        input: `Hello ${marker}`,
        ...{ project_id: project }
      })
      expect(response.status).toBe("completed")
      expect(response.output_text).toContain(`You said: Hello ${marker}`)
      expect(response.model).toBe(MODEL)
      expect(response.instructions).toBe("Answer briefly.")
      expect(response.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) })
      expect(response.usage!.input_tokens_details.cached_tokens).toBe(7)

      const stored = await openai.responses.retrieve(response.id)
      expect(stored.output).toEqual(response.output)
      await openai.responses.delete(response.id)
      await expect(openai.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404 })
    })

    it("responses.create with stream: true: the SDK's events, and the raw stream passes the strict reader", async () => {
      const { marker, project } = scope("oa-stream")
      const stream = await openai.responses.create({
        model: MODEL,
        input: `Stream to me ${marker}`,
        stream: true,
        ...{ project_id: project }
      })
      let text = ""
      let completed: OpenAI.Responses.Response | null = null
      for await (const event of stream) {
        if (event.type === "response.output_text.delta") text += event.delta
        if (event.type === "response.completed") completed = event.response
      }
      expect(text).toContain(`You said: Stream to me ${marker}`)
      expect(completed?.output).toEqual([expect.objectContaining({ type: "message", status: "completed" })])

      const raw = await postResponses({ model: MODEL, input: `Raw ${marker}`, stream: true, project_id: project })
      expect(raw.status).toBe(200)
      const { items, terminal } = checkResponseStream(await raw.text())
      expect(terminal.type).toBe("response.completed")
      expect(items).toHaveLength(1)
    })

    it("responses.stream(): finalResponse() shows the call; previous_response_id with its output continues on the held process", async () => {
      const ids = scope("oa-helper")
      const argumentsDone: Array<string> = []
      const first = openai.responses.stream({
        model: MODEL,
        input: `SCENARIO_TOOL=get_weather ${ids.marker}`,
        tools: [weatherTool],
        ...{ project_id: ids.project }
      })
      first.on("response.function_call_arguments.done", (event) => argumentsDone.push(event.arguments))
      const response = await first.finalResponse()
      const [call] = functionCalls(response.output)
      expect(call).toMatchObject({
        type: "function_call",
        id: `${response.id.replace("resp_", "fc_")}_0`,
        call_id: expect.stringMatching(/^toolu_/),
        name: "get_weather",
        arguments: "{\"city\":\"fake\"}",
        status: "completed"
      })
      expect(argumentsDone).toEqual(["{\"city\":\"fake\"}"])
      expect(response.output_text).toBe("Let me use get_weather.")

      const second = await openai.responses.stream({
        model: MODEL,
        previous_response_id: response.id,
        input: [{ type: "function_call_output", call_id: call!.call_id, output: "sunny" }],
        tools: [weatherTool]
      }).finalResponse()
      expect(second.output_text).toBe("Tool said: sunny")
      expect(second.previous_response_id).toBe(response.id)
      await expectOneProcess(ids, 2)
    })

    it("responses.stream() through a 3-step tool loop chained by previous_response_id, on one CLI process", async () => {
      const ids = scope("oa-loop")
      let response = await openai.responses.stream({
        model: MODEL,
        input: `SCENARIO_TOOL_LOOP=3:get_weather ${ids.marker}`,
        tools: [weatherTool],
        ...{ project_id: ids.project }
      }).finalResponse()
      for (let step = 1; step <= 3; step++) {
        const [call] = functionCalls(response.output)
        expect(call?.name).toBe("get_weather")
        response = await openai.responses.stream({
          model: MODEL,
          previous_response_id: response.id,
          input: [{ type: "function_call_output", call_id: call!.call_id, output: `weather ${step}` }],
          tools: [weatherTool]
        }).finalResponse()
      }
      expect(functionCalls(response.output)).toEqual([])
      expect(response.output_text).toBe("Tool said: weather 3")
      await expectOneProcess(ids, 4)
    })
  })

  it("Codex's request sequence: store false, the whole input resent with each function_call_output, a 3-step loop on one CLI process", async () => {
    const ids = scope("codex")
    const shell = {
      type: "function",
      name: "shell",
      description: "Runs a shell command and returns its output.",
      strict: false,
      parameters: {
        type: "object",
        properties: {
          command: { type: "array", items: { type: "string" } },
          workdir: { type: "string" },
          timeout_ms: { type: "number" }
        },
        required: ["command"],
        additionalProperties: false
      }
    }
    const applyPatch = {
      type: "custom",
      name: "apply_patch",
      description: "Use the apply_patch tool to edit files.",
      format: { type: "grammar", syntax: "lark", definition: "start: begin_patch hunk+ end_patch" }
    }
    const input: Array<Record<string, unknown>> = [
      {
        type: "message",
        role: "developer",
        content: [{ type: "input_text", text: "<permissions>none</permissions>" }]
      },
      { type: "message", role: "user", content: [{ type: "input_text", text: "<environment_context/>" }] },
      {
        type: "message",
        role: "user",
        content: [{ type: "input_text", text: `SCENARIO_TOOL_LOOP=3:shell ${ids.marker}` }]
      }
    ]
    const codexRequest = () => ({
      model: MODEL,
      instructions: "You are Codex, a coding agent.",
      input,
      tools: [shell, applyPatch, { type: "web_search" }],
      tool_choice: "auto",
      parallel_tool_calls: false,
      reasoning: null,
      store: false,
      stream: true,
      include: [],
      prompt_cache_key: ids.marker,
      project_id: ids.project
    })

    let sessionId: string | null = null
    for (let step = 1; step <= 3; step++) {
      const answer = await postResponses(codexRequest())
      expect(answer.status).toBe(200)
      sessionId ??= answer.headers.get("x-session-id")
      expect(answer.headers.get("x-session-id")).toBe(sessionId)
      const stream = checkResponseStream(await answer.text())
      expect(stream.terminal.type).toBe("response.completed")
      expect(stream.items.map((item) => item.type)).toEqual(["message", "function_call"])
      const [call] = functionCalls(stream.items)
      expect(call).toMatchObject({ name: "shell", call_id: expect.stringMatching(/^toolu_/), status: "completed" })
      expect(JSON.parse(call!.arguments)).toEqual({ command: ["fake"], workdir: "fake", timeout_ms: 42 })
      // Not kept: store false.
      expect((await fetch(`${gateway.baseURL}/responses/${stream.terminal.response.id}`)).status).toBe(404)
      // Codex replays the output items as it parsed them (no ids on messages), then the result.
      for (const item of stream.items) {
        input.push(
          item.type === "message"
            ? { type: "message", role: "assistant", content: item.content.map(({ text, type }) => ({ type, text })) }
            : item.type === "function_call"
            ? { type: "function_call", name: item.name, arguments: item.arguments, call_id: item.call_id }
            : { type: "reasoning", summary: item.summary, encrypted_content: null }
        )
      }
      input.push({ type: "function_call_output", call_id: call!.call_id, output: `files of step ${step}` })
    }
    const last = await postResponses(codexRequest())
    expect(last.status).toBe(200)
    expect(last.headers.get("x-session-id")).toBe(sessionId)
    const lastStream = checkResponseStream(await last.text())
    expect(lastStream.items).toEqual([
      expect.objectContaining({
        type: "message",
        content: [expect.objectContaining({ text: "Tool said: files of step 3" })]
      })
    ])

    const upstream = await expectOneProcess(ids, 4)
    // The model saw the function tool only: apply_patch and web_search were left out.
    const offered = (upstream[0]!.body as UpstreamBody).tools?.map((offered) => offered.name) ?? []
    expect(offered).toContain("shell")
    expect(offered).not.toContain("apply_patch")
    expect(offered).not.toContain("web_search")
    expect(JSON.stringify(upstream[0]!.body)).toContain("You are Codex, a coding agent.")
    expect(JSON.stringify(upstream[0]!.body)).toContain("<permissions>none</permissions>")
  })

  describe("Vercel AI SDK (@ai-sdk/openai, its default Responses model)", () => {
    /** The provider, with the test's project id added to each body, and the bodies it sent. */
    const provider = (project: string) => {
      const sent: Array<Record<string, unknown>> = []
      const model = createOpenAI({
        baseURL: gateway.baseURL,
        apiKey: API_KEY,
        // @ai-sdk/openai sends no unknown body fields: a fetch wrapper adds the project id.
        fetch: (url, init) => {
          const body = JSON.parse(String(init?.body)) as Record<string, unknown>
          sent.push(body)
          return fetch(url, { ...init, body: JSON.stringify({ ...body, project_id: project }) })
        }
      })(MODEL)
      return { model, sent }
    }

    const loop = (label: string) => {
      const ids = scope(label)
      const { model, sent } = provider(ids.project)
      const calls: Array<string> = []
      return {
        ids,
        sent,
        options: {
          model,
          prompt: `SCENARIO_TOOL_LOOP=3:get_weather ${ids.marker}`,
          tools: {
            get_weather: tool({
              description: "The weather of a city",
              inputSchema: z.object({ city: z.string() }),
              execute: async ({ city }) => {
                calls.push(city)
                return `sunny in ${city}, call ${calls.length}`
              }
            })
          },
          stopWhen: stepCountIs(5),
          maxRetries: 0
        }
      }
    }

    const expectLoop = async (
      { ids, sent }: ReturnType<typeof loop>,
      steps: ReadonlyArray<{ finishReason: string; toolResults: ReadonlyArray<{ output: unknown }> }>
    ) => {
      expect(steps.map((step) => step.finishReason)).toEqual(["tool-calls", "tool-calls", "tool-calls", "stop"])
      expect(steps.flatMap((step) => step.toolResults.map((result) => result.output))).toEqual([
        "sunny in fake, call 1",
        "sunny in fake, call 2",
        "sunny in fake, call 3"
      ])
      // It refers to its earlier answers by id (store defaults to true), and the gateway resolved them.
      expect(sent).toHaveLength(4)
      const last = sent[3]!.input as ReadonlyArray<{ type?: string; id?: string }>
      expect(last.filter((item) => item.type === "item_reference").length).toBeGreaterThanOrEqual(3)
      expect(last.filter((item) => item.type === "function_call_output")).toHaveLength(3)
      await expectOneProcess(ids, 4)
    }

    it("generateText: a 3-step tool loop with item references, on one CLI process", async () => {
      const run = loop("ai-generate")
      const result = await generateText(run.options)
      expect(result.text).toBe("Tool said: sunny in fake, call 3")
      expect(result.totalUsage.inputTokens).toBeGreaterThan(0)
      await expectLoop(run, result.steps)
    })

    it("streamText: a 3-step tool loop with item references, on one CLI process", async () => {
      const run = loop("ai-stream")
      const errors: Array<unknown> = []
      const result = streamText({ ...run.options, onError: ({ error }) => void errors.push(error) })
      const parts: Array<string> = []
      for await (const part of result.fullStream) parts.push(part.type)
      expect(errors).toEqual([])
      expect(parts).not.toContain("error")
      expect(parts.filter((type) => type === "tool-call" || type === "tool-result")).toEqual(
        ["tool-call", "tool-result", "tool-call", "tool-result", "tool-call", "tool-result"]
      )
      expect(await result.text).toBe("Tool said: sunny in fake, call 3")
      await expectLoop(run, await result.steps)
    })
  })

  it("a conversation too long for the model fails inside the stream with context_length_exceeded, as Codex needs", async () => {
    const ids = scope("too-long")
    const streamed = await postResponses({
      model: MODEL,
      input: `SCENARIO_TOO_LONG ${ids.marker}`,
      stream: true,
      store: false,
      project_id: ids.project
    })
    expect(streamed.status).toBe(200)
    const { terminal } = checkResponseStream(await streamed.text())
    expect(terminal.type).toBe("response.failed")
    expect(terminal.response.error).toMatchObject({
      code: "context_length_exceeded",
      message: expect.stringMatching(/prompt is too long/i)
    })
    const plain = await postResponses({
      model: MODEL,
      input: `SCENARIO_TOO_LONG ${ids.marker}`,
      project_id: ids.project
    })
    expect(plain.status).toBe(400)
    expect(((await plain.json()) as { error: { code: string } }).error.code).toBe("context_length_exceeded")
  })

  it("GET after a tool call: the stored response lists the call; a deleted one is a 404 for its references too", async () => {
    const ids = scope("get-delete")
    const response = (await (await postResponses({
      model: MODEL,
      input: `SCENARIO_TOOL=get_weather ${ids.marker}`,
      tools: [weatherTool],
      project_id: ids.project
    })).json()) as ResponseObject
    const stored = await getJson<ResponseObject>(`/v1/responses/${response.id}`)
    expect(stored).toEqual(response)
    expect(functionCalls(stored.output)).toHaveLength(1)
    const deleted = await fetch(`${gateway.baseURL}/responses/${response.id}`, { method: "DELETE" })
    expect(await deleted.json()).toEqual({ id: response.id, object: "response", deleted: true })
    expect((await fetch(`${gateway.baseURL}/responses/${response.id}`)).status).toBe(404)
    const reference = await postResponses({
      model: MODEL,
      input: [{ role: "user", content: "x" }, { type: "item_reference", id: response.output[0]!.id }],
      project_id: ids.project
    })
    expect(reference.status).toBe(400)
  })
})
