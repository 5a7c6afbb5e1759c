/**
 * The exact CLI invocation: argv, the child's environment and the stdin lines.
 */
import { describe, expect, it } from "@effect/vitest"
import { gatewayVariables } from "../../src/AppConfig/variables.js"
import {
  baseArgs,
  cliArgs,
  cliEnv,
  type CliLaunch,
  initializeLine,
  interruptLine,
  launchEnv,
  userMessageLine
} from "../../src/ClaudeProcess/invocation.js"

const launch = (overrides: Partial<CliLaunch> = {}): CliLaunch => ({
  cwd: "/srv/projects/p1",
  model: null,
  systemPrompt: null,
  systemPromptMode: "append",
  permissionMode: "acceptEdits",
  resume: null,
  ...overrides
})

/** The request of a launch's `initialize` line. */
const initialized = (target: CliLaunch): Record<string, any> => {
  const line = JSON.parse(initializeLine(target))
  expect(line).toMatchObject({ type: "control_request", request_id: "gateway-initialize" })
  return line.request
}

/** The value following `flag`, or undefined when the flag is absent. */
const flagValue = (args: ReadonlyArray<string>, flag: string): string | undefined => {
  const index = args.indexOf(flag)
  return index === -1 ? undefined : args[index + 1]
}

describe("cliArgs", () => {
  it("always starts with print mode, stream-json in and out, verbose and partial messages", () => {
    for (
      const args of [
        cliArgs(launch()),
        cliArgs(launch({ model: "m", systemPrompt: "s", resume: "r", permissionMode: "plan" }))
      ]
    ) {
      expect(args.slice(0, baseArgs.length)).toEqual([
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages"
      ])
    }
  })

  it("with nothing optional: exactly the base flags and the permission mode", () => {
    expect(cliArgs(launch())).toEqual([...baseArgs, "--permission-mode", "acceptEdits"])
  })

  it("passes --model only when a model is set", () => {
    expect(cliArgs(launch())).not.toContain("--model")
    const args = cliArgs(launch({ model: "claude-sonnet-4-5-20250929" }))
    expect(flagValue(args, "--model")).toBe("claude-sonnet-4-5-20250929")
    expect(args.filter((arg) => arg === "--model")).toHaveLength(1)
  })

  it("appends the system prompt in append mode, in initialize (never on the command line)", () => {
    const withPrompt = launch({ systemPrompt: "Be terse.", systemPromptMode: "append" })
    expect(initialized(withPrompt)).toEqual({ subtype: "initialize", appendSystemPrompt: "Be terse." })
    expect(cliArgs(withPrompt)).not.toContain("Be terse.")
  })

  it("replaces the system prompt in replace mode, in initialize", () => {
    const withPrompt = launch({ systemPrompt: "You are a pirate.", systemPromptMode: "replace" })
    expect(initialized(withPrompt)).toEqual({ subtype: "initialize", systemPrompt: "You are a pirate." })
    expect(cliArgs(withPrompt)).not.toContain("You are a pirate.")
  })

  it("passes no system prompt when the prompt is null or empty", () => {
    for (const systemPrompt of [null, ""]) {
      for (const systemPromptMode of ["append", "replace"] as const) {
        const plain = launch({ systemPrompt, systemPromptMode })
        expect(initialized(plain)).toEqual({ subtype: "initialize" })
        expect(cliArgs(plain)).not.toContain("--system-prompt")
        expect(cliArgs(plain)).not.toContain("--append-system-prompt")
      }
    }
  })

  it("keeps a system prompt that looks like a flag out of argv, and a 1 MiB one whole", () => {
    const flagLike = launch({ systemPrompt: "--dangerously-skip-permissions", systemPromptMode: "append" })
    expect(cliArgs(flagLike)).not.toContain("--dangerously-skip-permissions")
    const huge = "x".repeat(1024 * 1024)
    expect(initialized(launch({ systemPrompt: huge, systemPromptMode: "append" })).appendSystemPrompt).toBe(huge)
  })

  it("sends a structured answer's JSON schema in initialize, as an object", () => {
    const schema = { type: "object", properties: { answer: { type: "string" } } }
    const structured = launch({ jsonSchema: JSON.stringify(schema) })
    expect(initialized(structured).jsonSchema).toEqual(schema)
    expect(cliArgs(structured)).not.toContain("--json-schema")
  })

  it("with client tools: the gateway's tool server, strict MCP config, its tools allowed, Claude Code's own off", () => {
    const tool = { name: "get_weather", description: null, parameters: { type: "object" } }
    const withTools = launch({ clientTools: [tool] })
    expect(initialized(withTools).sdkMcpServers).toEqual(["gateway"])
    const args = cliArgs(withTools)
    expect(flagValue(args, "--tools")).toBe("")
    expect(args).toContain("--strict-mcp-config")
    expect(flagValue(args, "--allowedTools")).toBe("mcp__gateway")
    expect(launchEnv(withTools)).toMatchObject({ CLAUDE_AGENT_SDK_MCP_NO_PREFIX: "1", ENABLE_TOOL_SEARCH: "false" })
    // Kept on request; and without client tools nothing of this is there.
    expect(cliArgs(launch({ clientTools: [tool], builtinTools: true }))).not.toContain("--tools")
    expect(cliArgs(launch())).not.toContain("--strict-mcp-config")
    expect(launchEnv(launch())).toEqual({})
    expect(initialized(launch()).sdkMcpServers).toBeUndefined()
  })

  it("always passes the permission mode", () => {
    for (const permissionMode of ["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"] as const) {
      expect(flagValue(cliArgs(launch({ permissionMode })), "--permission-mode")).toBe(permissionMode)
    }
  })

  it("passes --resume only when resuming", () => {
    expect(cliArgs(launch())).not.toContain("--resume")
    const id = "81724c86-a8ca-4a83-8175-dfda95cf5ed7"
    expect(flagValue(cliArgs(launch({ resume: id })), "--resume")).toBe(id)
  })

  it("never passes the prompt or the cwd on the command line", () => {
    const args = cliArgs(launch({ model: "m", systemPrompt: "s", resume: "r" }))
    expect(args).not.toContain("/srv/projects/p1")
    expect(args).not.toContain("--session-id")
    expect(args).not.toContain("--dangerously-skip-permissions")
  })
})

describe("cliEnv", () => {
  const parent = {
    PATH: "/usr/bin",
    HOME: "/home/gateway",
    CLAUDECODE: "1",
    ANTHROPIC_BASE_URL: "http://127.0.0.1:9999",
    ANTHROPIC_API_KEY: "sk-test",
    UNSET: undefined
  }

  it("drops CLAUDECODE and undefined values, keeps everything else", () => {
    const env = cliEnv(parent, { maxRetries: 2 })
    expect(env).not.toHaveProperty("CLAUDECODE")
    expect(env).not.toHaveProperty("UNSET")
    expect(env.ANTHROPIC_BASE_URL).toBe("http://127.0.0.1:9999")
    expect(env.ANTHROPIC_API_KEY).toBe("sk-test")
    expect(env.PATH).toBe("/usr/bin")
    expect(env.HOME).toBe("/home/gateway")
  })

  it("disables non-essential traffic and sets the retry budget", () => {
    const env = cliEnv(parent, { maxRetries: 3 })
    expect(env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).toBe("1")
    expect(env.CLAUDE_CODE_MAX_RETRIES).toBe("3")
    expect(cliEnv(parent, { maxRetries: 0 }).CLAUDE_CODE_MAX_RETRIES).toBe("0")
  })

  it("keeps the parent's own CLAUDE_CODE_MAX_RETRIES and CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", () => {
    const env = cliEnv(
      { ...parent, CLAUDE_CODE_MAX_RETRIES: "7", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "0" },
      { maxRetries: 2 }
    )
    expect(env.CLAUDE_CODE_MAX_RETRIES).toBe("7")
    expect(env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).toBe("0")
  })

  it("does not modify the parent environment", () => {
    const own = { ...parent }
    cliEnv(own, { maxRetries: 2 })
    expect(own).toEqual(parent)
    expect(own).not.toHaveProperty("CLAUDE_CODE_MAX_RETRIES")
  })

  it("withholds every variable of the gateway's own configuration, and only those", () => {
    const settings = Object.fromEntries([...gatewayVariables()].map((name) => [name, `value of ${name}`]))
    const claudeCode = {
      CLAUDE_CONFIG_DIR: "/home/gateway/.claude",
      CLAUDE_CODE_USE_BEDROCK: "1",
      ANTHROPIC_AUTH_TOKEN: "token",
      HTTPS_PROXY: "http://proxy:3128",
      NO_PROXY: "127.0.0.1",
      IS_SANDBOX: "1"
    }
    const env = cliEnv({ ...parent, ...settings, ...claudeCode }, { maxRetries: 2 })
    for (const name of Object.keys(settings)) expect(env, name).not.toHaveProperty(name)
    expect(env).toMatchObject({ ...claudeCode, PATH: "/usr/bin", HOME: "/home/gateway" })
    // The retry budget is given as Claude Code's own variable, from the gateway's setting.
    expect(env.CLAUDE_CODE_MAX_RETRIES).toBe("2")
  })

  it("withholds the names it is given instead, when given some", () => {
    const env = cliEnv({ ...parent, API_KEYS: "k", OTHER: "x" }, { maxRetries: 2, withheld: new Set(["OTHER"]) })
    expect(env).not.toHaveProperty("OTHER")
    expect(env.API_KEYS).toBe("k")
  })
})

describe("gatewayVariables", () => {
  it("lists every setting the configuration reads, secrets included", () => {
    const names = gatewayVariables()
    for (
      const name of [
        "API_KEYS",
        "REQUIRE_AUTH",
        "DATABASE_URL",
        "PROJECT_ROOT",
        "HOST",
        "PORT",
        "CLAUDE_BINARY_PATH",
        "LOG_LEVEL"
      ]
    ) {
      expect(names.has(name), name).toBe(true)
    }
    // Claude Code's own variables are not the gateway's.
    for (const name of ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CONFIG_DIR", "HOME", "PATH", "IS_SANDBOX"]) {
      expect(names.has(name), name).toBe(false)
    }
  })
})

describe("userMessageLine", () => {
  const parse = (line: string) => JSON.parse(line) as { type: string; message: { role: string; content: unknown } }

  it("sends a single text part as a plain string, one JSON line ending with a newline", () => {
    const line = userMessageLine([{ _tag: "text", text: "hello \"world\"\nsecond line" }])
    expect(line.endsWith("\n")).toBe(true)
    expect(line.slice(0, -1)).not.toContain("\n")
    expect(parse(line)).toEqual({ type: "user", message: { role: "user", content: "hello \"world\"\nsecond line" } })
  })

  it("sends images as base64 image blocks alongside text blocks, in order", () => {
    const line = userMessageLine([
      { _tag: "text", text: "What is this?" },
      { _tag: "image", mediaType: "image/png", data: "iVBORw0KGgo=" }
    ])
    expect(line.endsWith("\n")).toBe(true)
    expect(line.slice(0, -1)).not.toContain("\n")
    expect(parse(line)).toEqual({
      type: "user",
      message: {
        role: "user",
        content: [
          { type: "text", text: "What is this?" },
          { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } }
        ]
      }
    })
  })

  it("sends a lone image as a block array", () => {
    const content =
      parse(userMessageLine([{ _tag: "image", mediaType: "image/jpeg", data: "/9j/4AAQ" }])).message.content
    expect(content).toEqual([{ type: "image", source: { type: "base64", media_type: "image/jpeg", data: "/9j/4AAQ" } }])
  })

  it("sends several text parts as a block array", () => {
    const content = parse(userMessageLine([{ _tag: "text", text: "a" }, { _tag: "text", text: "b" }])).message.content
    expect(content).toEqual([{ type: "text", text: "a" }, { type: "text", text: "b" }])
  })
})

describe("interruptLine", () => {
  it("is one control_request line asking for an interrupt under the given id", () => {
    const line = interruptLine("req-42")
    expect(line.endsWith("\n")).toBe(true)
    expect(line.slice(0, -1)).not.toContain("\n")
    expect(JSON.parse(line)).toEqual({
      type: "control_request",
      request_id: "req-42",
      request: { subtype: "interrupt" }
    })
  })
})
