/**
 * How the gateway invokes the CLI: argv, environment and stdin lines. Pure, so the exact
 * invocation is unit-tested without spawning anything.
 */
import type { PermissionMode } from "../AppConfig.js"
import type { ContentPart } from "../Domain/Conversation.js"

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
  /** A JSON Schema the answer must follow (`--json-schema`): the CLI then returns structured output. */
  readonly jsonSchema?: string | null | undefined
}

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

export const cliArgs = (launch: CliLaunch): ReadonlyArray<string> => [
  ...baseArgs,
  ...(launch.model !== null ? ["--model", launch.model] : []),
  ...(launch.systemPrompt !== null && launch.systemPrompt.length > 0
    ? [launch.systemPromptMode === "replace" ? "--system-prompt" : "--append-system-prompt", launch.systemPrompt]
    : []),
  "--permission-mode",
  launch.permissionMode,
  ...(launch.jsonSchema != null ? ["--json-schema", launch.jsonSchema] : []),
  ...(launch.resume !== null ? ["--resume", launch.resume] : [])
]

/**
 * The child's environment: the gateway's own (so `ANTHROPIC_BASE_URL` and friends reach
 * it), no non-essential traffic, a bounded retry budget unless one is set, and never
 * `CLAUDECODE` (which makes the CLI believe it runs nested inside another Claude Code).
 */
export const cliEnv = (
  parent: Readonly<Record<string, string | undefined>>,
  options: { readonly maxRetries: number }
): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(parent)) {
    if (value !== undefined && key !== "CLAUDECODE") env[key] = value
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
