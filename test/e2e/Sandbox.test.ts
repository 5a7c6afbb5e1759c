/**
 * The isolation mode end to end: OpenAI SDK → the gateway with `sandbox` on → the REAL Claude
 * Code CLI in its bubblewrap sandbox → the fake Anthropic API, whose model calls exactly the Bash
 * command each test names. Inside the project the model's commands read and write; outside it
 * they read nothing (another project, the gateway's directory and database), write nothing, see
 * no upstream key and reach no loopback port. Needs bubblewrap and socat: without them the first
 * test fails, it does not skip (`.ci/run` installs them).
 */
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sandboxTmpDir, sandboxUnavailable } from "../../src/ClaudeProcess/sandbox.js"
import { callScenario, type FakeAnthropic, startFakeAnthropic } from "../fixtures/FakeAnthropic.js"
import { type Gateway, realCliConfig, startGateway, tempDirectory } from "../support/Gateway.js"
import { claudeProcessesUnder } from "../support/processes.js"

let fake: FakeAnthropic
let gateway: Gateway
let client: OpenAI
let home: string
let listener: NodeNet.Server
let connections = 0
let sessionId: string | undefined
let project: string

/** What the model's Bash printed for `command` (the fake model answers "Tool said: <output>"). */
const bash = async (command: string): Promise<string> => {
  const completion = await client.chat.completions.create({
    model: "claude-sonnet-4-5-20250929",
    messages: [{ role: "user", content: callScenario("Bash", { command }) }],
    ...(sessionId === undefined ? {} : { session_id: sessionId })
  } as OpenAI.ChatCompletionCreateParamsNonStreaming)
  const extras = completion as unknown as { session_id: string; project_id: string }
  sessionId = extras.session_id
  project = NodePath.join(gateway.projectRoot, extras.project_id)
  return completion.choices[0]?.message.content ?? ""
}

const outside = () => NodePath.join(gateway.directory, "outside")

describe("the sandbox (CLAUDE_SANDBOX) with the real CLI", () => {
  beforeAll(async () => {
    fake = await startFakeAnthropic()
    home = tempDirectory("cca-sandbox-home-")
    listener = NodeNet.createServer((socket) => {
      connections += 1
      socket.on("error", () => {})
      socket.end()
    })
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve))
    gateway = await startGateway({
      ...realCliConfig(fake, home),
      sandbox: true,
      sandboxReadPaths: [],
      cliMaxRetries: 0
    })
    client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "test", maxRetries: 0 })
    NodeFs.mkdirSync(outside())
    NodeFs.writeFileSync(NodePath.join(outside(), "secret.txt"), "outside-secret\n")
    NodeFs.mkdirSync(NodePath.join(gateway.projectRoot, "other"))
    NodeFs.writeFileSync(NodePath.join(gateway.projectRoot, "other", "notes.txt"), "other-project-secret\n")
  })

  afterAll(async () => {
    const tmp = project === undefined ? null : sandboxTmpDir(project, NodeOs.tmpdir())
    const roots = [gateway.directory, home].map((dir) => NodeFs.realpathSync(dir))
    await gateway.close()
    const left = claudeProcessesUnder(roots)
    await fake.close()
    listener.close()
    NodeFs.rmSync(home, { recursive: true, force: true })
    if (tmp !== null) NodeFs.rmSync(tmp, { recursive: true, force: true })
    expect(left).toEqual([])
  })

  it("bubblewrap and socat are installed (the sandbox cannot run without them)", () => {
    expect(sandboxUnavailable(process.platform, process.env.PATH ?? "")).toBeNull()
  })

  it("runs commands that read and write inside the project", async () => {
    const answer = await bash("echo made-inside > inside.txt && cat inside.txt && sh -c 'echo ran-$((6*7))'")
    expect(answer).toContain("made-inside")
    expect(answer).toContain("ran-42")
    expect(NodeFs.readFileSync(NodePath.join(project, "inside.txt"), "utf8")).toBe("made-inside\n")
  })

  it("reads nothing outside the project: another project, the gateway's directory, database and environment", async () => {
    const answer = await bash(
      `cat ${NodePath.join(gateway.projectRoot, "other", "notes.txt")}; cat ${
        NodePath.join(outside(), "secret.txt")
      }; head -c 15 ${gateway.databasePath}; echo done`
    )
    expect(answer).toContain("done")
    expect(answer).not.toContain("other-project-secret")
    expect(answer).not.toContain("outside-secret")
    expect(answer).not.toContain("SQLite format")
    // Worded around Claude Code's own check, which looks for "/proc/…/environ" in the command.
    // Run, and failed: the sandbox has its own process table.
    const environ = await bash(`cd /proc/${process.pid} && tr '\\0' '\\n' < environ | grep ^PATH`)
    expect(environ).toContain(`cd: /proc/${process.pid}: No such file or directory`)
    expect(environ).not.toContain("PATH=/")
  })

  it("writes nothing outside the project, even asking to leave the sandbox", async () => {
    const planted = NodePath.join(outside(), "planted.txt")
    const other = NodePath.join(gateway.projectRoot, "other", "planted.txt")
    expect(await bash(`echo planted > ${planted}; echo planted > ${other}; echo done`)).toContain("done")
    const completion = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: [{
        role: "user",
        content: callScenario("Bash", { command: `echo planted > ${planted}`, dangerouslyDisableSandbox: true })
      }],
      session_id: sessionId
    } as OpenAI.ChatCompletionCreateParamsNonStreaming)
    expect(completion.choices[0]?.message.content).toContain("Tool")
    expect(NodeFs.existsSync(planted)).toBe(false)
    expect(NodeFs.existsSync(other)).toBe(false)
  })

  it("cannot plant a hook in the project's .claude settings", async () => {
    const answer = await bash("mkdir -p .claude; echo '{\"hooks\":{}}' > .claude/settings.local.json; echo done")
    expect(answer).toContain("done")
    expect(NodeFs.existsSync(NodePath.join(project, ".claude", "settings.local.json"))).toBe(false)
  })

  it("sees no upstream key and reaches no loopback port", async () => {
    const port = (listener.address() as NodeNet.AddressInfo).port
    const answer = await bash(`env; bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected'; echo listed`)
    expect(answer).toContain("listed")
    expect(answer).toContain("ANTHROPIC_BASE_URL=")
    expect(answer).not.toContain("sk-test")
    expect(answer).not.toContain("connected")
    expect(connections).toBe(0)
  })
})
