/**
 * `BENCH_SECTIONS=load` (and part of `make bench`): many streamed turns at once through the
 * project's stand-in CLI (test/fixtures/fake-claude.mjs, `FAKE_SLOW`: 30 text deltas 100 ms
 * apart), the gateway against the same stand-in processes spawned and read directly ("bare").
 *
 * For each concurrency (10, 50, 100; `BENCH_LOAD_CONCURRENCY`), rounds alternate gateway and bare
 * (`BENCH_LOAD_ROUNDS` of each, default 3, the order flipped every round), each round starting
 * all its turns at once. Per path: the time from the round's start (when all its turns were
 * asked for) to the first content delta and to the end of the answer (`[DONE]`; bare: the `result` line), median and 90th
 * percentile over all turns of all rounds, and how far apart a turn's first and last deltas
 * arrived (3 s when content arrives as it is produced; near 0 when it comes in one lump at the
 * end). For the gateway: its CPU per turn (user and system time of its process, and of its main
 * thread alone, from /proc) and its resident memory after the rounds. Then memory over time:
 * 1 000 short turns, 10 at a time, and the gateway's RSS after the first 100 and after all.
 *
 * The gateway runs compiled, as `make start` runs it, configured for the load:
 * `MAX_CONCURRENT_TURNS=200` and `QUEUE_TIMEOUT_SECONDS=60` (no turn waits for a slot),
 * `RATE_LIMIT_PER_MINUTE=0` (no 429s), `SPARE_PROCESS=false` (every turn spawns its CLI, as the
 * bare path does, instead of taking an idle one), `MAX_WARM_PROCESSES=0` (a process ends with
 * its turn, as the bare one does) and `LOG_LEVEL=warn`.
 */
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodeReadline from "node:readline"
import { cliArgs, cliEnv, userMessageLine } from "../src/ClaudeProcess/invocation.js"
import { fakeCliPath } from "../test/support/Gateway.js"

interface GatewayProcess {
  readonly baseURL: string
  readonly pid: number
  readonly close: () => Promise<void>
}

/** What run.ts lends this section. */
export interface LoadHarness {
  readonly model: string
  /** The bare stand-in's working directory. */
  readonly cwd: string
  readonly startGatewayProcess: (settings: Record<string, string>) => Promise<GatewayProcess>
  readonly median: (values: ReadonlyArray<number>) => number
}

/** One turn as its reader saw it (ms from the request or spawn; -1: never came). */
interface Turn {
  readonly firstDeltaMs: number
  readonly endMs: number
  /** From the first content delta to the last. */
  readonly spreadMs: number
}

const prompt = "FAKE_SLOW load"
const shortPrompt = "memory"
const settings = {
  CLAUDE_BINARY_PATH: fakeCliPath,
  MAX_CONCURRENT_TURNS: "200",
  QUEUE_TIMEOUT_SECONDS: "60",
  RATE_LIMIT_PER_MINUTE: "0",
  SPARE_PROCESS: "false",
  MAX_WARM_PROCESSES: "0",
  // Two log lines per turn would fill the report; warnings and errors still show.
  LOG_LEVEL: "warn"
}

const concurrencies = (process.env.BENCH_LOAD_CONCURRENCY ?? "10,50,100").split(",").map(Number)
const rounds = Number(process.env.BENCH_LOAD_ROUNDS ?? 3)
const memoryTurns = Number(process.env.BENCH_LOAD_MEMORY_TURNS ?? 1000)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A client as light as the bare reader: no JSON parsing, a substring per frame. */
const contentDelta = /"delta":\{"content":"[^"]/g

/**
 * One streamed turn through the gateway, over its own connection, timed from `started` (the
 * moment the round asked for all its turns).
 */
const viaGateway = (gateway: GatewayProcess, model: string, text: string, started = performance.now()): Promise<Turn> =>
  new Promise((resolve, reject) => {
    const body = JSON.stringify({ model, stream: true, messages: [{ role: "user", content: text }] })
    const request = NodeHttp.request(`${gateway.baseURL}/chat/completions`, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        return reject(new Error(`gateway answered ${response.statusCode}`))
      }
      let first = -1
      let last = -1
      let end = -1
      response.setEncoding("utf8")
      response.on("data", (text: string) => {
        const now = performance.now() - started
        if (text.match(contentDelta) !== null) {
          if (first < 0) first = now
          last = now
        }
        if (end < 0 && text.includes("data: [DONE]")) end = now
      })
      response.on("end", () =>
        end < 0
          ? reject(new Error("gateway stream did not finish"))
          : resolve({ firstDeltaMs: first, endMs: end, spreadMs: first < 0 ? -1 : last - first }))
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end(body)
  })

/**
 * The same turn with the stand-in spawned directly and its stdout read line by line, timed from
 * `started` too: a spawn returns only once its process runs, so the hundredth spawn of a round
 * begins seconds after the first, and timing each turn from its own spawn would leave that wait
 * out of the bare figures (and in the gateway's, whose requests all leave at once).
 */
const viaBare = (harness: LoadHarness, text: string, started = performance.now()): Promise<Turn> =>
  new Promise((resolve, reject) => {
    const child = NodeChild.spawn(
      fakeCliPath,
      cliArgs({
        cwd: harness.cwd,
        model: harness.model,
        systemPrompt: null,
        systemPromptMode: "append",
        permissionMode: "acceptEdits",
        resume: null
      }),
      { cwd: harness.cwd, env: cliEnv({ ...process.env }, { maxRetries: 2 }), stdio: ["pipe", "pipe", "ignore"] }
    )
    let first = -1
    let last = -1
    let end = -1
    NodeReadline.createInterface({ input: child.stdout }).on("line", (line) => {
      const now = performance.now() - started
      if (line.includes("\"text_delta\"")) {
        if (first < 0) first = now
        last = now
      }
      if (end < 0 && line.startsWith("{\"type\":\"result\"")) end = now
    })
    child.stdin.end(userMessageLine([{ _tag: "text", text }]))
    child.on("error", reject)
    // "close", not "exit": the process may end before its last lines are read.
    child.on("close", (code) =>
      code === 0 && end >= 0
        ? resolve({ firstDeltaMs: first, endMs: end, spreadMs: first < 0 ? -1 : last - first })
        : reject(new Error(`the stand-in exited ${code}`)))
  })

/** CPU time (ms) of a process, all threads, and of its main thread alone. */
const cpuOf = (pid: number) => {
  const fields = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  const ticks = Number(fields[11]) + Number(fields[12])
  const mainThreadNs = Number(NodeFs.readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0])
  return { process: ticks * 10, mainThread: mainThreadNs / 1e6 }
}

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(NodeFs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024

const percentile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Concurrency rounds, gateway and bare alternating; a table row per concurrency. */
const benchConcurrency = async (harness: LoadHarness, gateway: GatewayProcess) => {
  const rows: Array<string> = []
  for (const concurrency of concurrencies) {
    const gatewayTurns: Array<Turn> = []
    const bareTurns: Array<Turn> = []
    let cpuProcess = 0
    let cpuMain = 0
    for (let round = 0; round < rounds; round++) {
      const onGateway = async () => {
        const before = cpuOf(gateway.pid)
        const started = performance.now()
        const turns = await Promise.all(
          Array.from({ length: concurrency }, () => viaGateway(gateway, harness.model, prompt, started))
        )
        const after = cpuOf(gateway.pid)
        cpuProcess += after.process - before.process
        cpuMain += after.mainThread - before.mainThread
        for (const turn of turns) gatewayTurns.push(turn)
      }
      const onBare = async () => {
        const started = performance.now()
        const turns = await Promise.all(Array.from({ length: concurrency }, () => viaBare(harness, prompt, started)))
        for (const turn of turns) bareTurns.push(turn)
      }
      for (const run of round % 2 === 0 ? [onGateway, onBare] : [onBare, onGateway]) {
        await run()
        // Let the last processes exit and the machine settle between rounds.
        await sleep(1000)
      }
    }
    const stat = (turns: ReadonlyArray<Turn>, pick: (turn: Turn) => number) => {
      const values = turns.map(pick)
      return { p50: harness.median(values), p90: percentile(values, 0.9) }
    }
    const [gFirst, bFirst] = [stat(gatewayTurns, (t) => t.firstDeltaMs), stat(bareTurns, (t) => t.firstDeltaMs)]
    const [gEnd, bEnd] = [stat(gatewayTurns, (t) => t.endMs), stat(bareTurns, (t) => t.endMs)]
    const [gSpread, bSpread] = [stat(gatewayTurns, (t) => t.spreadMs), stat(bareTurns, (t) => t.spreadMs)]
    const ms = (value: number) => `${(value / 1000).toFixed(2)} s`
    rows.push(
      `| ${concurrency} | ${ms(bFirst.p50)} / ${ms(bFirst.p90)} | ${ms(gFirst.p50)} / ${ms(gFirst.p90)} | ${
        (gFirst.p50 / bFirst.p50).toFixed(2)
      } | ${ms(bEnd.p50)} / ${ms(bEnd.p90)} | ${ms(gEnd.p50)} / ${ms(gEnd.p90)} | ${ms(bSpread.p50)} | ${
        ms(gSpread.p50)
      } | ${(cpuProcess / gatewayTurns.length).toFixed(1)} ms (main thread ${
        (cpuMain / gatewayTurns.length).toFixed(1)
      } ms) | ${rssMiB(gateway.pid).toFixed(0)} MiB |`
    )
  }
  console.log(
    `\nStreamed turns at once through the stand-in CLI (FAKE_SLOW: 30 deltas 100 ms apart), ${rounds} rounds of each path, interleaved\n`
  )
  console.log(
    "| turns at once | bare: first delta p50 / p90 | gateway: first delta p50 / p90 | ratio (p50) | bare: end p50 / p90 | gateway: end p50 / p90 | bare: first to last delta | gateway: first to last delta | gateway CPU per turn | gateway RSS after |"
  )
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  for (const row of rows) console.log(row)
}

/** Short turns, 10 at a time; the gateway's RSS after the first 100 and after all of them. */
const benchMemory = async (harness: LoadHarness, gateway: GatewayProcess) => {
  const marks: Array<readonly [number, number]> = []
  for (let done = 0; done < memoryTurns; done += 10) {
    await Promise.all(Array.from({ length: 10 }, () => viaGateway(gateway, harness.model, shortPrompt)))
    if (done + 10 === 100 || done + 10 === memoryTurns || (done + 10) % 250 === 0) {
      // Let the ended processes be reaped and the last responses close.
      await sleep(500)
      marks.push([done + 10, rssMiB(gateway.pid)])
    }
  }
  const after100 = marks.find(([turns]) => turns === 100)?.[1] ?? 0
  console.log(`\nGateway memory over ${memoryTurns} short streamed turns, 10 at a time\n`)
  console.log("| turns done | RSS | change since the first 100 |")
  console.log("|---:|---:|---:|")
  for (const [turns, rss] of marks) {
    console.log(`| ${turns} | ${rss.toFixed(0)} MiB | ${turns === 100 ? "" : `${(rss - after100).toFixed(0)} MiB`} |`)
  }
}

export const benchLoad = async (harness: LoadHarness) => {
  const gateway = await harness.startGatewayProcess(settings)
  try {
    // Warm both paths (file caches, the gateway's JIT).
    for (let index = 0; index < 3; index++) {
      await Promise.all(Array.from({ length: 10 }, () => viaGateway(gateway, harness.model, shortPrompt)))
      await Promise.all(Array.from({ length: 10 }, () => viaBare(harness, shortPrompt)))
    }
    await benchConcurrency(harness, gateway)
  } finally {
    await gateway.close()
  }
  // A fresh gateway, so that the load above does not count in its memory.
  const fresh = await harness.startGatewayProcess(settings)
  try {
    await benchMemory(harness, fresh)
  } finally {
    await fresh.close()
  }
}
