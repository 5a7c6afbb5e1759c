/**
 * A client of a test cluster (test/support/ClusterNodes.ts) over plain `fetch`: requests to one
 * node with an optional API key and a bound, SSE answers read to their end, a session's events,
 * and which node owns a session (the one whose project root holds its CLI process).
 */
import * as NodePath from "node:path"
import { expect } from "vitest"
import type { Cluster, ClusterNode } from "./ClusterNodes.js"

export const MODEL = "claude-sonnet-4-5-20250929"

export const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 8)}`

export interface Reply {
  readonly status: number
  readonly headers: Headers
  /** The body as text (an SSE body read to its end). */
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: any
}

export interface RequestOptions {
  readonly method?: string
  readonly key?: string
  readonly body?: unknown
  /** Bounds the whole exchange, body included (the fetch fails with a `TimeoutError`). */
  readonly timeoutMs?: number
}

/** One request to `node` (`path` from the root, e.g. `/v1/sessions`), its body read to the end. */
export const request = async (node: ClusterNode, path: string, options: RequestOptions = {}): Promise<Reply> => {
  const headers: Record<string, string> = {}
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`
  if (options.body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(`${node.url}${path}`, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000)
  })
  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

/** A chat completion request through `node` (the model filled in). */
export const postChat = (node: ClusterNode, body: Record<string, unknown>, options: RequestOptions = {}) =>
  request(node, "/v1/chat/completions", { ...options, body: { model: MODEL, ...body } })

/** The `data:` payloads of an SSE body, `[DONE]` included. */
export const ssePayloads = (text: string): ReadonlyArray<string> =>
  text.split("\n\n").flatMap((frame) => frame.split("\n").filter((line) => line.startsWith("data: ")))
    .map((line) => line.slice("data: ".length))

export interface StreamedAnswer {
  /** The content deltas joined. */
  readonly text: string
  /** Whether the stream ended as a complete answer: `[DONE]` after a finish reason, no error frame. */
  readonly complete: boolean
  /** The chunks, `[DONE]` left out. */
  readonly chunks: ReadonlyArray<any>
}

/** What a chat completion stream said. */
export const streamedAnswer = (text: string): StreamedAnswer => {
  const payloads = ssePayloads(text)
  const chunks = payloads.filter((payload) => payload !== "[DONE]").map((payload) => JSON.parse(payload))
  const finished = chunks.some((chunk) => chunk.choices?.some((choice: any) => choice.finish_reason != null))
  return {
    text: chunks.map((chunk) => chunk.choices?.[0]?.delta?.content ?? "").join(""),
    complete: payloads.at(-1) === "[DONE]" && finished && !chunks.some((chunk) => chunk.error !== undefined),
    chunks
  }
}

export interface EventJson {
  readonly id: number
  readonly type: string
  readonly data: Record<string, any>
}

/** A session's events (up to 1000), read through `node`. */
export const eventsOf = async (
  node: ClusterNode,
  sessionId: string,
  key?: string
): Promise<ReadonlyArray<EventJson>> => {
  const reply = await request(node, `/v1/sessions/${sessionId}/events?limit=1000`, key === undefined ? {} : { key })
  expect(reply.status, `events of ${sessionId} through ${node.name}: ${reply.text}`).toBe(200)
  return reply.json.data
}

/** The pids of a node's CLI processes in the project's directory. */
export const clisOf = (node: ClusterNode, projectId: string): ReadonlyArray<number> =>
  node.cliProcesses().filter(({ cwd }) => cwd === NodePath.join(node.projectRoot, projectId)).map(({ pid }) => pid)

/** The one live node that runs the project's CLI (the owner of the project's one session), or a failure. */
export const ownerOf = (cluster: Cluster, projectId: string): ClusterNode => {
  const owners = cluster.nodesRunning(projectId)
  expect(owners.map((node) => node.name), `the nodes that run a CLI in ${projectId}`).toHaveLength(1)
  return owners[0]!
}
