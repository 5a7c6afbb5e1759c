/**
 * `make bench`: the gateway's overhead over the bare CLI, measured side by side.
 *
 * Both paths run the real `claude` binary against the same fake Anthropic API on
 * loopback, with the same flags, environment and prompt; runs are interleaved (gateway,
 * bare, gateway, bare, …) so machine noise hits both alike. The gateway runs as its own
 * process, compiled (`node dist/main.js`, what `make start` runs); this process is only the
 * client (plain `node:http` over kept-alive connections, as SDK clients keep theirs) and
 * the fake upstream, shared by both paths. Reported: time to first content delta and total
 * time per turn (medians), their ratio and the difference. The same first turns are then run with
 * the project's stand-in CLI (test/fixtures/fake-claude.mjs), whose quick and steady start leaves
 * the gateway's own overhead with far less noise around it.
 *
 * Then, for sessions: the second turn of a session on its warm CLI process against the
 * same turn on a cold process started with `--resume` (interleaved), and the memory that
 * N idle warm sessions hold (their CLI processes' PSS and RSS).
 *
 * Then one step of a client's own tool (OpenAI function calling): the client's result continuing
 * the CLI process that holds the call, against the same step replayed on a new process (bench/toolStep.ts).
 *
 * Then load: 10, 50 and 100 streamed turns at once through the stand-in CLI against the same
 * stand-in processes run bare, and the gateway's memory over 1 000 turns (bench/load.ts).
 *
 * Last, a cluster of two nodes on one embedded Postgres: a session's warm turn sent to the node
 * that owns it against the same turn sent through the other node (bench/cluster.ts).
 *
 * BENCH_FIRST_TURNS (default 100) sets the number of first turns per path, BENCH_TURNS
 * (default 30) the number of turns per path in the other comparisons; BENCH_IDLE_SESSIONS
 * (default 4) the number of idle sessions. BENCH_SECTIONS=first runs the first-turn parts only,
 * BENCH_SECTIONS=standin the stand-in comparison only (half a minute: a quick check of the gateway's own overhead),
 * BENCH_SECTIONS=sessions the warm-turn and idle-memory parts only, BENCH_SECTIONS=tools the tool step only, BENCH_SECTIONS=load the turns at once and the memory over
 * 1 000 turns only (bench/load.ts), BENCH_SECTIONS=cluster the cluster comparison only (bench/cluster.ts).
 */
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import * as NodeReadline from "node:readline"
import { cliArgs, cliEnv, userMessageLine } from "../src/ClaudeProcess/invocation.js"
import { startFakeAnthropic } from "../test/fixtures/FakeAnthropic.js"
import { cliEnvFor } from "../test/fixtures/FakeAnthropic.js"
import { fakeCliPath, realCliPath, tempDirectory } from "../test/support/Gateway.js"
import { freePort } from "../test/support/ports.js"
import { benchCluster } from "./cluster.js"
import { benchLoad } from "./load.js"
import type { Report, Sample } from "./samples.js"
import { benchToolStep } from "./toolStep.js"

const turns = Number(process.env.BENCH_TURNS ?? 30)
/** The first-turn comparison measures a difference of a few milliseconds in runs of half a second: more turns. */
const firstTurns = Number(process.env.BENCH_FIRST_TURNS ?? 100)
const idleSessions = Number(process.env.BENCH_IDLE_SESSIONS ?? 4)
const model = "claude-sonnet-4-5-20250929"

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const fake = await startFakeAnthropic()
const home = tempDirectory("cca-bench-home-")
const cliEnvironment = { ...cliEnvFor(fake), HOME: home }

interface GatewayProcess {
  readonly baseURL: string
  readonly pid: number
  readonly projectRoot: string
  /**
   * Waits until the gateway's CLI processes are back within its warm pool (an evicted one
   * has exited), so that no run's cleanup overlaps the next run, as with the bare CLI,
   * whose run ends when its process has exited.
   */
  readonly settle: () => Promise<void>
  readonly close: () => Promise<void>
}

/** Processes whose working directory lies under `root`. */
const processesUnder = (root: string) =>
  NodeFs.readdirSync("/proc").filter((pid) => {
    if (!/^\d+$/.test(pid)) return false
    try {
      return NodeFs.readlinkSync(`/proc/${pid}/cwd`).startsWith(root)
    } catch {
      return false
    }
  })

const repoRoot = NodePath.resolve(import.meta.dirname, "..")
const compiledMain = NodePath.join(repoRoot, "dist", "main.js")
if (!NodeFs.existsSync(compiledMain)) {
  throw new Error("dist/main.js is missing: run `make build` first (`make bench` does)")
}

/** The gateway as its own process (`node dist/main.js`), configured by environment. */
const startGatewayProcess = async (settings: Record<string, string>): Promise<GatewayProcess> => {
  const directory = tempDirectory("cca-bench-gateway-")
  const port = await freePort()
  const projectRoot = NodePath.join(directory, "projects")
  const child = NodeChild.spawn(process.execPath, [compiledMain], {
    cwd: directory,
    env: {
      ...process.env,
      ...cliEnvironment,
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: NodePath.join(directory, "gateway.db"),
      PROJECT_ROOT: projectRoot,
      CLAUDE_BINARY_PATH: realCliPath,
      CLAUDE_PERMISSION_MODE: "acceptEdits",
      SPARE_PROCESS: "false",
      // The report is this process's output: the gateway's request and turn lines would drown it.
      LOG_LEVEL: "warn",
      ...settings
    },
    stdio: ["ignore", "ignore", "inherit"]
  })
  const baseURL = `http://127.0.0.1:${port}/v1`
  const deadline = Date.now() + 30_000
  for (;;) {
    const healthy = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)
    if (healthy) break
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("the gateway did not start")
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  // The warm pool, plus the spare process when there is one.
  const maxWarm = Number(settings.MAX_WARM_PROCESSES ?? 4) + (settings.SPARE_PROCESS === "true" ? 1 : 0)
  return {
    baseURL,
    pid: child.pid!,
    projectRoot,
    settle: async () => {
      const until = Date.now() + 3_000
      while (processesUnder(projectRoot).length > maxWarm && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    },
    close: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await exited
      NodeFs.rmSync(directory, { recursive: true, force: true })
    }
  }
}

const gateway = await startGatewayProcess({})
const bareCwd = NodePath.join(gateway.projectRoot, "default")
NodeFs.mkdirSync(bareCwd, { recursive: true })

/** Connections are kept alive between turns, as the SDK clients do. */
const agent = new NodeHttp.Agent({ keepAlive: true })

/**
 * One streamed turn, timed from the request to the first content chunk and to `[DONE]`
 * (the client has the whole answer; the bare CLI's equivalent is its `result` line).
 */
const streamedTurn = (
  baseURL: string,
  prompt: string,
  sessionId?: string
): Promise<Sample & { readonly sessionId: string }> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const body = JSON.stringify({
      model,
      stream: true,
      messages: [{ role: "user", content: prompt }],
      session_id: sessionId
    })
    const request = NodeHttp.request(`${baseURL}/chat/completions`, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        return reject(new Error(`gateway answered ${response.statusCode}`))
      }
      let firstDeltaMs = -1
      let totalMs = -1
      let buffer = ""
      response.setEncoding("utf8")
      response.on("data", (text: string) => {
        buffer += text
        if (firstDeltaMs < 0 && /"delta":\{"content":"[^"]/.test(buffer)) firstDeltaMs = performance.now() - started
        if (totalMs < 0 && buffer.includes("data: [DONE]")) totalMs = performance.now() - started
      })
      response.on("end", () =>
        totalMs < 0
          ? reject(new Error("gateway stream did not finish"))
          : resolve({ firstDeltaMs, totalMs, sessionId: String(response.headers["x-session-id"]) }))
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end(body)
  })

/** A streamed turn through `target`, then a wait until its CLI processes are back within its pool. */
const turnOn = async (target: GatewayProcess, prompt: string, sessionId?: string) => {
  const sample = await streamedTurn(target.baseURL, prompt, sessionId)
  await target.settle()
  return sample
}

const viaGateway = (prompt: string) => turnOn(gateway, prompt)

/** The same turn with the CLI spawned directly, timed to its first text delta and to its `result` line. */
const viaBareCli = (prompt: string, binary: string = realCliPath): Promise<Sample> =>
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
    const child = NodeChild.spawn(binary, args, {
      cwd: bareCwd,
      env: cliEnv({ ...process.env, ...cliEnvironment }, { maxRetries: 2 }),
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

/**
 * `count` rounds of one run on each path, alternating which goes first so that neither always
 * runs on a cooler machine. The samples come back in round order, so they pair up.
 */
const interleaved = async (
  count: number,
  label: string,
  gatewayRun: (prompt: string) => Promise<Sample>,
  bareRun: (prompt: string) => Promise<Sample>
) => {
  const gatewaySamples: Array<Sample> = []
  const bareSamples: Array<Sample> = []
  for (let index = 0; index < count; index++) {
    const prompt = `${label} ${index}`
    if (index % 2 === 0) {
      gatewaySamples.push(await gatewayRun(prompt))
      bareSamples.push(await bareRun(prompt))
    } else {
      bareSamples.push(await bareRun(prompt))
      gatewaySamples.push(await gatewayRun(prompt))
    }
  }
  return { gatewaySamples, bareSamples }
}

/**
 * A 95% interval for the median of `values`: the median of 2000 resamples (drawn with a
 * fixed seed, so a run's interval does not move between reports), 2.5th to 97.5th percentile.
 */
const medianInterval = (values: ReadonlyArray<number>): readonly [number, number] => {
  let seed = 20261124
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647
  const medians = Array.from(
    { length: 2000 },
    () => median(values.map(() => values[Math.floor(random() * values.length)]!))
  )
  medians.sort((a, b) => a - b)
  return [medians[50]!, medians[1949]!]
}

const report: Report = (label, names, left, right) => {
  const rows = [
    ["time to first content delta", (s: Sample) => s.firstDeltaMs],
    ["time to the whole answer", (s: Sample) => s.totalMs]
  ] as const
  console.log(`\n${label} (${left.length} turns each, interleaved, medians)\n`)
  console.log(
    `| measure | ${names[0]} | ${
      names[1]
    } | ratio | difference | paired difference: p25 / median / p75 | 95% interval of the paired median |`
  )
  console.log("|---|---:|---:|---:|---:|---:|---:|")
  for (const [name, pick] of rows) {
    const a = median(left.map(pick))
    const b = median(right.map(pick))
    // Each turn against its neighbour of the other path: drift of the machine cancels out.
    const paired = right.map((sample, index) => pick(sample) - pick(left[index]!)).sort((x, y) => x - y)
    const at = (q: number) => paired[Math.min(paired.length - 1, Math.floor(q * paired.length))]!.toFixed(1)
    const [low, high] = medianInterval(paired)
    console.log(
      `| ${name} | ${a.toFixed(1)} ms | ${b.toFixed(1)} ms | ${(b / a).toFixed(3)} | ${(b - a).toFixed(1)} ms | ${
        at(0.25)
      } / ${median(paired).toFixed(1)} / ${at(0.75)} ms | ${low.toFixed(1)} to ${high.toFixed(1)} ms |`
    )
  }
}

/** PSS and RSS (kB) of the processes whose working directory lies under `root`. */
const memoryUnder = (root: string) => {
  let pss = 0
  let rss = 0
  let count = 0
  for (const pid of NodeFs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (!NodeFs.readlinkSync(`/proc/${pid}/cwd`).startsWith(root)) continue
      const rollup = NodeFs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8")
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0)
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0)
      count++
    } catch {
      // The process ended while we looked.
    }
  }
  return { pss, rss, count }
}

/** Second turns on warm sessions against second turns on cold `--resume` processes. */
const benchSessions = async () => {
  const warmGateway = await startGatewayProcess({ MAX_WARM_PROCESSES: String(turns + 1) })
  const coldGateway = await startGatewayProcess({ MAX_WARM_PROCESSES: "0" })
  try {
    const warmSamples: Array<Sample> = []
    const coldSamples: Array<Sample> = []
    for (let index = 0; index < turns; index++) {
      const warmFirst = await turnOn(warmGateway, `session ${index} turn 1`)
      const coldFirst = await turnOn(coldGateway, `session ${index} turn 1`)
      if (index % 2 === 0) {
        warmSamples.push(await turnOn(warmGateway, "turn 2", warmFirst.sessionId))
        coldSamples.push(await turnOn(coldGateway, "turn 2", coldFirst.sessionId))
      } else {
        coldSamples.push(await turnOn(coldGateway, "turn 2", coldFirst.sessionId))
        warmSamples.push(await turnOn(warmGateway, "turn 2", warmFirst.sessionId))
      }
    }
    report(
      "Second turn of a session: cold process with --resume vs warm process",
      ["cold --resume", "warm"],
      coldSamples,
      warmSamples
    )
  } finally {
    await warmGateway.close()
    await coldGateway.close()
  }

  const idleGateway = await startGatewayProcess({ MAX_WARM_PROCESSES: String(idleSessions) })
  try {
    for (let index = 0; index < idleSessions; index++) await streamedTurn(idleGateway.baseURL, `idle session ${index}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const { count, pss, rss } = memoryUnder(idleGateway.projectRoot)
    console.log(`\nMemory held by ${idleSessions} idle warm sessions (${count} CLI processes)\n`)
    console.log("| measure | total | per session |")
    console.log("|---|---:|---:|")
    console.log(
      `| PSS (shared pages split between processes) | ${(pss / 1024).toFixed(0)} MiB | ${
        (pss / 1024 / idleSessions).toFixed(0)
      } MiB |`
    )
    console.log(`| RSS | ${(rss / 1024).toFixed(0)} MiB | ${(rss / 1024 / idleSessions).toFixed(0)} MiB |`)
    console.log(`\nA passivated session (after SESSION_IDLE_SECONDS) holds no process: only its rows in the event log.`)
  } finally {
    await idleGateway.close()
  }
}

/**
 * Which parts run: all of them, the first turns only (real CLI, stand-in, spare), the stand-in
 * comparison only, or the tool step only.
 */
const sections = process.env.BENCH_SECTIONS ?? "all"
const firstTurnParts = sections === "all" || sections === "first"

try {
  if (firstTurnParts) {
    // Warm both paths (file caches, the CLI's first-run setup in HOME, the gateway's JIT).
    for (let index = 0; index < 3; index++) {
      await viaBareCli("warm up")
      await viaGateway("warm up")
    }
    const { bareSamples, gatewaySamples } = await interleaved(firstTurns, "benchmark turn", viaGateway, viaBareCli)
    report(
      "First turn: bare CLI vs gateway (streaming, new session, new CLI process)",
      ["bare CLI", "gateway"],
      bareSamples,
      gatewaySamples
    )
  }

  if (sections === "all" || sections === "first" || sections === "standin") {
    // The same comparison with the project's stand-in CLI (test/fixtures/fake-claude.mjs): it starts
    // in about 0.1 s, with little variance, so what is left of the difference is the gateway's own.
    const fakeGateway = await startGatewayProcess({ CLAUDE_BINARY_PATH: fakeCliPath })
    try {
      const fakeTurn = (prompt: string) => turnOn(fakeGateway, prompt)
      for (let index = 0; index < 3; index++) {
        await viaBareCli("warm up", fakeCliPath)
        await fakeTurn("warm up")
      }
      const { bareSamples, gatewaySamples } = await interleaved(
        firstTurns,
        "stand-in turn",
        fakeTurn,
        (prompt) => viaBareCli(prompt, fakeCliPath)
      )
      report(
        "First turn with the stand-in CLI: the gateway's own overhead",
        ["bare stand-in", "gateway"],
        bareSamples,
        gatewaySamples
      )
    } finally {
      await fakeGateway.close()
    }
  }

  if (firstTurnParts) {
    // The same new sessions, with the gateway's spare process (SPARE_PROCESS=true).
    const spareGateway = await startGatewayProcess({ SPARE_PROCESS: "true" })
    try {
      const spareTurn = async (prompt: string) => {
        const sample = await turnOn(spareGateway, prompt)
        // The next spare starts after each turn: let its start-up finish (as between real
        // conversations) so that it does not overlap the next measured run.
        await new Promise((resolve) => setTimeout(resolve, 1500))
        return sample
      }
      await spareTurn("warm up")
      const { bareSamples, gatewaySamples } = await interleaved(turns, "spare turn", spareTurn, viaBareCli)
      report(
        "New session, gateway with its spare process (SPARE_PROCESS=true) vs bare CLI",
        ["bare CLI", "gateway"],
        bareSamples,
        gatewaySamples
      )
    } finally {
      await spareGateway.close()
    }
  }
  if (sections === "all" || sections === "sessions") await benchSessions()
  if (sections === "all" || sections === "tools") {
    await benchToolStep({ turns, model, agent, startGatewayProcess, median, medianInterval, report })
  }
  if (sections === "all" || sections === "load") await benchLoad({ model, cwd: bareCwd, startGatewayProcess, median })
  if (sections === "all" || sections === "cluster") await benchCluster({ turns, streamedTurn, report })
} finally {
  await gateway.close()
  await fake.close()
  NodeFs.rmSync(home, { recursive: true, force: true })
}
