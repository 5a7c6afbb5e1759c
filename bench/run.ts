/**
 * `make bench`: the gateway's overhead over the bare CLI, measured side by side.
 *
 * Both paths run the real `claude` binary against the same fake Anthropic API on
 * loopback, with the same flags, environment and prompt; runs are interleaved (gateway,
 * bare, gateway, bare, …) so machine noise hits both alike. Reported: time to first
 * content delta and total time per turn (medians), their ratio and the difference.
 *
 * BENCH_TURNS (default 12) sets the number of turns per path.
 */
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeReadline from "node:readline"
import { cliArgs, cliEnv, userMessageLine } from "../src/ClaudeProcess/invocation.js"
import { startFakeAnthropic } from "../test/fixtures/FakeAnthropic.js"
import { realCliConfig, realCliPath, startGateway, tempDirectory } from "../test/support/Gateway.js"

const turns = Number(process.env.BENCH_TURNS ?? 12)
const model = "claude-sonnet-4-5-20250929"

interface Sample {
  readonly firstDeltaMs: number
  readonly totalMs: number
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const fake = await startFakeAnthropic()
const home = tempDirectory("cca-bench-home-")
const config = realCliConfig(fake, home)
const gateway = await startGateway({ ...config, permissionMode: "acceptEdits" })
const bareCwd = NodePath.join(gateway.projectRoot, "default")
NodeFs.mkdirSync(bareCwd, { recursive: true })

/** One streamed turn through the gateway, timed from the request to the first content chunk and to `[DONE]`. */
const viaGateway = async (prompt: string): Promise<Sample> => {
  const started = performance.now()
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: prompt }] })
  })
  if (!response.ok || response.body === null) throw new Error(`gateway answered ${response.status}`)
  let firstDeltaMs = -1
  let buffer = ""
  const decoder = new TextDecoder()
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes as Uint8Array, { stream: true })
    if (firstDeltaMs < 0 && /"delta":\{"content":"[^"]/.test(buffer)) firstDeltaMs = performance.now() - started
  }
  if (!buffer.includes("data: [DONE]")) throw new Error("gateway stream did not finish")
  return { firstDeltaMs, totalMs: performance.now() - started }
}

/** The same turn with the CLI spawned directly, timed to its first text delta and to its `result` line. */
const viaBareCli = (prompt: string): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const args = cliArgs({
      cwd: bareCwd,
      model,
      systemPrompt: null,
      systemPromptMode: "append",
      permissionMode: "acceptEdits",
      resume: null
    })
    const child = NodeChild.spawn(realCliPath, args, {
      cwd: bareCwd,
      env: cliEnv({ ...process.env, ...config.cliEnv }, { maxRetries: 2 }),
      stdio: ["pipe", "pipe", "ignore"]
    })
    let firstDeltaMs = -1
    let totalMs = -1
    NodeReadline.createInterface({ input: child.stdout }).on("line", (line) => {
      if (firstDeltaMs < 0 && line.includes("\"text_delta\"")) firstDeltaMs = performance.now() - started
      if (totalMs < 0 && line.startsWith("{\"type\":\"result\"")) totalMs = performance.now() - started
    })
    child.stdin.end(userMessageLine([{ _tag: "text", text: prompt }]))
    child.on("error", reject)
    // Wait for the exit too, so the next run does not overlap this one.
    child.on("exit", (code) =>
      code === 0 && totalMs >= 0 ? resolve({ firstDeltaMs, totalMs }) : reject(new Error(`claude exited ${code}`)))
  })

const report = (label: string, gatewaySamples: ReadonlyArray<Sample>, bareSamples: ReadonlyArray<Sample>) => {
  const rows = [
    ["time to first content delta", (s: Sample) => s.firstDeltaMs],
    ["total time per turn", (s: Sample) => s.totalMs]
  ] as const
  console.log(`\n${label} (${gatewaySamples.length} turns each, interleaved, medians)\n`)
  console.log("| measure | bare CLI | gateway | ratio | overhead |")
  console.log("|---|---:|---:|---:|---:|")
  for (const [name, pick] of rows) {
    const bare = median(bareSamples.map(pick))
    const via = median(gatewaySamples.map(pick))
    console.log(`| ${name} | ${bare.toFixed(1)} ms | ${via.toFixed(1)} ms | ${(via / bare).toFixed(3)} | ${(via - bare).toFixed(1)} ms |`)
  }
}

try {
  // Warm both paths once (file caches, the CLI's first-run setup in HOME).
  await viaBareCli("warm up")
  await viaGateway("warm up")
  const gatewaySamples: Array<Sample> = []
  const bareSamples: Array<Sample> = []
  for (let index = 0; index < turns; index++) {
    const prompt = `benchmark turn ${index}`
    // Alternate which path goes first, so neither always runs on a cooler machine.
    if (index % 2 === 0) {
      gatewaySamples.push(await viaGateway(prompt))
      bareSamples.push(await viaBareCli(prompt))
    } else {
      bareSamples.push(await viaBareCli(prompt))
      gatewaySamples.push(await viaGateway(prompt))
    }
  }
  report("Gateway (streaming, one fresh CLI process per turn) vs bare CLI", gatewaySamples, bareSamples)
} finally {
  await gateway.close()
  await fake.close()
  NodeFs.rmSync(home, { recursive: true, force: true })
}
