/**
 * End to end: client tools (OpenAI function calling) through the gateway as the official client
 * libraries use them, unmodified: the `openai` SDK (`create`, streamed deltas, the strict
 * `.stream()` helper, `runTools()`), the Vercel AI SDK (`generateText` / `streamText` with
 * executable tools over `@ai-sdk/openai-compatible` and `@ai-sdk/openai`'s chat model) and
 * LangChain (`ChatOpenAI.bindTools`, `ToolMessage`). The REAL Claude Code CLI runs against the
 * fake Anthropic API, which calls offered tools on cue (`SCENARIO_TOOL=<name>`, and
 * `SCENARIO_TOOL_LOOP=<n>:<name>`: again after each result until n came back).
 *
 * What it shows: every library reads the gateway's tool calls and finish reason as it reads
 * OpenAI's, and sends back results the gateway accepts; each library's 3-step tool loop, where
 * the client resends the whole history each time, is served by ONE CLI process: one session per
 * project, one CLI session id in every `TurnAttached`, one pid seen while the tool runs, and every
 * upstream request after the first ends with real `tool_result` blocks (never a transcript).
 */
import { createOpenAI } from "@ai-sdk/openai"
import { createOpenAICompatible } from "@ai-sdk/openai-compatible"
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages"
import { tool as langchainTool } from "@langchain/core/tools"
import { ChatOpenAI } from "@langchain/openai"
import { generateText, type LanguageModel, stepCountIs, streamText, tool } from "ai"
import * as NodePath from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { z } from "zod"
import type { FakeAnthropic, RecordedRequest } from "../fixtures/FakeAnthropic.js"
import type { Gateway } from "../support/Gateway.js"
import { claudeProcessesUnder } from "../support/processes.js"
import { type RealCliSuite, startRealCliSuite } from "../support/RealCliSuite.js"

const MODEL = "claude-sonnet-4-5-20250929"
const API_KEY = "sk-test"
const weatherParameters = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
const weatherTool = {
  type: "function",
  function: { name: "get_weather", description: "The weather of a city", parameters: weatherParameters }
} as const

let fake: FakeAnthropic
let gateway: Gateway
let suite: RealCliSuite | undefined
let openai: OpenAI

/** An OpenAI `role: "tool"` message answering `id`. */
const toolAnswer = (id: string, content: string) => ({ role: "tool" as const, tool_call_id: id, content })

const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 8)}`

/** A test's own project and marker: the sessions, processes and upstream requests of this test. */
const scope = (label: string) => ({ project: unique(label), marker: unique(`${label}-marker`) })

/** The pids of the live CLI processes working in `project` (read while a tool runs). */
const cliPids = (project: string) =>
  claudeProcessesUnder(NodePath.join(gateway.projectRoot, project)).map((found) => found.pid)

const getJson = async <A>(path: string): Promise<A> => {
  const response = await fetch(`${gateway.url}${path}`)
  expect(response.status, path).toBe(200)
  return (await response.json()) as A
}

const upstreamCalls = (marker: string): ReadonlyArray<RecordedRequest> =>
  fake.requests.filter((request) =>
    request.method === "POST" && request.path === "/v1/messages" && JSON.stringify(request.body).includes(marker)
  )

type UpstreamMessage = { readonly role: string; readonly content: unknown }
const blocksOf = (message: UpstreamMessage): ReadonlyArray<{ type?: string }> =>
  Array.isArray(message.content) ? message.content : []

/**
 * Proves that one CLI process served the whole conversation of `project` (`turns` requests): a
 * single session, the same CLI session id on every attached turn, the same pid while each tool
 * ran, and the upstream got every result as `tool_result` blocks at the end of its request.
 */
const expectOneProcess = async (
  { marker, project }: { readonly project: string; readonly marker: string },
  turns: number,
  pidsSeen?: ReadonlyArray<ReadonlyArray<number>>
) => {
  const sessions = await getJson<{ data: ReadonlyArray<{ id: string }> }>(`/v1/sessions?project_id=${project}`)
  expect(sessions.data).toHaveLength(1)
  const log = await getJson<{ data: ReadonlyArray<{ type: string; data: Record<string, unknown> }> }>(
    `/v1/sessions/${sessions.data[0]!.id}/events?limit=1000`
  )
  const attached = log.data.filter((event) => event.type === "TurnAttached").map((event) => event.data.cliSessionId)
  expect(attached).toHaveLength(turns)
  expect(new Set(attached).size).toBe(1)
  if (pidsSeen !== undefined) {
    expect(pidsSeen).toHaveLength(turns - 1)
    for (const pids of pidsSeen) expect(pids).toEqual(pidsSeen[0])
    expect(pidsSeen[0]).toHaveLength(1)
  }

  const upstream = upstreamCalls(marker)
  expect(upstream).toHaveLength(turns)
  for (const request of upstream.slice(1)) {
    const messages = (request.body as { messages: ReadonlyArray<UpstreamMessage> }).messages
    const last = messages[messages.length - 1]!
    expect(last.role).toBe("user")
    expect(blocksOf(last).at(-1)?.type).toBe("tool_result")
    expect(JSON.stringify(request.body)).not.toContain("<conversation>")
  }
}

/** The weather "service" of every loop: counts its calls and the CLI processes alive meanwhile. */
const weatherService = (project: string) => {
  const pidsSeen: Array<ReadonlyArray<number>> = []
  const run = (city: string) => {
    pidsSeen.push(cliPids(project))
    return `sunny in ${city}, call ${pidsSeen.length}`
  }
  return { pidsSeen, run }
}

describe("client tools through the official SDKs, real CLI", () => {
  beforeAll(async () => {
    suite = await startRealCliSuite("cca-e2e-tool-sdks-")
    ;({ fake, gateway } = suite)
    openai = new OpenAI({ baseURL: gateway.baseURL, apiKey: API_KEY, maxRetries: 0 })
  })

  afterAll(async () => {
    await suite?.close()
  })

  describe("openai SDK", () => {
    it("create: tool calls as JSON, then the tool result continues the same session", async () => {
      const { marker, project } = scope("oa-json")
      const question = { role: "user", content: `SCENARIO_TOOL=get_weather ${marker}` } as const
      const { data: first, response } = await openai.chat.completions
        .create({ model: MODEL, messages: [question], tools: [weatherTool], ...{ project_id: project } })
        .withResponse()
      const message = first.choices[0]!.message
      expect(first.choices[0]!.finish_reason).toBe("tool_calls")
      expect(message.tool_calls).toEqual([
        {
          id: expect.stringMatching(/^toolu_/),
          type: "function",
          function: { name: "get_weather", arguments: "{\"city\":\"fake\"}" }
        }
      ])

      const { data: second, response: secondResponse } = await openai.chat.completions.create({
        model: MODEL,
        messages: [question, message, toolAnswer(message.tool_calls![0]!.id, "sunny")],
        tools: [weatherTool],
        ...{ project_id: project }
      }).withResponse()
      expect(second.choices[0]!.finish_reason).toBe("stop")
      expect(second.choices[0]!.message.content).toBe("Tool said: sunny")
      expect(secondResponse.headers.get("x-session-id")).toBe(response.headers.get("x-session-id"))
    })

    it("create with stream: true: the tool call assembled from its deltas, then the result, streamed", async () => {
      const { marker, project } = scope("oa-stream")
      const question = { role: "user", content: `SCENARIO_TOOL=get_weather ${marker}` } as const
      const stream = await openai.chat.completions.create({
        model: MODEL,
        messages: [question],
        tools: [weatherTool],
        stream: true,
        ...{ project_id: project }
      })
      let content = ""
      let finish: string | null = null
      const calls: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }> = []
      for await (const chunk of stream) {
        const choice = chunk.choices[0]
        if (choice === undefined) continue
        content += choice.delta.content ?? ""
        for (const delta of choice.delta.tool_calls ?? []) {
          const call = (calls[delta.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } })
          if (delta.id) call.id = delta.id
          call.function.name += delta.function?.name ?? ""
          call.function.arguments += delta.function?.arguments ?? ""
        }
        finish = choice.finish_reason ?? finish
      }
      expect(finish).toBe("tool_calls")
      expect(content).toBe("Let me use get_weather.")
      expect(calls).toEqual([{
        id: expect.stringMatching(/^toolu_/),
        type: "function",
        function: { name: "get_weather", arguments: "{\"city\":\"fake\"}" }
      }])

      const followUp = await openai.chat.completions.create({
        model: MODEL,
        messages: [question, { role: "assistant", content, tool_calls: calls }, toolAnswer(calls[0]!.id, "windy")],
        tools: [weatherTool],
        stream: true,
        ...{ project_id: project }
      })
      let answer = ""
      for await (const chunk of followUp) answer += chunk.choices[0]?.delta.content ?? ""
      expect(answer).toBe("Tool said: windy")
      await expectOneProcess({ marker, project }, 2)
    })

    it("stream() helper: finalChatCompletion() shows the tool calls and finish_reason tool_calls", async () => {
      const { marker, project } = scope("oa-helper")
      const question = { role: "user", content: `SCENARIO_TOOL=get_weather ${marker}` } as const
      const runner = openai.chat.completions.stream({
        model: MODEL,
        messages: [question],
        tools: [weatherTool],
        stream_options: { include_usage: true },
        ...{ project_id: project }
      })
      const argumentsDone: Array<unknown> = []
      runner.on("tool_calls.function.arguments.done", (event) => argumentsDone.push([event.name, event.arguments]))
      const final = await runner.finalChatCompletion()
      expect(final.choices[0]!.finish_reason).toBe("tool_calls")
      expect(final.choices[0]!.message.tool_calls).toEqual([
        expect.objectContaining({
          id: expect.stringMatching(/^toolu_/),
          type: "function",
          function: expect.objectContaining({ name: "get_weather", arguments: "{\"city\":\"fake\"}" })
        })
      ])
      expect(argumentsDone).toEqual([["get_weather", "{\"city\":\"fake\"}"]])
      expect(final.usage?.prompt_tokens).toBeGreaterThan(0)

      const call = final.choices[0]!.message.tool_calls![0]!
      const followUp = openai.chat.completions.stream({
        model: MODEL,
        messages: [question, final.choices[0]!.message, toolAnswer(call.id, "misty")],
        tools: [weatherTool],
        ...{ project_id: project }
      })
      expect(await followUp.finalContent()).toBe("Tool said: misty")
    })

    it("runTools(): a real function over a 3-step loop, on one CLI process", async () => {
      const ids = scope("oa-run")
      const service = weatherService(ids.project)
      const runner = openai.chat.completions.runTools({
        model: MODEL,
        messages: [{ role: "user", content: `SCENARIO_TOOL_LOOP=3:get_weather ${ids.marker}` }],
        tools: [{
          type: "function",
          function: {
            name: "get_weather",
            description: "The weather of a city",
            parameters: weatherParameters,
            parse: JSON.parse,
            function: ({ city }: { city: string }) => service.run(city)
          }
        }],
        ...{ project_id: ids.project }
      })
      expect(await runner.finalContent()).toBe("Tool said: sunny in fake, call 3")
      expect(service.pidsSeen).toHaveLength(3)
      expect((await runner.allChatCompletions()).map((completion) => completion.choices[0]!.finish_reason))
        .toEqual(["tool_calls", "tool_calls", "tool_calls", "stop"])
      await expectOneProcess(ids, 4, service.pidsSeen)
    })
  })

  describe("Vercel AI SDK", () => {
    /** The two ways to reach a chat-completions server, each carrying the test's project id. */
    const models: ReadonlyArray<readonly [string, (project: string) => LanguageModel]> = [
      [
        "openai-compatible",
        () =>
          createOpenAICompatible({ name: "gateway", baseURL: gateway.baseURL, apiKey: API_KEY, includeUsage: true })
            .chatModel(MODEL)
      ],
      ["@ai-sdk/openai chat", (project) =>
        createOpenAI({
          baseURL: gateway.baseURL,
          apiKey: API_KEY,
          // @ai-sdk/openai sends no unknown body fields: a fetch wrapper adds the project id.
          fetch: (url, init) =>
            fetch(url, { ...init, body: JSON.stringify({ ...JSON.parse(String(init?.body)), project_id: project }) })
        }).chat(MODEL)]
    ]

    const loopOptions = (name: string, make: (project: string) => LanguageModel) => {
      const ids = scope(name === "openai-compatible" ? "ai-compat" : "ai-openai")
      const service = weatherService(ids.project)
      return {
        ids,
        service,
        options: {
          model: make(ids.project),
          prompt: `SCENARIO_TOOL_LOOP=3:get_weather ${ids.marker}`,
          tools: {
            get_weather: tool({
              description: "The weather of a city",
              inputSchema: z.object({ city: z.string() }),
              execute: async ({ city }) => service.run(city)
            })
          },
          stopWhen: stepCountIs(5),
          maxRetries: 0,
          providerOptions: { gateway: { project_id: ids.project } }
        }
      }
    }

    const expectSteps = (
      steps: ReadonlyArray<{ finishReason: string; toolResults: ReadonlyArray<{ toolName: string; output: unknown }> }>
    ) => {
      expect(steps.map((step) => step.finishReason)).toEqual(["tool-calls", "tool-calls", "tool-calls", "stop"])
      expect(steps.flatMap((step) => step.toolResults.map((result) => [result.toolName, result.output]))).toEqual([
        ["get_weather", "sunny in fake, call 1"],
        ["get_weather", "sunny in fake, call 2"],
        ["get_weather", "sunny in fake, call 3"]
      ])
    }

    it.each(models)("generateText (%s): a 3-step tool loop on one CLI process", async (name, make) => {
      const { ids, options, service } = loopOptions(name, make)
      const result = await generateText(options)
      expectSteps(result.steps)
      expect(result.text).toBe("Tool said: sunny in fake, call 3")
      expect(result.steps[0]!.toolCalls.map((call) => call.input)).toEqual([{ city: "fake" }])
      expect(result.totalUsage.inputTokens).toBeGreaterThan(0)
      await expectOneProcess(ids, 4, service.pidsSeen)
    })

    it.each(models)("streamText (%s): a 3-step tool loop on one CLI process", async (name, make) => {
      const { ids, options, service } = loopOptions(name, make)
      const errors: Array<unknown> = []
      const result = streamText({ ...options, onError: ({ error }) => void errors.push(error) })
      const parts: Array<string> = []
      for await (const part of result.fullStream) parts.push(part.type)
      expect(errors).toEqual([])
      expectSteps(await result.steps)
      expect(await result.text).toBe("Tool said: sunny in fake, call 3")
      expect(parts.filter((type) => type === "tool-call" || type === "tool-result")).toEqual(
        ["tool-call", "tool-result", "tool-call", "tool-result", "tool-call", "tool-result"]
      )
      expect(parts).not.toContain("error")
      expect((await result.totalUsage).inputTokens).toBeGreaterThan(0)
      await expectOneProcess(ids, 4, service.pidsSeen)
    })
  })

  describe("LangChain", () => {
    const chatModel = (project: string) =>
      new ChatOpenAI({
        model: MODEL,
        apiKey: API_KEY,
        maxRetries: 0,
        configuration: { baseURL: gateway.baseURL },
        modelKwargs: { project_id: project }
      })

    it("bindTools: invoke gives an AIMessage with tool_calls, a ToolMessage gives the final text", async () => {
      const { marker, project } = scope("lc-once")
      const model = chatModel(project).bindTools([weatherTool])
      const messages: Array<BaseMessage> = [new HumanMessage(`SCENARIO_TOOL=get_weather ${marker}`)]
      const first = await model.invoke(messages)
      expect(first).toBeInstanceOf(AIMessage)
      expect(first.tool_calls).toEqual([{
        id: expect.stringMatching(/^toolu_/),
        name: "get_weather",
        args: { city: "fake" },
        type: "tool_call"
      }])
      expect(first.response_metadata.finish_reason).toBe("tool_calls")

      messages.push(first, new ToolMessage({ tool_call_id: first.tool_calls![0]!.id!, content: "cloudy" }))
      const second = await model.invoke(messages)
      expect(second.content).toBe("Tool said: cloudy")
      expect(second.tool_calls).toEqual([])
      await expectOneProcess({ marker, project }, 2)
    })

    it("a 3-step loop driven by hand (invoke, run the tool, append its ToolMessage) on one CLI process", async () => {
      const ids = scope("lc-loop")
      const service = weatherService(ids.project)
      const getWeather = langchainTool(({ city }) => service.run(city), {
        name: "get_weather",
        description: "The weather of a city",
        schema: z.object({ city: z.string() })
      })
      const model = chatModel(ids.project).bindTools([getWeather])
      const messages: Array<BaseMessage> = [new HumanMessage(`SCENARIO_TOOL_LOOP=3:get_weather ${ids.marker}`)]
      let reply = await model.invoke(messages)
      while ((reply.tool_calls ?? []).length > 0 && messages.length < 20) {
        messages.push(reply)
        for (const call of reply.tool_calls!) messages.push(await getWeather.invoke({ ...call, type: "tool_call" }))
        reply = await model.invoke(messages)
      }
      expect(reply.content).toBe("Tool said: sunny in fake, call 3")
      expect(messages.filter((message) => message instanceof ToolMessage)).toHaveLength(3)
      await expectOneProcess(ids, 4, service.pidsSeen)
    })
  })
})
