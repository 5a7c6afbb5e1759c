/**
 * Projects belong to the key that created them, against the full gateway (stand-in CLI):
 * another key's project answers 404 on every route and as a new session's `project_id` in chat,
 * the Responses API and `POST /v1/sessions`; each key's sessions run in its own default project
 * (the Messages API's too); files a key kept stay its own; projects registered with auth off
 * (or before projects had owners) stay shared by every key, except `default`.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SessionCreated } from "../../src/Domain/SessionEvent.js"
import { EventLog } from "../../src/EventLog.js"
import { SessionStore } from "../../src/SessionStore.js"
import { type Gateway, sharedDatabase, startGateway, tempDirectory } from "../support/Gateway.js"
import type { SuiteDatabase } from "../support/SuitePostgres.js"

const keys = [Redacted.make("k-one"), Redacted.make("k-two")]

/** A key's principal id: `key:` and the key's fingerprint. */
const principalOf = (key: string) =>
  `key:${NodeCrypto.createHash("sha256").update(key, "utf8").digest("hex").slice(0, 12)}`
/** The default project of a key: `default-` and the key's fingerprint. */
const defaultOf = (key: string) => `default-${principalOf(key).slice("key:".length)}`

const as = (gateway: Gateway, key: string | null, method: string, path: string, body?: unknown) =>
  fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      ...(key !== null ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {})
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })

/** The status and error code (OpenAI's or Anthropic's envelope) of a response. */
const outcome = async (response: Response) => {
  const body = (await response.json()) as {
    readonly error?: { readonly code?: string | null; readonly type?: string }
  }
  return { status: response.status, code: body.error?.code ?? body.error?.type ?? null }
}

const chat = (gateway: Gateway, key: string | null, extra: Record<string, unknown> = {}) =>
  as(gateway, key, "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "hello" }], ...extra })

describe("projects belong to the key that created them", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway({ requireAuth: true, apiKeys: keys, rateLimitPerMinute: 0 })
  })
  afterAll(() => gateway.close())

  it("ids that differ only in case are one project (one directory where the file system ignores case)", async () => {
    expect((await as(gateway, "k-one", "POST", "/v1/projects", { id: "casey" })).status).toBe(201)
    expect(await outcome(await as(gateway, "k-two", "POST", "/v1/projects", { id: "Casey" }))).toEqual({
      status: 409,
      code: "project_exists"
    })
    expect(await outcome(await chat(gateway, "k-two", { project_id: "CASEY" }))).toEqual({
      status: 404,
      code: "project_not_found"
    })
    const otherDefault = defaultOf("k-one").replace("default", "Default")
    expect(await outcome(await as(gateway, "k-two", "POST", "/v1/projects", { id: otherDefault }))).toEqual({
      status: 400,
      code: "invalid_project_id"
    })
    expect(await outcome(await chat(gateway, "k-two", { project_id: otherDefault }))).toEqual({
      status: 404,
      code: "project_not_found"
    })
  })

  it("another key's project is not found anywhere, and only its owner purges it", async () => {
    expect((await as(gateway, "k-one", "POST", "/v1/projects", { id: "alpha" })).status).toBe(201)
    const directory = NodePath.join(gateway.projectRoot, "alpha")
    expect(NodeFs.existsSync(directory)).toBe(true)

    const notFound = { status: 404, code: "project_not_found" }
    expect(await outcome(await as(gateway, "k-two", "GET", "/v1/projects/alpha"))).toEqual(notFound)
    expect(await outcome(await as(gateway, "k-two", "DELETE", "/v1/projects/alpha"))).toEqual(notFound)
    expect(await outcome(await as(gateway, "k-two", "DELETE", "/v1/projects/alpha?purge=true"))).toEqual(notFound)
    expect(await outcome(await chat(gateway, "k-two", { project_id: "alpha" }))).toEqual(notFound)
    expect(await outcome(await chat(gateway, "k-two", { project_id: "alpha", stream: true }))).toEqual(notFound)
    expect(
      await outcome(await as(gateway, "k-two", "POST", "/v1/responses", { input: "hello", project_id: "alpha" }))
    ).toEqual(notFound)
    expect(await outcome(await as(gateway, "k-two", "POST", "/v1/sessions", { project_id: "alpha" }))).toEqual(notFound)
    const listed = (await (await as(gateway, "k-two", "GET", "/v1/projects")).json()) as {
      data: Array<{ id: string }>
    }
    expect(listed.data.map((project) => project.id)).not.toContain("alpha")
    // Taken ids are one namespace: creating it again says so, and nothing more.
    expect(await outcome(await as(gateway, "k-two", "POST", "/v1/projects", { id: "alpha" }))).toEqual({
      status: 409,
      code: "project_exists"
    })
    expect(NodeFs.existsSync(directory)).toBe(true)

    // Its owner sees it, runs in it, and purges it.
    expect((await as(gateway, "k-one", "GET", "/v1/projects/alpha")).status).toBe(200)
    const own = (await (await as(gateway, "k-one", "GET", "/v1/projects")).json()) as { data: Array<{ id: string }> }
    expect(own.data.map((project) => project.id)).toContain("alpha")
    const turn = await chat(gateway, "k-one", { project_id: "alpha" })
    expect(turn.status).toBe(200)
    expect(turn.headers.get("x-project-id")).toBe("alpha")
    await turn.arrayBuffer()
    expect((await as(gateway, "k-one", "DELETE", "/v1/projects/alpha?purge=true")).status).toBe(200)
    expect(NodeFs.existsSync(directory)).toBe(false)
  })

  it("a project a turn registers belongs to that turn's key", async () => {
    const first = await chat(gateway, "k-one", { project_id: "beta" })
    expect(first.status).toBe(200)
    await first.arrayBuffer()
    expect(await outcome(await as(gateway, "k-two", "GET", "/v1/projects/beta"))).toEqual({
      status: 404,
      code: "project_not_found"
    })
    expect(await outcome(await chat(gateway, "k-two", { project_id: "beta" }))).toEqual({
      status: 404,
      code: "project_not_found"
    })
    expect((await as(gateway, "k-one", "GET", "/v1/projects/beta")).status).toBe(200)
  })

  it("each key's sessions run in its own default project, on every surface", async () => {
    for (const key of ["k-one", "k-two"]) {
      const turn = await chat(gateway, key)
      expect(turn.headers.get("x-project-id")).toBe(defaultOf(key))
      expect(((await turn.json()) as { project_id: string }).project_id).toBe(defaultOf(key))
      const response = await as(gateway, key, "POST", "/v1/responses", { input: "hello" })
      expect(response.headers.get("x-project-id")).toBe(defaultOf(key))
      await response.arrayBuffer()
      const message = await as(gateway, key, "POST", "/v1/messages", {
        model: "claude-sonnet-4-5-20250929",
        max_tokens: 100,
        messages: [{ role: "user", content: "hello" }]
      })
      expect(message.status).toBe(200)
      expect(message.headers.get("x-project-id")).toBe(defaultOf(key))
      await message.arrayBuffer()
      const session = (await (await as(gateway, key, "POST", "/v1/sessions", {})).json()) as { project_id: string }
      expect(session.project_id).toBe(defaultOf(key))
      expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, defaultOf(key)))).toBe(true)
    }
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "default"))).toBe(false)

    // Another key's default project, and the shared `default`, are no key's to name.
    for (const projectId of [defaultOf("k-one"), "default"]) {
      expect(await outcome(await chat(gateway, "k-two", { project_id: projectId }))).toEqual({
        status: 404,
        code: "project_not_found"
      })
    }
    expect(await outcome(await as(gateway, "k-two", "POST", "/v1/projects", { id: "default-someone" }))).toEqual({
      status: 400,
      code: "invalid_project_id"
    })
    expect((await as(gateway, "k-two", "GET", `/v1/projects/${defaultOf("k-two")}`)).status).toBe(200)
  })

  it("files a key kept when it unregistered a project stay its own", async () => {
    expect((await as(gateway, "k-one", "POST", "/v1/projects", { id: "gamma" })).status).toBe(201)
    NodeFs.writeFileSync(NodePath.join(gateway.projectRoot, "gamma", "notes.txt"), "one's notes")
    expect((await as(gateway, "k-one", "DELETE", "/v1/projects/gamma")).status).toBe(200)

    expect(await outcome(await as(gateway, "k-two", "POST", "/v1/projects", { id: "gamma" }))).toEqual({
      status: 409,
      code: "project_exists"
    })
    expect(await outcome(await chat(gateway, "k-two", { project_id: "gamma" }))).toEqual({
      status: 404,
      code: "project_not_found"
    })
    expect((await as(gateway, "k-one", "POST", "/v1/projects", { id: "gamma" })).status).toBe(201)
    // Once purged, the id is free for anyone.
    expect((await as(gateway, "k-one", "DELETE", "/v1/projects/gamma?purge=true")).status).toBe(200)
    expect((await as(gateway, "k-two", "POST", "/v1/projects", { id: "gamma" })).status).toBe(201)
  })

  it("a resent history finds its session only in the same project", async () => {
    const first = (await (await chat(gateway, "k-one")).json()) as {
      session_id: string
      choices: Array<{ message: { content: string } }>
    }
    const history = [
      { role: "user", content: "hello" },
      { role: "assistant", content: first.choices[0]!.message.content },
      { role: "user", content: "and then" }
    ]
    const same = (await (await chat(gateway, "k-one", { messages: history })).json()) as { session_id: string }
    expect(same.session_id).toBe(first.session_id)
    const elsewhere = (await (await chat(gateway, "k-one", { messages: history, project_id: "delta" })).json()) as {
      session_id: string
      project_id: string
    }
    expect(elsewhere.session_id).not.toBe(first.session_id)
    expect(elsewhere.project_id).toBe("delta")
  })
})

describe("projects registered with auth off", () => {
  const directory = tempDirectory("cca-projects-shared-")
  let log: SuiteDatabase | undefined
  beforeAll(async () => {
    log = await sharedDatabase(directory)
  })
  afterAll(async () => {
    await log?.drop()
    NodeFs.rmSync(directory, { recursive: true, force: true })
  })

  it("stay shared by every key once auth is on, except default; no key deletes them", async () => {
    const shared = { database: log!.database, projectRoot: NodePath.join(directory, "projects") }
    const open = await startGateway(shared)
    try {
      expect((await as(open, null, "POST", "/v1/projects", { id: "legacy" })).status).toBe(201)
      const turn = await chat(open, null)
      expect(turn.headers.get("x-project-id")).toBe("default")
      await turn.arrayBuffer()
    } finally {
      await open.close()
    }
    // A session one key ran in the shared `default` before projects had owners.
    await Effect.runPromise(
      Effect.flatMap(SessionStore, (store) =>
        store.append("session-of-one-in-default", 0, [
          new SessionCreated({
            projectId: "default",
            cwd: NodePath.join(shared.projectRoot, "default"),
            owner: principalOf("k-one")
          })
        ])).pipe(Effect.provide(EventLog.layerFor(shared.database).pipe(Layer.provide(NodeContext.layer))))
    )

    const guarded = await startGateway({ ...shared, requireAuth: true, apiKeys: keys, rateLimitPerMinute: 0 })
    try {
      for (const key of ["k-one", "k-two"]) {
        expect((await as(guarded, key, "GET", "/v1/projects/legacy")).status).toBe(200)
        const turn = await chat(guarded, key, { project_id: "legacy" })
        expect(turn.status).toBe(200)
        await turn.arrayBuffer()
        expect(await outcome(await as(guarded, key, "GET", "/v1/projects/default"))).toEqual({
          status: 404,
          code: "project_not_found"
        })
      }
      expect(await outcome(await as(guarded, "k-one", "DELETE", "/v1/projects/legacy?purge=true"))).toEqual({
        status: 403,
        code: "project_not_owned"
      })
      expect(await outcome(await chat(guarded, "k-one", { session_id: "session-of-one-in-default" }))).toEqual({
        status: 404,
        code: "project_not_found"
      })
      expect(NodeFs.existsSync(NodePath.join(shared.projectRoot, "legacy"))).toBe(true)
    } finally {
      await guarded.close()
    }

    // With auth off again, they are the one principal's, as before.
    const reopened = await startGateway(shared)
    try {
      expect((await as(reopened, null, "DELETE", "/v1/projects/legacy")).status).toBe(200)
    } finally {
      await reopened.close()
    }
  })
})
