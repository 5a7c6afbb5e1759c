/**
 * End to end, as an operator runs it: the real server process (`node --import tsx src/main.ts`,
 * one process, configured from its environment and a `.env` file) → the REAL Claude Code CLI
 * (bypassPermissions, told it runs in a sandbox) → the fake Anthropic API, whose model runs a
 * command that prints its own environment and then the gateway's, read from
 * `/proc/<gateway pid>/environ`. Neither holds the key, the database URL (from `.env`) or any
 * other setting: the CLI never gets them, and the gateway blanks them in its own environment
 * block once read.
 */
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { gatewayVariables } from "../../src/AppConfig/variables.js"
import { callScenario, cliEnvFor, type FakeAnthropic, startFakeAnthropic } from "../fixtures/FakeAnthropic.js"
import { realCliPath, tempDirectory } from "../support/Gateway.js"
import { waitForHealthy } from "../support/health.js"
import { freePort } from "../support/ports.js"
import { claudeProcessesUnder } from "../support/processes.js"

const root = NodePath.resolve(import.meta.dirname, "..", "..")
/** tsx's loader, by URL: `--import tsx` would look for it from the server's working directory. */
const tsxLoader = NodeUrl.pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
const key = "key-from-environment-5b1e"
const databaseUrl = "sqlite:///./gateway-db-from-dotenv-9c4d.sqlite"

let fake: FakeAnthropic
let directory: string
let server: NodeChildProcess.ChildProcess
let url: string
let stderr = ""

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("the CLI's environment and the gateway's own", () => {
  beforeAll(async () => {
    fake = await startFakeAnthropic()
    directory = tempDirectory("cca-environ-")
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    // The database URL comes from .env, everything else from the environment.
    NodeFs.writeFileSync(NodePath.join(directory, ".env"), `DATABASE_URL=${databaseUrl}\n`)
    const env: Record<string, string> = {}
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && !gatewayVariables().has(name)) env[name] = value
    }
    Object.assign(env, cliEnvFor(fake), {
      HOME: NodePath.join(directory, "home"),
      // The model runs commands without asking: this machine is a throwaway VM that runs as root.
      IS_SANDBOX: "1",
      HOST: "127.0.0.1",
      PORT: String(port),
      REQUIRE_AUTH: "true",
      API_KEYS: key,
      PROJECT_ROOT: "./projects",
      CLAUDE_BINARY_PATH: realCliPath,
      CLAUDE_PERMISSION_MODE: "bypassPermissions",
      SPARE_PROCESS: "false"
    })
    NodeFs.mkdirSync(env.HOME!)
    server = NodeChildProcess.spawn(
      process.execPath,
      ["--import", tsxLoader, NodePath.join(root, "src", "main.ts")],
      { cwd: directory, env, stdio: ["ignore", "ignore", "pipe"] }
    )
    server.stderr!.on("data", (data: Buffer) => (stderr += data.toString()))
    await waitForHealthy(url, { output: () => stderr, exited: () => server.exitCode !== null }, 20_000)
  })

  afterAll(async () => {
    if (server?.exitCode === null) {
      const exited = new Promise((resolve) => server.once("exit", resolve))
      server.kill("SIGTERM")
      await Promise.race([exited, sleep(5_000)])
      if (server.exitCode === null) server.kill("SIGKILL")
    }
    // Stopped with the server; killed here only if the server could not stop them.
    for (const { pid } of claudeProcessesUnder(NodeFs.realpathSync(directory))) process.kill(pid, "SIGKILL")
    await fake?.close()
    NodeFs.rmSync(directory, { recursive: true, force: true })
  })

  it("neither the CLI's environment nor /proc/<gateway>/environ shows a setting", async () => {
    const command = `env; echo ENVIRON_OF_GATEWAY; tr '\\0' '\\n' < /proc/${server.pid}/environ`
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        messages: [{ role: "user", content: callScenario("Bash", { command, description: "Show environments" }) }]
      })
    })
    expect(response.status).toBe(200)
    const text = ((await response.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!
      .message.content
    const [own, gateways] = text.split("ENVIRON_OF_GATEWAY")
    expect(gateways).toBeDefined()
    // Each part is what it claims to be.
    expect(own).toContain(`ANTHROPIC_BASE_URL=${fake.url}`)
    expect(gateways).toContain(`ANTHROPIC_BASE_URL=${fake.url}`)
    expect(gateways).toMatch(/^API_KEYS=\s*$/m)

    expect(text).not.toContain(key)
    expect(text).not.toContain("gateway-db-from-dotenv")
    expect(NodeFs.existsSync(NodePath.join(directory, "gateway-db-from-dotenv-9c4d.sqlite"))).toBe(true)
    for (const name of ["API_KEYS", "DATABASE_URL", "REQUIRE_AUTH", "PORT", "CLAUDE_PERMISSION_MODE"]) {
      expect(own).not.toMatch(new RegExp(`^${name}=`, "m"))
      expect(gateways).not.toMatch(new RegExp(`^${name}=.`, "m"))
    }
  })

  it("runs the CLI below its own priority (CLI_NICE, 10 steps by default), in a scheduling group of its own", async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] })
    })
    expect(response.status).toBe(200)
    await response.arrayBuffer()
    // Kept warm after its turn.
    const [cli] = claudeProcessesUnder(NodeFs.realpathSync(directory))
    expect(cli).toBeDefined()
    const fields = (pid: number) => NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    // The 17th field after the command is the nice value; the 4th the session.
    const serverNice = Number(fields(server.pid!)[16])
    expect(Number(fields(cli!.pid)[16])).toBe(Math.min(19, serverNice + 10))
    expect(fields(cli!.pid)[3]).not.toBe(fields(server.pid!)[3])
    // Autogroups exist only with autogroup scheduling, and only for processes in the root cgroup:
    // elsewhere (many containers) the file is absent or empty, and the gateway leaves it alone.
    const groupNice = (pid: number) => {
      const match = NodeFs.existsSync(`/proc/${pid}/autogroup`)
        ? / nice (-?\d+)/.exec(NodeFs.readFileSync(`/proc/${pid}/autogroup`, "utf8"))
        : null
      return match === null ? null : Number(match[1])
    }
    const serverGroupNice = groupNice(server.pid!)
    if (serverGroupNice !== null) expect(groupNice(cli!.pid)).toBe(Math.min(19, serverGroupNice + 10))
  })
})

describe("withholdFromEnvironment", () => {
  it("blanks the named values in /proc/<pid>/environ and process.env, and nothing else", async () => {
    const script = [
      `import { withholdFromEnvironment } from ${JSON.stringify(NodePath.join(root, "src", "Internal", "environ.ts"))}`,
      `const withheld = withholdFromEnvironment(new Set(["SECRET_ONE", "SECRET_TWO", "NOT_SET"]))`,
      `console.log(JSON.stringify({ withheld, one: process.env.SECRET_ONE ?? null, kept: process.env.KEPT }))`,
      `setTimeout(() => {}, 10_000)`
    ].join("\n")
    const child = NodeChildProcess.spawn(
      process.execPath,
      ["--import", tsxLoader, "--input-type=module", "-e", script],
      {
        env: { PATH: process.env.PATH!, SECRET_ONE: "s3cr3t-one", SECRET_TWO: "s3cr3t-two", KEPT: "visible" },
        stdio: ["ignore", "pipe", "inherit"]
      }
    )
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = ""
        child.stdout!.on("data", (data: Buffer) => {
          out += data.toString()
          if (out.includes("\n")) resolve(out.trim())
        })
        child.once("exit", () => reject(new Error(`exited: ${out}`)))
      })
      expect(JSON.parse(line)).toEqual({ withheld: ["SECRET_ONE", "SECRET_TWO"], one: null, kept: "visible" })
      const environ = NodeFs.readFileSync(`/proc/${child.pid}/environ`, "utf8")
      expect(environ).not.toContain("s3cr3t")
      expect(environ).toContain("SECRET_ONE=\0")
      expect(environ).toContain("KEPT=visible\0")
    } finally {
      child.kill("SIGKILL")
    }
  })
})
