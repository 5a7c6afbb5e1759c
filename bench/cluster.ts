/**
 * `BENCH_SECTIONS=cluster` (and the last part of `make bench`): what a turn costs when it
 * reaches a node that does not own its session. Two gateway nodes on one embedded Postgres
 * (test/support/ClusterNodes.ts, each node compiled, `node dist/main.js`, with its own project
 * root and home); a node that takes a request for a session it does not own sends the turn to
 * the owner, which runs it on its warm CLI process, and streams the turn's events from the
 * shared log.
 *
 * One session, started with a first turn (not timed); its owner is the node whose project root
 * holds its CLI process. Then, for each of `turns` rounds, one warm turn of that session sent to
 * its owner and one sent through the other node, interleaved (the order flipped every round),
 * both streamed over kept-alive connections and timed to the first content delta and to
 * `[DONE]`. Run with the real CLI against the fake Anthropic API, then with the project's
 * stand-in CLI (test/fixtures/fake-claude.mjs), whose quick and steady answers leave the routing's
 * own cost with less noise around it.
 *
 * The client, statistics and report are run.ts's, handed in.
 */
import * as NodePath from "node:path"
import { type ClusterNode, startCluster } from "../test/support/ClusterNodes.js"
import { fakeCliPath } from "../test/support/Gateway.js"
import { processesUnderRoot } from "../test/support/processes.js"
import type { Report, Sample } from "./samples.js"

/** What run.ts lends this section. */
export interface ClusterHarness {
  readonly turns: number
  /** One streamed turn through the gateway at `baseURL` (a new session when `sessionId` is absent). */
  readonly streamedTurn: (
    baseURL: string,
    prompt: string,
    sessionId?: string
  ) => Promise<Sample & { readonly sessionId: string }>
  readonly report: Report
}

/** The node that runs a process in its default project: the owner of the one session run so far. */
const ownerOf = (nodes: ReadonlyArray<ClusterNode>): ClusterNode => {
  const owners = nodes.filter((node) => processesUnderRoot(NodePath.join(node.projectRoot, "default")).length > 0)
  if (owners.length !== 1) {
    throw new Error(`expected one node to run the session's CLI, found ${owners.map((node) => node.name).join(", ")}`)
  }
  return owners[0]!
}

/** Two nodes; two log lines per turn would fill a node's captured output: warnings and errors are kept. */
const startNodes = (env: Readonly<Record<string, string>>) =>
  startCluster({ nodes: 2, compiled: true, env: { LOG_LEVEL: "warn", ...env } })

/** Owner against non-owner, warm turns of one session, on a cluster whose nodes get `env`. */
const compare = async (harness: ClusterHarness, label: string, env: Readonly<Record<string, string>>) => {
  const cluster = await startNodes(env)
  try {
    const nodes = cluster.live()
    const { sessionId } = await harness.streamedTurn(nodes[0]!.baseURL, "cluster session")
    const owner = ownerOf(nodes)
    const other = nodes.find((node) => node !== owner)!
    const turn = (node: ClusterNode, prompt: string) => harness.streamedTurn(node.baseURL, prompt, sessionId)
    // Warm both paths (the connections, the nodes' JIT, the runners' transport).
    for (let index = 0; index < 3; index++) {
      await turn(owner, "warm up")
      await turn(other, "warm up")
    }
    const ownerSamples: Array<Sample> = []
    const otherSamples: Array<Sample> = []
    for (let index = 0; index < harness.turns; index++) {
      const prompt = `cluster turn ${index}`
      if (index % 2 === 0) {
        ownerSamples.push(await turn(owner, prompt))
        otherSamples.push(await turn(other, prompt))
      } else {
        otherSamples.push(await turn(other, prompt))
        ownerSamples.push(await turn(owner, prompt))
      }
    }
    // Every turn ran where the figures say it did: the session never moved.
    if (ownerOf(nodes) !== owner) throw new Error(`the session moved off ${owner.name} during the run`)
    harness.report(
      `Warm turn of a session on a 2-node cluster (${label}): through its owner vs through the other node`,
      ["owner", "non-owner"],
      ownerSamples,
      otherSamples
    )
  } finally {
    const left = await cluster.close()
    if (left.length > 0) console.warn(`${left.length} CLI processes outlived the cluster (killed)`)
  }
}

export const benchCluster = async (harness: ClusterHarness) => {
  await compare(harness, "real CLI", {})
  await compare(harness, "stand-in CLI", { CLAUDE_BINARY_PATH: fakeCliPath })
}
