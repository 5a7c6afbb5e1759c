/**
 * `BENCH_SECTIONS=tools` (and part of `make bench`): one step of a client's own tool (OpenAI
 * function calling), continued on the held CLI process against the same step replayed on a new one.
 *
 * A step: a streamed request with `tools` whose model calls `get_weather` (the fake Anthropic
 * API's `SCENARIO_TOOL=get_weather`; the call reaches the client as `tool_calls`), then the
 * client's result as a streamed follow-up (`session_id` and a `role: "tool"` message), answered
 * `Tool said: <result>`. Timed: from sending the follow-up to its first content delta and to
 * `[DONE]`. Two variants, interleaved (held, replay, replay, held, …), a new session each run:
 *  - held: the follow-up continues the CLI process that holds the call open;
 *  - replay: the held call was dropped first (`DELETE /v1/chat/completions/{session_id}`, then a
 *    wait until its CLI process is gone, neither timed), so the follow-up starts a new CLI process
 *    given the conversation rebuilt from the event log.
 * The gateway runs without its spare process (SPARE_PROCESS=false), so the replay pays for the
 * new process, as it would in practice. Each run ends by closing its session and waiting until no
 * CLI process is left, so that no run's processes overlap the next one. As context: the time from
 * sending the first request until its tool call is complete at the client (`finish_reason: "tool_calls"`).
 *
 * The harness (gateway process, HTTP agent, statistics, report) is run.ts's, handed in.
 */
import * as NodeHttp from "node:http"
import { claudeProcessesUnder } from "../test/support/processes.js"
import { weatherTool as weather } from "../test/support/tools.js"
import type { Report, Sample } from "./samples.js"

interface GatewayProcess {
  readonly baseURL: string
  readonly projectRoot: string
  readonly close: () => Promise<void>
}

/** What run.ts lends this section. */
export interface ToolStepHarness {
  readonly turns: number
  readonly model: string
  readonly agent: NodeHttp.Agent
  readonly startGatewayProcess: (settings: Record<string, string>) => Promise<GatewayProcess>
  readonly median: (values: ReadonlyArray<number>) => number
  readonly medianInterval: (values: ReadonlyArray<number>) => readonly [number, number]
  readonly report: Report
}

const toolResult = "sunny, 21 C"

interface ToolCall {
  readonly id: string
  readonly name: string
  arguments: string
}

/** A streamed answer as the client saw it, with its times from the request (ms; -1: never came). */
interface StreamedAnswer {
  readonly sessionId: string
  readonly firstDeltaMs: number
  /** Until the chunk that finishes with `tool_calls`. */
  readonly toolCallsMs: number
  readonly totalMs: number
  readonly content: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly finishReason: string | null
}

interface ChunkJson {
  readonly choices: ReadonlyArray<{
    readonly delta: {
      readonly content?: string
      readonly tool_calls?: ReadonlyArray<{
        readonly index: number
        readonly id?: string
        readonly function?: { readonly name?: string; readonly arguments?: string }
      }>
    }
    readonly finish_reason: string | null
  }>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** One streamed chat completion, its SSE frames read as they arrive. */
const streamChat = (harness: ToolStepHarness, baseURL: string, payload: object): Promise<StreamedAnswer> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const body = JSON.stringify({ model: harness.model, stream: true, ...payload })
    const request = NodeHttp.request(`${baseURL}/chat/completions`, {
      method: "POST",
      agent: harness.agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        return reject(new Error(`gateway answered ${response.statusCode}`))
      }
      let firstDeltaMs = -1
      let toolCallsMs = -1
      let totalMs = -1
      let content = ""
      let finishReason: string | null = null
      const toolCalls: Array<ToolCall> = []
      let buffer = ""
      const onPayload = (data: string) => {
        if (data === "[DONE]") {
          totalMs = performance.now() - started
          return
        }
        const choice = (JSON.parse(data) as ChunkJson).choices[0]
        if (choice === undefined) return
        if (choice.delta.content !== undefined && choice.delta.content.length > 0) {
          if (firstDeltaMs < 0) firstDeltaMs = performance.now() - started
          content += choice.delta.content
        }
        for (const delta of choice.delta.tool_calls ?? []) {
          if (delta.id !== undefined) {
            toolCalls[delta.index] = { id: delta.id, name: delta.function?.name ?? "", arguments: "" }
          }
          toolCalls[delta.index]!.arguments += delta.function?.arguments ?? ""
        }
        if (choice.finish_reason !== null) {
          finishReason = choice.finish_reason
          if (finishReason === "tool_calls") toolCallsMs = performance.now() - started
        }
      }
      response.setEncoding("utf8")
      response.on("data", (text: string) => {
        buffer += text
        let end: number
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          for (const line of buffer.slice(0, end).split("\n")) {
            if (line.startsWith("data: ")) onPayload(line.slice("data: ".length))
          }
          buffer = buffer.slice(end + 2)
        }
      })
      response.on("end", () =>
        totalMs < 0
          ? reject(new Error("gateway stream did not finish"))
          : resolve({
            sessionId: String(response.headers["x-session-id"]),
            firstDeltaMs,
            toolCallsMs,
            totalMs,
            content,
            toolCalls,
            finishReason
          }))
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end(body)
  })

/** A DELETE on the gateway, its answer parsed. */
const remove = async (url: string): Promise<Record<string, unknown>> => {
  const response = await fetch(url, { method: "DELETE" })
  if (!response.ok) throw new Error(`DELETE ${url} answered ${response.status}`)
  return (await response.json()) as Record<string, unknown>
}

/** The pids of the CLI processes working under `root`. */
const cliPids = (root: string) => claudeProcessesUnder(root).map(({ pid }) => pid)

/** Waits until no CLI process works under `root` (they exit within a second or so). */
const waitForNoCli = async (root: string) => {
  const deadline = Date.now() + 10_000
  while (cliPids(root).length > 0) {
    if (Date.now() > deadline) throw new Error(`CLI processes still running under ${root}`)
    await sleep(5)
  }
}

type Variant = "held" | "replay"

/**
 * One tool step on `gateway`: the call (its time to the complete call comes back as context),
 * for `replay` the dropped call, then the timed follow-up; then the session is closed.
 */
const toolStep = async (harness: ToolStepHarness, gateway: GatewayProcess, variant: Variant, label: string) => {
  const tools = [weather]
  const call = await streamChat(harness, gateway.baseURL, {
    messages: [{ role: "user", content: `SCENARIO_TOOL=get_weather ${label}` }],
    tools
  })
  const [toolCall] = call.toolCalls
  if (call.finishReason !== "tool_calls" || call.toolCalls.length !== 1 || toolCall?.name !== "get_weather") {
    throw new Error(`expected one call of get_weather, got ${call.finishReason}: ${JSON.stringify(call.toolCalls)}`)
  }
  if (variant === "replay") {
    const cancelled = await remove(`${gateway.baseURL}/chat/completions/${call.sessionId}`)
    if (cancelled.cancelled !== true) throw new Error(`the held call was not cancelled: ${JSON.stringify(cancelled)}`)
    await waitForNoCli(gateway.projectRoot)
  }
  // Held: exactly the process that holds the call; replay: none, the follow-up starts one.
  const before = cliPids(gateway.projectRoot)
  if (before.length !== (variant === "held" ? 1 : 0)) {
    throw new Error(`${variant}: ${before.length} CLI processes before the follow-up`)
  }
  const followUp = await streamChat(harness, gateway.baseURL, {
    session_id: call.sessionId,
    messages: [{ role: "tool", tool_call_id: toolCall.id, content: toolResult }],
    tools
  })
  if (followUp.content !== `Tool said: ${toolResult}` || followUp.firstDeltaMs < 0) {
    throw new Error(`${variant}: unexpected continuation ${JSON.stringify(followUp.content)}`)
  }
  if (variant === "held" && !cliPids(gateway.projectRoot).includes(before[0]!)) {
    throw new Error("held: the follow-up did not continue the held process")
  }
  await remove(`${gateway.baseURL}/sessions/${call.sessionId}`)
  await waitForNoCli(gateway.projectRoot)
  return {
    sample: { firstDeltaMs: followUp.firstDeltaMs, totalMs: followUp.totalMs },
    toolCallsMs: call.toolCallsMs
  }
}

/** The section: warm-up, `turns` steps per variant interleaved, the report and the targets. */
export const benchToolStep = async (harness: ToolStepHarness) => {
  const started = performance.now()
  const gateway = await harness.startGatewayProcess({ SPARE_PROCESS: "false" })
  try {
    for (let index = 0; index < 2; index++) {
      await toolStep(harness, gateway, "held", `warm up ${index}`)
      await toolStep(harness, gateway, "replay", `warm up ${index}`)
    }
    const samples = { held: [] as Array<Sample>, replay: [] as Array<Sample> }
    const toolCallsMs = { held: [] as Array<number>, replay: [] as Array<number> }
    for (let index = 0; index < harness.turns; index++) {
      // Alternate which variant goes first, so that neither always runs on a cooler machine.
      const order: ReadonlyArray<Variant> = index % 2 === 0 ? ["held", "replay"] : ["replay", "held"]
      for (const variant of order) {
        const step = await toolStep(harness, gateway, variant, `tool step ${index} ${variant}`)
        samples[variant].push(step.sample)
        toolCallsMs[variant].push(step.toolCallsMs)
      }
    }

    harness.report(
      "One tool step: the client's result on the held CLI process vs replayed on a new process (streaming, from sending the result)",
      ["held", "replay"],
      samples.held,
      samples.replay
    )
    const describe = (values: ReadonlyArray<number>) => {
      const [low, high] = harness.medianInterval(values)
      return `${harness.median(values).toFixed(1)} ms (${low.toFixed(1)} to ${high.toFixed(1)} ms)`
    }
    console.log(`\nContext: the first request, from sending it until its tool call is complete at the client\n`)
    console.log("| measure | held runs | replay runs |")
    console.log("|---|---:|---:|")
    console.log(
      `| median (95% interval) | ${describe(toolCallsMs.held)} | ${describe(toolCallsMs.replay)} |`
    )

    const heldFirst = samples.held.map((s) => s.firstDeltaMs)
    const replayFirst = samples.replay.map((s) => s.firstDeltaMs)
    const ratio = harness.median(replayFirst) / harness.median(heldFirst)
    const mark = (ok: boolean) => (ok ? "met" : "NOT met")
    console.log(`\nTargets for the first content delta after the result:`)
    console.log(`- held < 50 ms: ${describe(heldFirst)}, ${mark(harness.median(heldFirst) < 50)}`)
    console.log(`- replay/held >= 10: ${ratio.toFixed(1)}, ${mark(ratio >= 10)}`)
  } finally {
    await gateway.close()
  }
  console.log(`\nTool step section: ${((performance.now() - started) / 1000).toFixed(0)} s in all`)
}
