/**
 * How the gateway invokes the CLI: argv, environment and stdin lines. Anything large (the
 * system prompt, a JSON schema) goes in the `initialize` control request on stdin, never on
 * the command line. Pure, so the exact invocation is unit-tested without spawning anything.
 */
import type { PermissionMode } from "../AppConfig.js"
import { gatewayVariables } from "../AppConfig/variables.js"
import type { ContentPart } from "../Domain/Conversation.js"
import type { ClientTool } from "../Domain/Tools.js"

/** Everything one CLI process is started with. Changing any of it needs a new process. */
export interface CliLaunch {
  /** Working directory: the turn's project directory. */
  readonly cwd: string
  /** `--model`; null lets the CLI choose (or keep a resumed session's model). */
  readonly model: string | null
  /** System and developer instructions from the request. */
  readonly systemPrompt: string | null
  readonly systemPromptMode: "append" | "replace"
  readonly permissionMode: PermissionMode
  /** A CLI session id to continue (`--resume`). */
  readonly resume: string | null
  /** A JSON Schema the answer must follow: the CLI then returns structured output. */
  readonly jsonSchema?: string | null | undefined
  /** The client's tools, served to the model by the gateway (none: Claude Code's own tools only). */
  readonly clientTools?: ReadonlyArray<ClientTool> | undefined
  /** Keep Claude Code's own tools next to the client's (without client tools they are always there). */
  readonly builtinTools?: boolean | undefined
}

/** The MCP server, hosted by the gateway, that offers the client's tools to the CLI. */
export const toolServer = "gateway"

export const hasClientTools = (launch: CliLaunch): boolean => (launch.clientTools?.length ?? 0) > 0

/** The fixed flags: JSON lines in and out, token-level partial messages. */
export const baseArgs: ReadonlyArray<string> = [
  "-p",
  "--input-format",
  "stream-json",
  "--output-format",
  "stream-json",
  "--verbose",
  "--include-partial-messages"
]

/**
 * With client tools: only the gateway's server is used (`--strict-mcp-config`), its tools are
 * allowed, and Claude Code's own tools are off unless kept.
 */
const toolArgs = (launch: CliLaunch): ReadonlyArray<string> =>
  hasClientTools(launch)
    ? [
      ...(launch.builtinTools === true ? [] : ["--tools", ""]),
      "--strict-mcp-config",
      "--allowedTools",
      `mcp__${toolServer}`
    ]
    : []

export const cliArgs = (launch: CliLaunch): ReadonlyArray<string> => [
  ...baseArgs,
  ...(launch.model !== null ? ["--model", launch.model] : []),
  "--permission-mode",
  launch.permissionMode,
  ...toolArgs(launch),
  ...(launch.resume !== null ? ["--resume", launch.resume] : [])
]

/** How long the CLI waits for a held tool call: longer than the gateway ever holds one. */
const toolCallTimeoutMs = 24 * 60 * 60 * 1000

/**
 * The environment a launch adds: with client tools, their bare names (no `mcp__gateway__`
 * prefix, so the model sees the client's own), no tool search (it could defer them), and a
 * tool-call timeout the gateway's hold time never reaches.
 */
export const launchEnv = (launch: CliLaunch): Readonly<Record<string, string>> =>
  hasClientTools(launch)
    ? {
      CLAUDE_AGENT_SDK_MCP_NO_PREFIX: "1",
      ENABLE_TOOL_SEARCH: "false",
      MCP_TOOL_TIMEOUT: String(toolCallTimeoutMs)
    }
    : {}

/** The request id of the `initialize` control request. */
export const initializeRequestId = "gateway-initialize"

/**
 * The first stdin line of every process: the `initialize` control request with the system
 * prompt (appended to Claude Code's or replacing it), the JSON schema of a structured answer,
 * and the gateway's MCP server when the client brings tools.
 */
export const initializeLine = (launch: CliLaunch): string => {
  const prompt = launch.systemPrompt !== null && launch.systemPrompt.length > 0 ? launch.systemPrompt : null
  return JSON.stringify({
    type: "control_request",
    request_id: initializeRequestId,
    request: {
      subtype: "initialize",
      ...(prompt === null
        ? {}
        : launch.systemPromptMode === "replace"
        ? { systemPrompt: prompt }
        : { appendSystemPrompt: prompt }),
      ...(launch.jsonSchema != null ? { jsonSchema: JSON.parse(launch.jsonSchema) } : {}),
      ...(hasClientTools(launch) ? { sdkMcpServers: [toolServer] } : {})
    }
  }) + "\n"
}

/**
 * The child's environment: the gateway's own (so `ANTHROPIC_BASE_URL`, `HOME`, `PATH`,
 * proxies and friends reach it) without any variable of the gateway's own configuration
 * (`withheld`, by default every variable the gateway reads: keys, database, …), no
 * non-essential traffic, a bounded retry budget unless one is set, and never `CLAUDECODE`
 * (which makes the CLI believe it runs nested inside another Claude Code).
 */
export const cliEnv = (
  parent: Readonly<Record<string, string | undefined>>,
  options: { readonly maxRetries: number; readonly withheld?: ReadonlySet<string> | undefined }
): Record<string, string> => {
  const withheld = options.withheld ?? gatewayVariables()
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(parent)) {
    if (value !== undefined && key !== "CLAUDECODE" && !withheld.has(key)) env[key] = value
  }
  env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC ??= "1"
  env.CLAUDE_CODE_MAX_RETRIES ??= String(options.maxRetries)
  return env
}

/** One stdin line carrying a user message (text, or text and image blocks). */
export const userMessageLine = (content: ReadonlyArray<ContentPart>): string => {
  const blocks = content.map((part) =>
    part._tag === "text"
      ? { type: "text", text: part.text }
      : { type: "image", source: { type: "base64", media_type: part.mediaType, data: part.data } }
  )
  const onlyText = blocks.length === 1 && blocks[0]!.type === "text"
  return JSON.stringify({
    type: "user",
    message: { role: "user", content: onlyText ? (content[0] as { text: string }).text : blocks }
  }) + "\n"
}

/** The SDK control request that stops the running turn but keeps the process. */
export const interruptLine = (requestId: string): string =>
  JSON.stringify({ type: "control_request", request_id: requestId, request: { subtype: "interrupt" } }) + "\n"
