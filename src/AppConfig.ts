/**
 * The gateway's configuration, read once at startup from the environment (and `.env`).
 * Names follow the original project where it had one. A bad value fails startup with a
 * message that names the variable.
 */
import { Config, ConfigError, ConfigProvider, Context, Data, Effect, Either, Layer, Option, Redacted } from "effect"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { type ClusterSettings, clusterSettings } from "./AppConfig/cluster.js"
import { exposedPath, sandboxUnavailable, systemReadPaths } from "./ClaudeProcess/sandbox.js"

export const PermissionModes = ["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"] as const
export type PermissionMode = (typeof PermissionModes)[number]

/**
 * Where the event log lives: a SQLite file (the default, one gateway), or a Postgres database
 * that several gateways can share (its URL carries the credentials, so it stays redacted).
 */
export type EventLogDatabase = Data.TaggedEnum<{
  /** `path` is absolute. */
  Sqlite: { readonly path: string }
  /** `poolSize`: at most this many connections to the server (`DATABASE_POOL_SIZE`). */
  Postgres: { readonly url: Redacted.Redacted<string>; readonly poolSize: number }
}>
export const EventLogDatabase = Data.taggedEnum<EventLogDatabase>()

export interface AppConfigShape {
  readonly host: string
  readonly port: number
  /** The `claude` executable (a name on PATH or a path). */
  readonly claudeBinary: string
  /** Every project directory lives under this absolute path. */
  readonly projectRoot: string
  /** The event log's database (`DATABASE_URL`). */
  readonly database: EventLogDatabase
  /** This gateway is a runner of a cluster sharing `database` (Postgres); null on its own. */
  readonly cluster: ClusterSettings | null
  readonly requireAuth: boolean
  readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
  /** `config/models.json` or its override. */
  readonly modelsPath: string
  readonly permissionMode: PermissionMode
  /** How system and developer messages reach the CLI: appended to Claude Code's prompt or replacing it. */
  readonly systemPromptMode: "append" | "replace"
  /** `CLAUDE_CODE_MAX_RETRIES` given to the CLI unless the environment already sets it. */
  readonly cliMaxRetries: number
  /** A CLI that prints nothing for this long is considered hung. */
  readonly cliIdleTimeoutSeconds: number
  /** How many nice steps the CLI processes run below the gateway, so it keeps the CPU it needs to serve them (0: none). */
  readonly cliNice: number
  /** Wall-clock limit of one turn. */
  readonly turnTimeoutSeconds: number
  readonly maxConcurrentTurns: number
  /** How long a turn waits for a free slot before 429. */
  readonly queueTimeoutSeconds: number
  readonly rateLimitPerMinute: number
  readonly rateLimitBurst: number
  /** Allowed CORS origins; `*` allows any. */
  readonly corsOrigins: ReadonlyArray<string>
  /** Seconds between SSE keep-alive comments when nothing else is sent. */
  readonly sseKeepAliveSeconds: number
  /** Permit a non-loopback bind without auth. */
  readonly allowInsecureBind: boolean
  /** A session's idle CLI process is stopped after this long (it resumes on the next turn). */
  readonly sessionIdleSeconds: number
  /** At most this many idle CLI processes are kept warm; the least recently used goes first. */
  readonly maxWarmProcesses: number
  /** Keep one idle CLI process started ahead of the next new session (with the last new session's settings). */
  readonly spareProcess: boolean
  /** A client that disconnects mid-answer cancels the turn (otherwise it runs to completion). */
  readonly cancelOnDisconnect: boolean
  /** Keep Claude Code's own tools (Bash, Read, …) in turns that bring the client's tools (off by default). */
  readonly clientToolsKeepBuiltins: boolean
  /** How long a call of a client's tool is held open on its CLI process, waiting for the client's result. */
  readonly toolCallTimeoutSeconds: number
  /** A request body over this many bytes is refused with 413 (`MAX_REQUEST_BODY_MB`). */
  readonly maxRequestBodyBytes: number
  /** Host names (besides loopback names and `host`) that requests may be addressed to; `*` allows any. */
  readonly allowedHosts: ReadonlyArray<string>
  /** Wrong keys a client (remote address) may present per window before it is held back; 0 disables. */
  readonly authFailureLimit: number
  readonly authFailureWindowSeconds: number
  /** Run the model's Bash commands in Claude Code's sandbox, confined to the project (`CLAUDE_SANDBOX`). */
  readonly sandbox: boolean
  /** Absolute paths sandboxed commands may also read (toolchains outside the system directories). */
  readonly sandboxReadPaths: ReadonlyArray<string>
  /** Extra environment for CLI children, on top of the gateway's own (embedding, tests). */
  readonly cliEnv: Readonly<Record<string, string>>
}

export class AppConfig extends Context.Tag("claude-code-api/AppConfig")<AppConfig, AppConfigShape>() {
  /** Reads the configuration from the current `ConfigProvider`. */
  static readonly layer = Layer.effect(
    AppConfig,
    Effect.suspend(() => Effect.mapError(load, (error) => new InvalidConfig({ message: formatConfigError(error) })))
  )

  /** A fixed configuration (tests, embedding). */
  static readonly layerWith = ({ databasePath, ...overrides }: AppConfigOverrides) =>
    Layer.effect(
      AppConfig,
      Effect.map(
        Effect.orDie(Effect.withConfigProvider(load, emptyProvider)),
        (base): AppConfigShape => ({
          ...base,
          ...overrides,
          ...(databasePath === undefined ? {} : { database: EventLogDatabase.Sqlite({ path: databasePath }) })
        })
      )
    )
}

/** Settings of a fixed configuration; `databasePath` is short for a SQLite `database` at that absolute path. */
export type AppConfigOverrides = Partial<AppConfigShape> & { readonly databasePath?: string | undefined }

/** Startup failed because of the configuration. */
export class InvalidConfig extends Error {
  readonly _tag = "InvalidConfig"
  constructor(options: { readonly message: string }) {
    super(options.message)
  }
}

/** Defaults only: nothing from the process environment leaks into a fixed configuration. */
const emptyProvider = ConfigProvider.fromMap(new Map())

const bool = (name: string, fallback: boolean) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => {
      const value = raw.trim().toLowerCase()
      if (["1", "true", "yes", "on"].includes(value)) return Either.right(true)
      if (["0", "false", "no", "off", ""].includes(value)) return Either.right(false)
      return Either.left(ConfigError.InvalidData([], `expected true or false, got "${raw}"`))
    }),
    Config.withDefault(fallback)
  )

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

const nonNegativeInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be zero or a positive integer", validation: (n) => n >= 0 }),
    Config.withDefault(fallback)
  )

const list = (name: string) =>
  Config.string(name).pipe(
    Config.map((raw) => raw.split(",").map((item) => item.trim()).filter((item) => item.length > 0)),
    Config.option
  )

/** A comma-separated value's items (validate the raw string: a validation after a map loses the variable's name). */
const splitList = (raw: string): Array<string> =>
  raw.split(",").map((item) => item.trim()).filter((item) => item.length > 0)

/** `sqlite:///relative`, `sqlite:////absolute`, `file:` or a bare path → an absolute path. */
export const databasePathFromUrl = (url: string): string => {
  let path = url.trim()
  const sqlite = /^sqlite(?:\+\w+)?:\/\/(.*)$/.exec(path)
  if (sqlite) {
    path = sqlite[1]!
    // sqlite:///./x.db → "/./x.db" (relative); sqlite:////abs/x.db → "//abs/x.db" (absolute)
    if (path.startsWith("//")) path = path.slice(1)
    else if (path.startsWith("/")) path = path.slice(1)
  } else if (path.startsWith("file:")) {
    path = path.slice("file:".length)
  }
  return NodePath.resolve(path)
}

/** A `postgres://` or `postgresql://` URL names a Postgres database; anything else a SQLite file. */
export const databaseFromUrl = (url: string, poolSize: number): EventLogDatabase =>
  /^postgres(?:ql)?:\/\//i.test(url.trim())
    ? EventLogDatabase.Postgres({ url: Redacted.make(url.trim()), poolSize })
    : EventLogDatabase.Sqlite({ path: databasePathFromUrl(url) })

const load = Effect.gen(function*() {
  const host = yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
  const port = yield* Config.port("PORT").pipe(Config.withDefault(8000))
  const claudeBinary = yield* Config.string("CLAUDE_BINARY_PATH").pipe(
    Config.withDefault(process.platform === "win32" ? "claude.cmd" : "claude")
  )
  const projectRoot = yield* Config.string("PROJECT_ROOT").pipe(Config.withDefault("./data/projects"))
  // Never shown in a message: a Postgres URL carries the password.
  const databaseUrl = yield* Config.string("DATABASE_URL").pipe(
    Config.validate({
      message: "must be a path, a sqlite: URL or a postgres://user:password@host:port/database URL",
      validation: (raw) => !/^postgres(?:ql)?:\/\//i.test(raw.trim()) || URL.canParse(raw.trim())
    }),
    Config.withDefault("./data/claude_api.db")
  )
  const database = databaseFromUrl(databaseUrl, yield* positiveInt("DATABASE_POOL_SIZE", 10))
  const cluster = yield* clusterSettings
  const requireAuth = yield* bool("REQUIRE_AUTH", false)
  const apiKeys = yield* list("API_KEYS")
  const modelsPath = yield* Config.string("CLAUDE_CODE_API_MODELS_PATH").pipe(Config.option)
  const permissionMode = yield* Config.literal(...PermissionModes)("CLAUDE_PERMISSION_MODE").pipe(
    Config.withDefault("acceptEdits" as const)
  )
  const systemPromptMode = yield* Config.literal("append", "replace")("SYSTEM_PROMPT_MODE").pipe(
    Config.withDefault("append" as const)
  )
  const cliMaxRetries = yield* nonNegativeInt("CLAUDE_MAX_RETRIES", 2)
  const cliIdleTimeoutSeconds = yield* positiveInt("CLI_IDLE_TIMEOUT_SECONDS", 300)
  const cliNice = yield* Config.integer("CLI_NICE").pipe(
    Config.validate({ message: "must be an integer from 0 to 19", validation: (n) => n >= 0 && n <= 19 }),
    Config.withDefault(10)
  )
  const turnTimeoutSeconds = yield* positiveInt("TURN_TIMEOUT_SECONDS", 1800)
  const maxConcurrentTurns = yield* positiveInt("MAX_CONCURRENT_TURNS", 10)
  const queueTimeoutSeconds = yield* nonNegativeInt("QUEUE_TIMEOUT_SECONDS", 10)
  const rateLimitPerMinute = yield* nonNegativeInt("RATE_LIMIT_PER_MINUTE", 60)
  const rateLimitBurst = yield* positiveInt("RATE_LIMIT_BURST", 10)
  const corsOrigins = yield* list("CORS_ORIGINS")
  const sseKeepAliveSeconds = yield* positiveInt("SSE_KEEPALIVE_SECONDS", 15)
  const allowInsecureBind = yield* bool("ALLOW_INSECURE_BIND", false)
  const sessionIdleSeconds = yield* positiveInt("SESSION_IDLE_SECONDS", 300)
  const maxWarmProcesses = yield* nonNegativeInt("MAX_WARM_PROCESSES", 4)
  const cancelOnDisconnect = yield* bool("CANCEL_ON_DISCONNECT", true)
  const spareProcess = yield* bool("SPARE_PROCESS", true)
  const clientToolsKeepBuiltins = yield* bool("CLIENT_TOOLS_KEEP_BUILTINS", false)
  // The CLI itself waits a day for a tool call (invocation.ts): the gateway gives up first.
  const toolCallTimeoutSeconds = yield* Config.integer("TOOL_CALL_TIMEOUT_SECONDS").pipe(
    Config.validate({
      message: "must be a positive integer, at most 86000 (a held call ends before Claude Code's own day-long wait)",
      validation: (n) => n > 0 && n <= 86_000
    }),
    Config.withDefault(600)
  )
  // Anthropic's own Messages API takes at most 32 MB per request: a 20 MB image, base64-encoded, fits.
  const maxRequestBodyMb = yield* Config.number("MAX_REQUEST_BODY_MB").pipe(
    Config.validate({
      message: "must be a number of megabytes above 0, at most 1024",
      validation: (n) => n > 0 && n <= 1024
    }),
    Config.withDefault(32)
  )
  const allowedHosts = yield* Config.string("ALLOWED_HOSTS").pipe(
    Config.mapOrFail((raw) => {
      const hosts = splitList(raw)
      const bad = hosts.find((name) => !hostEntryPattern.test(name))
      return bad === undefined
        ? Either.right(hosts)
        : Either.left(
          ConfigError.InvalidData([], `expected host names or IP addresses (no scheme, no path) or *, got "${bad}"`)
        )
    }),
    Config.withDefault<ReadonlyArray<string>>([])
  )
  const authFailureLimit = yield* nonNegativeInt("AUTH_FAILURE_LIMIT", 10)
  const authFailureWindowSeconds = yield* positiveInt("AUTH_FAILURE_WINDOW_SECONDS", 60)
  const sandbox = yield* bool("CLAUDE_SANDBOX", false)
  const sandboxReadPaths = yield* Config.string("CLAUDE_SANDBOX_READ_PATHS").pipe(
    Config.validate({
      message: "must be absolute paths",
      validation: (raw) => splitList(raw).every(NodePath.isAbsolute)
    }),
    Config.map(splitList),
    Config.withDefault([])
  )

  if (requireAuth && Option.getOrElse(apiKeys, () => []).length === 0) {
    return yield* Effect.fail(
      ConfigError.InvalidData(["API_KEYS"], "REQUIRE_AUTH is on but API_KEYS lists no key")
    )
  }
  if (!isLoopbackHost(host) && !requireAuth && !allowInsecureBind) {
    return yield* Effect.fail(ConfigError.InvalidData(
      ["HOST"],
      `refusing to listen on ${host} without authentication: set REQUIRE_AUTH=true with API_KEYS, or ALLOW_INSECURE_BIND=true to accept the risk`
    ))
  }
  if (cluster !== null && database._tag !== "Postgres") {
    return yield* Effect.fail(ConfigError.InvalidData(
      ["CLUSTER_RUNNER_ADDRESS"],
      "a cluster's nodes share their event log: set DATABASE_URL to a postgres:// URL"
    ))
  }
  if (cluster !== null && database._tag === "Postgres" && database.poolSize < 2) {
    return yield* Effect.fail(ConfigError.InvalidData(
      ["DATABASE_POOL_SIZE"],
      "a cluster's node keeps one of its connections for its shard locks: it needs at least 2"
    ))
  }
  if (permissionMode === "bypassPermissions" && runsAsRoot() && process.env.IS_SANDBOX !== "1") {
    return yield* Effect.fail(ConfigError.InvalidData(
      ["CLAUDE_PERMISSION_MODE"],
      "Claude Code refuses bypassPermissions when running as root; use acceptEdits, or run inside a sandbox with IS_SANDBOX=1"
    ))
  }
  if (sandbox) {
    const failure = sandboxFailure({
      permissionMode,
      readPaths: sandboxReadPaths,
      projectRoot: NodePath.resolve(projectRoot),
      databasePath: database._tag === "Sqlite" ? database.path : null
    })
    if (failure !== null) return yield* Effect.fail(failure)
  }

  return {
    host,
    port,
    claudeBinary,
    projectRoot: NodePath.resolve(projectRoot),
    database,
    cluster,
    requireAuth,
    apiKeys: Option.getOrElse(apiKeys, () => []).map((key) => Redacted.make(key)),
    modelsPath: NodePath.resolve(Option.getOrElse(modelsPath, () => defaultModelsPath)),
    permissionMode,
    systemPromptMode,
    cliMaxRetries,
    cliNice,
    cliIdleTimeoutSeconds,
    turnTimeoutSeconds,
    maxConcurrentTurns,
    queueTimeoutSeconds,
    rateLimitPerMinute,
    rateLimitBurst,
    corsOrigins: Option.getOrElse(corsOrigins, () => [`http://localhost:${port}`, `http://127.0.0.1:${port}`]),
    sseKeepAliveSeconds,
    allowInsecureBind,
    sessionIdleSeconds,
    maxWarmProcesses,
    cancelOnDisconnect,
    spareProcess,
    clientToolsKeepBuiltins,
    toolCallTimeoutSeconds,
    maxRequestBodyBytes: Math.floor(maxRequestBodyMb * 1024 * 1024),
    allowedHosts,
    authFailureLimit,
    authFailureWindowSeconds,
    sandbox,
    sandboxReadPaths,
    cliEnv: {}
  } satisfies AppConfigShape
})

/** Whether listening on `host` keeps the server private to this machine. */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host)

/** An `ALLOWED_HOSTS` entry: a name or address, optionally bracketed (IPv6) and with a port, or `*`. */
const hostEntryPattern = /^(?:\*|[A-Za-z0-9.-]+(?::\d+)?|\[[0-9A-Fa-f:.]+\](?::\d+)?)$/

const runsAsRoot = () => process.getuid?.() === 0

/** The CLI's config directory as the gateway's environment places it. */
const cliConfigDir = () =>
  process.env.CLAUDE_CONFIG_DIR ?? NodePath.join(process.env.HOME ?? NodeOs.homedir(), ".claude")

/**
 * Why `CLAUDE_SANDBOX` cannot hold here, naming the variable at fault, or null: the sandbox
 * cannot start (checked on the gateway's `PATH`, which the CLI inherits), the permission mode
 * lets the file tools leave the project, or a readable path holds what it must hide.
 */
const sandboxFailure = (options: {
  readonly permissionMode: PermissionMode
  readonly readPaths: ReadonlyArray<string>
  readonly projectRoot: string
  /** The SQLite file (null on Postgres: nothing of the log is on this machine). */
  readonly databasePath: string | null
}): ConfigError.ConfigError | null => {
  const unavailable = sandboxUnavailable(process.platform, process.env.PATH ?? "")
  if (unavailable !== null) {
    return ConfigError.InvalidData(["CLAUDE_SANDBOX"], `CLAUDE_SANDBOX is on but ${unavailable}`)
  }
  if (options.permissionMode === "bypassPermissions" || options.permissionMode === "auto") {
    return ConfigError.InvalidData(
      ["CLAUDE_PERMISSION_MODE"],
      `CLAUDE_SANDBOX confines Bash only; with ${options.permissionMode} Claude Code's Read, Write and Edit tools may still reach any file. Use acceptEdits (sandboxed Bash then runs without asking), default, dontAsk or plan`
    )
  }
  // What no sandboxed command may read: its path, the variable that places it, and what it is.
  const hidden: ReadonlyArray<readonly [string, string, string]> = [
    ...(options.databasePath === null ? [] : [[options.databasePath, "DATABASE_URL", "the database"] as const]),
    [options.projectRoot, "PROJECT_ROOT", "every project"],
    [process.cwd(), "CLAUDE_SANDBOX", "the gateway's working directory"],
    [cliConfigDir(), "CLAUDE_SANDBOX", "the CLI's config directory (every session's transcript)"]
  ]
  for (const [path, variable, what] of hidden) {
    const bySystem = exposedPath(systemReadPaths, [path])
    if (bySystem !== null) {
      return ConfigError.InvalidData(
        [variable],
        `CLAUDE_SANDBOX lets every command read ${bySystem.readable}, which holds ${what} (${path}): move it elsewhere`
      )
    }
    const byOperator = exposedPath(options.readPaths, [path])
    if (byOperator !== null) {
      return ConfigError.InvalidData(
        ["CLAUDE_SANDBOX_READ_PATHS"],
        `${byOperator.readable} holds ${what} (${path}), which sandboxed commands must not read`
      )
    }
  }
  return null
}

/** `config/models.json` next to the package, wherever the gateway is started from. */
export const defaultModelsPath = NodePath.resolve(import.meta.dirname, "..", "config", "models.json")

/** A configuration error as one message naming each variable at fault. */
export const formatConfigError = (error: ConfigError.ConfigError): string => {
  const messages: Array<string> = []
  const walk = (e: ConfigError.ConfigError): void => {
    switch (e._op) {
      case "And":
      case "Or":
        walk(e.left)
        walk(e.right)
        return
      case "InvalidData":
      case "MissingData":
      case "SourceUnavailable":
      case "Unsupported":
        messages.push(`${e.path.join(".") || "configuration"}: ${e.message}`)
    }
  }
  walk(error)
  return `Invalid configuration: ${messages.join("; ")}`
}
