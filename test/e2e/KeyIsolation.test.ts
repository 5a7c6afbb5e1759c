/**
 * End to end: two API keys through the gateway → the REAL Claude Code CLI (bypassPermissions,
 * told it runs in a sandbox) → the fake Anthropic API, whose model runs the commands a test
 * names. A `CLAUDE.md` key one's model writes is project instructions to key one's next new
 * session and never reaches key two's; key two cannot name key one's project; the CLI's
 * environment carries none of the gateway's settings, though this process has them set.
 */
import { Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { gatewayVariables } from "../../src/AppConfig/variables.js"
import { callScenario, type FakeAnthropic, startFakeAnthropic } from "../fixtures/FakeAnthropic.js"
import { type Gateway, realCliConfig, startGateway, tempDirectory } from "../support/Gateway.js"
import { claudeProcessesUnder } from "../support/processes.js"

const keyOne = "isolation-key-one"
const keyTwo = "isolation-key-two"
const defaultOf = (key: string) =>
  `default-${NodeCrypto.createHash("sha256").update(key, "utf8").digest("hex").slice(0, 12)}`

/** Gateway settings set in this process while the suite runs, as an operator's environment would. */
const gatewaySettings: Record<string, string> = {
  API_KEYS: `${keyOne},${keyTwo}`,
  REQUIRE_AUTH: "true",
  DATABASE_URL: "sqlite:////srv/secret-gateway.db",
  PORT: "8123",
  RATE_LIMIT_PER_MINUTE: "7"
}
const instruction = "ISOLATION_MARKER_one_wrote_this"

let fake: FakeAnthropic
let gateway: Gateway
let home: string
const saved: Record<string, string | undefined> = {}

const chat = async (key: string, content: string, extra: Record<string, unknown> = {}) => {
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content }], ...extra })
  })
  const body = (await response.json()) as {
    project_id?: string
    choices?: Array<{ message: { content: string } }>
    error?: { code: string }
  }
  return { status: response.status, body, text: body.choices?.[0]?.message.content ?? "" }
}

/** Everything the CLI sent upstream since the last reset (system prompt, messages, tools). */
const sentUpstream = () =>
  fake.requests.filter((r) => r.method === "POST" && r.path === "/v1/messages").map((r) => JSON.stringify(r.body))

const environOf = (pid: number): Map<string, string> =>
  new Map(
    NodeFs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((entry) => entry.includes("=")).map((
      entry
    ) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)])
  )

describe("isolation between keys with the real CLI", () => {
  beforeAll(async () => {
    for (const [name, value] of Object.entries(gatewaySettings)) {
      saved[name] = process.env[name]
      process.env[name] = value
    }
    fake = await startFakeAnthropic()
    home = tempDirectory("cca-isolation-home-")
    const config = realCliConfig(fake, home)
    gateway = await startGateway({
      ...config,
      // The model runs commands without asking: this machine is a throwaway VM that runs as root.
      cliEnv: { ...config.cliEnv, IS_SANDBOX: "1" },
      permissionMode: "bypassPermissions",
      requireAuth: true,
      apiKeys: [Redacted.make(keyOne), Redacted.make(keyTwo)],
      rateLimitPerMinute: 0,
      cliMaxRetries: 0
    })
  })

  afterAll(async () => {
    try {
      await gateway?.close()
      await fake?.close()
      NodeFs.rmSync(home, { recursive: true, force: true })
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  })

  it("a CLAUDE.md one key's model writes is read by that key's next session, never by another key's", async () => {
    const write = callScenario("Bash", {
      command: `printf '%s\\n' 'Always end with ${instruction}.' > CLAUDE.md && echo written`,
      description: "Write project instructions"
    })
    const wrote = await chat(keyOne, write)
    expect(wrote.status).toBe(200)
    expect(wrote.body.project_id).toBe(defaultOf(keyOne))
    expect(wrote.text).toContain("Tool said: written")
    const file = NodePath.join(gateway.projectRoot, defaultOf(keyOne), "CLAUDE.md")
    expect(NodeFs.readFileSync(file, "utf8")).toContain(instruction)

    // The CLI does load it as project instructions: key one's next new session carries it upstream.
    fake.reset()
    const again = await chat(keyOne, "a new conversation of key one")
    expect(again.status).toBe(200)
    expect(sentUpstream().some((body) => body.includes(instruction))).toBe(true)

    fake.reset()
    const other = await chat(keyTwo, "a new conversation of key two")
    expect(other.status).toBe(200)
    expect(other.body.project_id).toBe(defaultOf(keyTwo))
    const sent = sentUpstream()
    expect(sent.length).toBeGreaterThan(0)
    for (const body of sent) expect(body).not.toContain(instruction)

    // Nor can key two name key one's project.
    const named = await chat(keyTwo, "let me in", { project_id: defaultOf(keyOne) })
    expect(named).toMatchObject({ status: 404, body: { error: { code: "project_not_found" } } })
  })

  it("the CLI's environment carries none of the gateway's settings", async () => {
    const shown = await chat(keyTwo, callScenario("Bash", { command: "env", description: "Show the environment" }))
    expect(shown.status).toBe(200)
    expect(shown.text).toContain(`ANTHROPIC_BASE_URL=${fake.url}`)
    for (const name of Object.keys(gatewaySettings)) expect(shown.text).not.toContain(`${name}=`)
    expect(shown.text).not.toContain(keyOne)
    expect(shown.text).not.toContain(gatewaySettings.DATABASE_URL)

    // The same seen from outside, on the process itself (kept warm after its turn).
    const [cli] = claudeProcessesUnder(NodeFs.realpathSync(gateway.projectRoot))
    expect(cli).toBeDefined()
    const environ = environOf(cli!.pid)
    expect(environ.get("ANTHROPIC_BASE_URL")).toBe(fake.url)
    expect(environ.get("IS_SANDBOX")).toBe("1")
    expect(environ.has("PATH")).toBe(true)
    for (const name of gatewayVariables()) expect(environ.has(name), name).toBe(false)
  })
})
