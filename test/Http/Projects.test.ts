/**
 * The projects API end to end: creating (id from the name, or given), listing, reading
 * and deleting projects (with or without their directory), chat turns that run in and
 * register their project's directory, and every way an id could leave the project root
 * (`..`, separators, absolute paths, NUL bytes, a symlink) refused with 400.
 */
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Gateway, startGateway, tempDirectory } from "../support/Gateway.js"

interface ErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

interface ProjectBody {
  readonly id: string
  readonly object: "project"
  readonly name: string
  readonly description: string | null
  readonly path: string
  readonly created_at: number
}

interface ProjectListBody {
  readonly object: "list"
  readonly data: ReadonlyArray<ProjectBody>
  readonly total: number
  readonly limit: number
  readonly offset: number
  readonly has_more: boolean
}

interface Completion {
  readonly session_id: string
  readonly project_id: string
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }>
}

const request = (gateway: Gateway, method: string, path: string, body?: unknown) =>
  fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: "Bearer test", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })

/** A request with the path sent byte for byte (fetch would normalise `..` segments away). */
const rawRequest = (
  gateway: Gateway,
  method: string,
  rawPath: string
): Promise<{ status: number; contentType: string; body: string }> =>
  new Promise((resolve, reject) => {
    const url = new URL(gateway.url)
    const outgoing = NodeHttp.request(
      { host: url.hostname, port: url.port, method, path: rawPath, headers: { authorization: "Bearer test" } },
      (incoming) => {
        let body = ""
        incoming.setEncoding("utf8")
        incoming.on("data", (chunk: string) => (body += chunk))
        incoming.on("end", () =>
          resolve({
            status: incoming.statusCode ?? 0,
            contentType: String(incoming.headers["content-type"] ?? ""),
            body
          }))
        incoming.on("error", reject)
      }
    )
    outgoing.on("error", reject)
    outgoing.end()
  })

const json = async <A>(response: Response | Promise<Response>, status = 200): Promise<A> => {
  const answer = await response
  const text = await answer.text()
  expect(answer.status, text).toBe(status)
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/)
  return JSON.parse(text) as A
}

const expectEnvelopeBody = (
  text: string,
  expected: { readonly code?: string | null; readonly param?: string | null }
) => {
  const body = JSON.parse(text) as ErrorBody
  expect(Object.keys(body)).toEqual(["error"])
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"])
  expect(body.error.message.length).toBeGreaterThan(0)
  if (expected.code !== undefined) expect(body.error.code).toBe(expected.code)
  if (expected.param !== undefined) expect(body.error.param).toBe(expected.param)
  return body.error
}

const expectEnvelope = async (
  response: Response | Promise<Response>,
  status: number,
  expected: { readonly code?: string | null; readonly param?: string | null } = {}
) => expectEnvelopeBody(JSON.stringify(await json<ErrorBody>(response, status)), expected)

const chat = (gateway: Gateway, body: Record<string, unknown>) =>
  request(gateway, "POST", "/v1/chat/completions", { model: "sonnet", ...body })

const listIds = async (gateway: Gateway) =>
  (await json<ProjectListBody>(request(gateway, "GET", "/v1/projects?limit=100"))).data.map((project) => project.id)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

describe("projects over HTTP", () => {
  let gateway: Gateway
  let outside: string
  beforeAll(async () => {
    gateway = await startGateway()
    outside = tempDirectory("cca-outside-")
  })
  afterAll(async () => {
    await gateway?.close()
    NodeFs.rmSync(outside, { recursive: true, force: true })
  })

  it("POST /v1/projects derives the id from the name and creates the directory", async () => {
    const project = await json<ProjectBody>(
      request(gateway, "POST", "/v1/projects", { name: "My App", description: "d" }),
      201
    )
    expect(project).toEqual({
      id: "my-app",
      object: "project",
      name: "My App",
      description: "d",
      path: NodePath.join(gateway.projectRoot, "my-app"),
      created_at: expect.any(Number),
      updated_at: expect.any(Number),
      is_active: true
    })
    expect(Math.abs(project.created_at - Date.now() / 1000)).toBeLessThan(60)
    expect(NodeFs.statSync(NodePath.join(gateway.projectRoot, "my-app")).isDirectory()).toBe(true)
  })

  it("POST /v1/projects takes an explicit id (name defaults to it)", async () => {
    await sleep(5)
    const project = await json<ProjectBody>(request(gateway, "POST", "/v1/projects", { id: "alpha" }), 201)
    expect(project).toMatchObject({
      id: "alpha",
      name: "alpha",
      description: null,
      path: NodePath.join(gateway.projectRoot, "alpha")
    })
    expect(NodeFs.statSync(project.path).isDirectory()).toBe(true)
    // `path` equal to the id is accepted; `path` alone names the id.
    await sleep(5)
    expect((await json<ProjectBody>(request(gateway, "POST", "/v1/projects", { id: "gamma", path: "gamma" }), 201)).id)
      .toBe("gamma")
    await sleep(5)
    expect((await json<ProjectBody>(request(gateway, "POST", "/v1/projects", { path: "delta" }), 201)).id).toBe("delta")
  })

  it("refuses a duplicate with 409 project_exists", async () => {
    await expectEnvelope(request(gateway, "POST", "/v1/projects", { id: "alpha" }), 409, {
      code: "project_exists",
      param: "id"
    })
    await expectEnvelope(request(gateway, "POST", "/v1/projects", { name: "My App" }), 409, { code: "project_exists" })
  })

  it("refuses a project with neither id nor name, and a `path` other than the id", async () => {
    await expectEnvelope(request(gateway, "POST", "/v1/projects", {}), 400)
    await expectEnvelope(request(gateway, "POST", "/v1/projects", { description: "only" }), 400)
    await expectEnvelope(request(gateway, "POST", "/v1/projects", { id: "epsilon", path: "other" }), 400, {
      param: "path"
    })
    await expectEnvelope(request(gateway, "POST", "/v1/projects", { id: "epsilon", path: "../epsilon" }), 400, {
      param: "path"
    })
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "epsilon"))).toBe(false)
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "other"))).toBe(false)
    expect(await listIds(gateway)).not.toContain("epsilon")
  })

  it("GET /v1/projects lists projects oldest first, paged", async () => {
    const all = await json<ProjectListBody>(request(gateway, "GET", "/v1/projects"))
    expect(all).toMatchObject({ object: "list", total: 4, limit: 20, offset: 0, has_more: false })
    expect(all.data.map((project) => project.id)).toEqual(["my-app", "alpha", "gamma", "delta"])
    expect(all.data.every((project) => project.object === "project")).toBe(true)

    const first = await json<ProjectListBody>(request(gateway, "GET", "/v1/projects?limit=1"))
    expect(first.data.map((project) => project.id)).toEqual(["my-app"])
    expect(first).toMatchObject({ total: 4, limit: 1, offset: 0, has_more: true })
    const middle = await json<ProjectListBody>(request(gateway, "GET", "/v1/projects?limit=2&offset=1"))
    expect(middle.data.map((project) => project.id)).toEqual(["alpha", "gamma"])
    expect(middle).toMatchObject({ total: 4, has_more: true })
    const last = await json<ProjectListBody>(request(gateway, "GET", "/v1/projects?limit=2&offset=2"))
    expect(last.data.map((project) => project.id)).toEqual(["gamma", "delta"])
    expect(last.has_more).toBe(false)
    const beyond = await json<ProjectListBody>(request(gateway, "GET", "/v1/projects?offset=10"))
    expect(beyond).toMatchObject({ data: [], total: 4, has_more: false })

    await expectEnvelope(request(gateway, "GET", "/v1/projects?limit=0"), 400)
    await expectEnvelope(request(gateway, "GET", "/v1/projects?limit=101"), 400)
    await expectEnvelope(request(gateway, "GET", "/v1/projects?offset=-1"), 400)
  })

  it("GET /v1/projects/{id} returns one project; an unknown one is 404 project_not_found", async () => {
    const project = await json<ProjectBody>(request(gateway, "GET", "/v1/projects/my-app"))
    expect(project).toMatchObject({ id: "my-app", object: "project", name: "My App", description: "d" })
    await expectEnvelope(request(gateway, "GET", "/v1/projects/nope"), 404, {
      code: "project_not_found",
      param: "project_id"
    })
    await expectEnvelope(request(gateway, "DELETE", "/v1/projects/nope"), 404, { code: "project_not_found" })
  })

  it("DELETE /v1/projects/{id} unregisters a project and keeps its directory", async () => {
    expect(await json(request(gateway, "DELETE", "/v1/projects/alpha"))).toEqual({
      id: "alpha",
      object: "project",
      deleted: true,
      purged: false,
      project_id: "alpha",
      status: "deleted"
    })
    expect(await listIds(gateway)).not.toContain("alpha")
    await expectEnvelope(request(gateway, "GET", "/v1/projects/alpha"), 404, { code: "project_not_found" })
    await expectEnvelope(request(gateway, "DELETE", "/v1/projects/alpha"), 404, { code: "project_not_found" })
    expect(NodeFs.statSync(NodePath.join(gateway.projectRoot, "alpha")).isDirectory()).toBe(true)

    // It can be registered again.
    const again = await json<ProjectBody>(
      request(gateway, "POST", "/v1/projects", { id: "alpha", description: "back" }),
      201
    )
    expect(again.description).toBe("back")
    expect(await listIds(gateway)).toContain("alpha")
  })

  it("DELETE /v1/projects/{id}?purge=true also removes the directory", async () => {
    NodeFs.writeFileSync(NodePath.join(gateway.projectRoot, "my-app", "notes.txt"), "hello")
    expect(await json(request(gateway, "DELETE", "/v1/projects/my-app?purge=true"))).toEqual({
      id: "my-app",
      object: "project",
      deleted: true,
      purged: true,
      project_id: "my-app",
      status: "deleted"
    })
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "my-app"))).toBe(false)
    expect(await listIds(gateway)).not.toContain("my-app")
    // Nothing else under the root was touched.
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "alpha"))).toBe(true)
  })

  it("runs a chat turn with project_id in <root>/<id> and registers the project", async () => {
    const completion = await json<Completion>(chat(gateway, {
      project_id: "beta",
      messages: [{ role: "user", content: "FAKE_ECHO_ARGS where am I" }]
    }))
    expect(completion.project_id).toBe("beta")
    const echoed = JSON.parse(completion.choices[0]!.message.content) as { cwd: string }
    const betaDir = NodePath.join(gateway.projectRoot, "beta")
    expect(NodeFs.realpathSync(echoed.cwd)).toBe(NodeFs.realpathSync(betaDir))
    expect(await listIds(gateway)).toContain("beta")
    const beta = await json<ProjectBody>(request(gateway, "GET", "/v1/projects/beta"))
    expect(beta).toMatchObject({ id: "beta", name: "beta", description: null, path: betaDir })

    // A second turn in the same project does not register it twice.
    await json<Completion>(chat(gateway, { project_id: "beta", messages: [{ role: "user", content: "again" }] }))
    expect((await listIds(gateway)).filter((id) => id === "beta")).toHaveLength(1)

    // The session belongs to the project.
    const sessions = await json<{ data: ReadonlyArray<{ id: string; project_id: string }> }>(
      request(gateway, "GET", "/v1/sessions?project_id=beta")
    )
    expect(sessions.data.map((session) => session.id)).toContain(completion.session_id)

    // Deleted (and its directory purged), then used again by a chat turn: registered anew.
    await json(request(gateway, "DELETE", "/v1/projects/beta?purge=true"))
    expect(await listIds(gateway)).not.toContain("beta")
    await json<Completion>(chat(gateway, { project_id: "beta", messages: [{ role: "user", content: "back again" }] }))
    expect(await listIds(gateway)).toContain("beta")
    expect(NodeFs.statSync(betaDir).isDirectory()).toBe(true)
  })

  // ---------------------------------------------------------------------------
  // Escapes

  const escapingIds = ["..", "../x", "/etc", "a/b", "a\u0000b"]

  it("refuses ids that leave the project root in POST /v1/projects bodies", async () => {
    for (const id of escapingIds) {
      await expectEnvelope(request(gateway, "POST", "/v1/projects", { id }), 400)
      await expectEnvelope(request(gateway, "POST", "/v1/projects", { path: id }), 400)
    }
    await expectEnvelope(request(gateway, "POST", "/v1/projects", { name: "../.." }), 400)
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "..", "x"))).toBe(false)
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "a"))).toBe(false)
    expect(await listIds(gateway)).toEqual(["gamma", "delta", "alpha", "beta"])
  })

  it("refuses ids that leave the project root in chat requests", async () => {
    for (const id of escapingIds) {
      await expectEnvelope(
        chat(gateway, { project_id: id, messages: [{ role: "user", content: "FAKE_ECHO_ARGS" }] }),
        400,
        {
          param: "project_id"
        }
      )
      await expectEnvelope(request(gateway, "POST", "/v1/sessions", { project_id: id }), 400, { param: "project_id" })
    }
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "..", "x"))).toBe(false)
    expect(NodeFs.existsSync(NodePath.join(gateway.projectRoot, "a"))).toBe(false)
  })

  it("refuses ids that leave the project root in URL paths (GET and DELETE)", async () => {
    // A sibling of the project root (the SQLite database is one, when the log is on SQLite).
    const sibling = NodePath.join(gateway.directory, "sibling.txt")
    NodeFs.writeFileSync(sibling, "keep")
    const encoded = ["..", "..%2Fx", "%2E%2E", "%2E%2E%2Fx", "%2Fetc", "a%2Fb", "a%00b"]
    for (const segment of encoded) {
      for (const method of ["GET", "DELETE"]) {
        const response = await rawRequest(gateway, method, `/v1/projects/${segment}`)
        expect(response.status, `${method} /v1/projects/${segment}: ${response.body}`).toBe(400)
        expect(response.contentType).toMatch(/^application\/json/)
        expectEnvelopeBody(response.body, { param: "project_id" })
      }
      const purge = await rawRequest(gateway, "DELETE", `/v1/projects/${segment}?purge=true`)
      expect(purge.status, `DELETE /v1/projects/${segment}?purge=true: ${purge.body}`).toBe(400)
    }
    // The project root and its siblings are intact.
    expect(NodeFs.statSync(gateway.projectRoot).isDirectory()).toBe(true)
    expect(NodeFs.readFileSync(sibling, "utf8")).toBe("keep")
  })

  it("refuses a symlink under the root that points outside it", async () => {
    NodeFs.writeFileSync(NodePath.join(outside, "keep.txt"), "keep")
    NodeFs.symlinkSync(outside, NodePath.join(gateway.projectRoot, "escape"))

    await expectEnvelope(request(gateway, "POST", "/v1/projects", { id: "escape" }), 400, { param: "project_id" })
    await expectEnvelope(
      chat(gateway, { project_id: "escape", messages: [{ role: "user", content: "FAKE_ECHO_ARGS via the link" }] }),
      400,
      { param: "project_id" }
    )
    await expectEnvelope(request(gateway, "POST", "/v1/sessions", { project_id: "escape" }), 400, {
      param: "project_id"
    })
    expect(await listIds(gateway)).not.toContain("escape")
    // Nothing ran or was written in the target.
    expect(NodeFs.readdirSync(outside)).toEqual(["keep.txt"])
    // The link itself is left alone.
    expect(NodeFs.lstatSync(NodePath.join(gateway.projectRoot, "escape")).isSymbolicLink()).toBe(true)
  })
})
