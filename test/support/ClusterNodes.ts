/**
 * A cluster of gateways for tests: one embedded Postgres, one fake Anthropic API in the test
 * process, and N gateway nodes, each a process of its own (`tsx src/main.ts`, or the build's
 * `node dist/main.js` with `compiled`; configured from
 * the environment) with what a separate machine would have: its own scratch folder, project root
 * and home, the real CLI, and a runner address of its own on the one database. Signals and
 * kills only the processes it started (by pid, or the process group of a node it spawned).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { cliEnvFor, type FakeAnthropic, startFakeAnthropic } from "../fixtures/FakeAnthropic.js"
import { realCliPath, tempDirectory } from "./Gateway.js"
import { freePort } from "./ports.js"
import { startPostgres, type TestPostgres } from "./Postgres.js"
import { childrenOf, claudeProcessesLeftUnder, claudeProcessesUnder } from "./processes.js"

const repoRoot = NodePath.resolve(import.meta.dirname, "..", "..")
const tsx = NodePath.join(repoRoot, "node_modules", ".bin", "tsx")

export interface CliProcess {
  readonly pid: number
  readonly cwd: string
}

export interface ClusterNode {
  /** `node-1`, `node-2`, … */
  readonly name: string
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string
  /** `${url}/v1`, for the openai SDK's baseURL */
  readonly baseURL: string
  /** The node's scratch folder (its real path): its project root and its home lie inside. */
  readonly root: string
  readonly projectRoot: string
  /** `host:port` its runner listens at; undefined when the node was started outside the cluster. */
  readonly runnerAddress: string | undefined
  /** The process that runs the gateway (tsx runs the program in a child of its launcher; node runs it itself). */
  readonly pid: number
  /** What the node wrote to stdout and stderr so far. */
  readonly output: () => string
  /** Whether the node's launcher has exited. */
  readonly exited: () => boolean
  /**
   * SIGTERM: the gateway's graceful shutdown. SIGKILL: a crash of the gateway and its launcher
   * (its CLI processes are left to notice). Resolves once the launcher has exited; fails, with the
   * node's output, when it has not within 20 s.
   */
  readonly kill: (signal: "SIGTERM" | "SIGKILL") => Promise<void>
  /** The `claude.exe` processes running in the node's scratch folder. */
  readonly cliProcesses: () => ReadonlyArray<CliProcess>
}

export interface Cluster {
  readonly postgres: TestPostgres
  /** The nodes' one database, as they connect to it. */
  readonly databaseUrl: string
  /** The fake Anthropic API every node's CLI talks to. */
  readonly fake: FakeAnthropic
  /** Every node started, the ones killed since included. */
  readonly nodes: ReadonlyArray<ClusterNode>
  /** The nodes whose launcher still runs. */
  readonly live: () => ReadonlyArray<ClusterNode>
  /**
   * Resolves once every live node answers `/health` with 200 and, when they are runners, each
   * owns shards and their `cluster.shards` add up to the `cluster.shards_total` they all report
   * (every shard assigned, once, among all of them: a node that started first owns them all
   * until the others join); fails with the nodes' answers
   * and output after `timeoutMs`, or as soon as a node exits.
   */
  readonly waitReady: (timeoutMs?: number) => Promise<void>
  /** The live nodes that hold a CLI process in the project's directory: a session's owner, once it ran a turn. */
  readonly nodesRunning: (projectId: string) => ReadonlyArray<ClusterNode>
  /**
   * Starts one more node (`node-<N+1>`) on the same database and fake API, with `env` over the
   * cluster's variables (e.g. the `CLUSTER_RUNNER_ADDRESS` it is to have); resolves once it
   * answers HTTP, not once it owns shards (see `waitReady`).
   */
  readonly addNode: (env?: Readonly<Record<string, string | undefined>>) => Promise<ClusterNode>
  /**
   * SIGTERMs every live node and waits for them (10 s), waits (5 s) for the CLI processes in the
   * nodes' folders to end, kills what is left (by pid), stops the fake API and Postgres, removes
   * the folders, and returns the CLI processes that outlived the wait.
   */
  readonly close: () => Promise<ReadonlyArray<CliProcess>>
}

export interface ClusterOptions {
  readonly nodes: number
  /** Variables set on every node over the harness's own (undefined removes one). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Run the build (`node dist/main.js`, what `make start` runs; the benchmark's choice) instead of `tsx src/main.ts`. */
  readonly compiled?: boolean
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const gatewayEntry = NodePath.join(repoRoot, "src", "main.ts")
const compiledEntry = NodePath.join(repoRoot, "dist", "main.js")

/** Whether `pid` is a live gateway process of this repository. */
const isGateway = (pid: number) => {
  try {
    const args = NodeFs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
    return args.includes(gatewayEntry) || args.includes(compiledEntry)
  } catch {
    return false
  }
}

const killQuietly = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal)
  } catch {
    // gone already
  }
}

/** The variables a node starts with: a clean environment, none of the developer's or this workplace's (`IS_SANDBOX`). */
const nodeEnvironment = (
  inherited: Readonly<Record<string, string>>,
  own: Readonly<Record<string, string | undefined>>
): Record<string, string> => {
  const env: Record<string, string> = { ...inherited }
  for (const [name, value] of Object.entries(own)) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

/** Spawns one node in a process group of its own and waits until its HTTP server answers. */
const spawnNode = async (
  name: string,
  env: Readonly<Record<string, string | undefined>>,
  root: string,
  compiled: boolean
): Promise<ClusterNode & { readonly child: ChildProcess }> => {
  const port = await freePort()
  const inherited = Object.fromEntries(
    ["PATH", "TMPDIR"].flatMap((variable) =>
      process.env[variable] === undefined ? [] : [[variable, process.env[variable]!]]
    )
  )
  const projectRoot = NodePath.join(root, "projects")
  const home = NodePath.join(root, "home")
  NodeFs.mkdirSync(projectRoot)
  NodeFs.mkdirSync(home)
  const runner = "CLUSTER_RUNNER_ADDRESS" in env ? env.CLUSTER_RUNNER_ADDRESS : `127.0.0.1:${await freePort()}`
  const [command, entry] = compiled ? [process.execPath, compiledEntry] : [tsx, gatewayEntry]
  const child = spawn(command, [entry], {
    // Its own folder: no `.env` of the repository is read.
    cwd: root,
    env: nodeEnvironment(inherited, {
      HOME: home,
      HOST: "127.0.0.1",
      PORT: String(port),
      PROJECT_ROOT: projectRoot,
      CLAUDE_BINARY_PATH: realCliPath,
      SPARE_PROCESS: "false",
      ...env,
      CLUSTER_RUNNER_ADDRESS: runner
    }),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (data: Buffer) => (output += data.toString()))
  child.stderr!.on("data", (data: Buffer) => (output += data.toString()))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const hasExited = () => child.exitCode !== null || child.signalCode !== null
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (hasExited()) throw new Error(`${name} exited while starting:\n${output}`)
    const answered = await fetch(`${url}/`).then(async (response) => {
      await response.arrayBuffer()
      return response.ok
    }, () => false)
    if (answered) break
    if (Date.now() > deadline) {
      killQuietly(-child.pid!, "SIGKILL")
      throw new Error(`${name} did not answer on ${url} within 30 s:\n${output}`)
    }
    await sleep(100)
  }
  const pid = compiled ? child.pid : childrenOf(child.pid!).find(isGateway)
  if (pid === undefined) {
    killQuietly(-child.pid!, "SIGKILL")
    throw new Error(`${name}: no gateway process under its launcher ${child.pid}`)
  }
  return {
    name,
    url,
    baseURL: `${url}/v1`,
    root,
    projectRoot,
    runnerAddress: runner,
    pid,
    child,
    output: () => output,
    exited: hasExited,
    kill: async (signal) => {
      killQuietly(pid, signal)
      if (signal === "SIGKILL") killQuietly(child.pid!, "SIGKILL")
      let timer: NodeJS.Timeout | undefined
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 20_000)))
      ])
      clearTimeout(timer)
      if (!stopped) throw new Error(`${name} had not exited 20 s after ${signal}:\n${output}`)
    },
    cliProcesses: () => claudeProcessesUnder(root)
  }
}

interface Health {
  readonly status?: string
  readonly cluster?: { readonly runner_address?: string; readonly shards?: number; readonly shards_total?: number }
}

/** Each node's `/health`: its status code and body, or the reason it did not answer. */
const healthOf = async (node: ClusterNode): Promise<{ readonly status: number; readonly body: Health } | string> => {
  try {
    const response = await fetch(`${node.url}/health`)
    return { status: response.status, body: (await response.json()) as Health }
  } catch (error) {
    return String(error)
  }
}

export const startCluster = async (options: ClusterOptions): Promise<Cluster> => {
  const scratch = NodeFs.realpathSync(tempDirectory("cca-cluster-"))
  const nodes: Array<ClusterNode & { readonly child: ChildProcess }> = []
  let postgres: TestPostgres | undefined
  let fake: FakeAnthropic | undefined

  const live = () => nodes.filter((node) => !node.exited())

  const close = async (): Promise<ReadonlyArray<CliProcess>> => {
    await Promise.all(live().map((node) => node.kill("SIGTERM").catch(() => undefined)))
    for (const node of live()) {
      // Still running after a graceful stop: its whole group goes (the launcher still leads it).
      killQuietly(-node.child.pid!, "SIGKILL")
    }
    // A gateway that outlived its launcher (checked by its command line: its pid may be another's by now).
    for (const node of nodes) if (isGateway(node.pid)) killQuietly(node.pid, "SIGKILL")
    const left = await claudeProcessesLeftUnder(scratch)
    for (const { pid } of left) killQuietly(pid, "SIGKILL")
    await fake?.close()
    await postgres?.stop()
    NodeFs.rmSync(scratch, { recursive: true, force: true })
    return left
  }

  try {
    postgres = await startPostgres()
    const databaseUrl = await postgres.createDatabase()
    fake = await startFakeAnthropic()
    const env = { DATABASE_URL: databaseUrl, ...cliEnvFor(fake), ...options.env }
    const startNode = (index: number, own: Readonly<Record<string, string | undefined>> = {}) => {
      const root = NodePath.join(scratch, `node-${index + 1}`)
      NodeFs.mkdirSync(root)
      return spawnNode(`node-${index + 1}`, { ...env, ...own }, root, options.compiled === true)
    }
    const started = await Promise.allSettled(Array.from({ length: options.nodes }, (_, index) => startNode(index)))
    for (const result of started) {
      if (result.status === "fulfilled") nodes.push(result.value)
    }
    const failed = started.find((result) => result.status === "rejected")
    if (failed !== undefined) throw failed.reason

    const waitReady = async (timeoutMs = 30_000) => {
      const running = live()
      const runners = running.every((node) => node.runnerAddress !== undefined)
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const answers = await Promise.all(running.map(healthOf))
        const healthy = answers.flatMap((answer) =>
          typeof answer !== "string" && answer.status === 200 ? [answer.body] : []
        )
        const shards = healthy.reduce((sum, body) => sum + (body.cluster?.shards ?? 0), 0)
        const totals = new Set(healthy.map((body) => body.cluster?.shards_total))
        const assigned = totals.size === 1 && shards === [...totals][0] &&
          healthy.every((body) => (body.cluster?.shards ?? 0) > 0)
        if (healthy.length === running.length && (!runners || assigned)) return
        const exited = running.filter((node) => node.exited())
        if (exited.length > 0 || Date.now() > deadline) {
          const report = running.map((node, index) =>
            `${node.name} (${node.url}, runner ${node.runnerAddress}): ${JSON.stringify(answers[index])}\n${
              node.output().slice(-3_000)
            }`
          )
          const why = exited.length > 0
            ? `${exited.map((node) => node.name).join(", ")} exited`
            : `${timeoutMs} ms passed`
          throw new Error(`the cluster was not ready (${why}):\n${report.join("\n\n")}`)
        }
        await sleep(200)
      }
    }
    await waitReady()

    return {
      postgres,
      databaseUrl,
      fake,
      nodes,
      live,
      waitReady,
      nodesRunning: (projectId) =>
        live().filter((node) => claudeProcessesUnder(NodePath.join(node.projectRoot, projectId)).length > 0),
      addNode: async (own) => {
        const node = await startNode(nodes.length, own)
        nodes.push(node)
        return node
      },
      close
    }
  } catch (error) {
    await close().catch(() => undefined)
    throw error
  }
}
