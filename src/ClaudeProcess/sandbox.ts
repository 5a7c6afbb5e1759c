/**
 * The isolation mode (`CLAUDE_SANDBOX`): Claude Code's own sandbox around every Bash command the
 * model runs (bubblewrap and socat on Linux), given to the CLI as `--settings` JSON. Inside it a
 * command writes only the project directory and the project's own temporary directory, reads
 * only those, the system's directories and the configured extra paths, reaches no network, and
 * does not see the upstream credentials. The sandbox confines Bash alone: the file tools stay
 * confined by the permission mode (see the README's "Permission modes and the sandbox").
 */
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** What the sandbox lets a command read besides the project: the operator's extra paths. */
export interface CliSandbox {
  /** Absolute paths readable (never writable) inside the sandbox, e.g. a toolchain under /opt. */
  readonly readPaths: ReadonlyArray<string>
}

/** System directories a shell and its tools need, readable inside the sandbox. */
export const systemReadPaths: ReadonlyArray<string> = [
  "/usr",
  "/bin",
  "/sbin",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/etc"
]

/** Secrets under those directories that stay unreadable (the sandbox runs as the gateway's user). */
export const systemSecretPaths: ReadonlyArray<string> = [
  "/etc/shadow",
  "/etc/shadow-",
  "/etc/gshadow",
  "/etc/gshadow-",
  "/etc/ssh",
  "/etc/ssl/private",
  "/etc/sudoers",
  "/etc/sudoers.d"
]

/** The CLI's own upstream credentials: unset in every sandboxed command's environment. */
export const upstreamCredentials: ReadonlyArray<string> = [
  "ANTHROPIC_API_KEY",
  "ANTHROPIC_AUTH_TOKEN",
  "CLAUDE_CODE_OAUTH_TOKEN",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_BEARER_TOKEN_BEDROCK"
]

/**
 * Claude Code's `sandbox` settings. `/` is denied for reading and the readable paths are
 * re-allowed inside it; writes are the CLI's defaults (the working directory and its temporary
 * directory). A sandbox that cannot start stops the CLI (`failIfUnavailable`), and the model's
 * `dangerouslyDisableSandbox` is ignored (`allowUnsandboxedCommands: false`). Bash runs without
 * asking, since it runs confined (`autoAllowBashIfSandboxed`).
 */
export const sandboxSettings = (sandbox: CliSandbox) => ({
  sandbox: {
    enabled: true,
    failIfUnavailable: true,
    autoAllowBashIfSandboxed: true,
    allowUnsandboxedCommands: false,
    filesystem: {
      denyRead: ["/", ...systemSecretPaths],
      allowRead: [...systemReadPaths, ...sandbox.readPaths]
    },
    network: { allowedDomains: [] },
    credentials: { envVars: upstreamCredentials.map((name) => ({ name, mode: "deny" })) }
  }
})

/** The flags a sandboxed launch adds. */
export const sandboxArgs = (sandbox: CliSandbox): ReadonlyArray<string> => [
  "--settings",
  JSON.stringify(sandboxSettings(sandbox))
]

/**
 * The CLI's temporary directory for a project: its own, under `tmpRoot`, named by the project
 * directory. The sandbox makes it writable, so a shared one would let a project's commands
 * read and change the command output of every other project.
 */
export const sandboxTmpDir = (cwd: string, tmpRoot: string): string =>
  NodePath.join(
    tmpRoot,
    `claude-code-api-${NodeCrypto.createHash("sha256").update(NodePath.resolve(cwd)).digest("hex").slice(0, 16)}`
  )

/** The environment a sandboxed launch adds: the project's own temporary directory. */
export const sandboxEnv = (cwd: string, tmpRoot: string): Readonly<Record<string, string>> => ({
  CLAUDE_CODE_TMPDIR: sandboxTmpDir(cwd, tmpRoot)
})

/**
 * The first protected path (a project, the database, the gateway's directory) that a readable
 * path would expose, with the readable path; null when none.
 */
export const exposedPath = (
  readable: ReadonlyArray<string>,
  protectedPaths: ReadonlyArray<string>
): { readonly readable: string; readonly protected: string } | null => {
  for (const read of readable) {
    const root = NodePath.resolve(read)
    for (const path of protectedPaths) {
      const target = NodePath.resolve(path)
      if (target === root || target.startsWith(root.endsWith(NodePath.sep) ? root : root + NodePath.sep)) {
        return { readable: read, protected: path }
      }
    }
  }
  return null
}

/** Whether `name` is an executable file in one of `searchPath`'s directories. */
const onPath = (name: string, searchPath: string): boolean =>
  searchPath.split(NodePath.delimiter).some((dir) => {
    if (dir.length === 0) return false
    try {
      NodeFs.accessSync(NodePath.join(dir, name), NodeFs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })

/**
 * Why Claude Code's sandbox cannot run here, or null: it needs Linux with bubblewrap and socat
 * on the `PATH` (the CLI's), or macOS (its built-in `sandbox-exec`).
 */
export const sandboxUnavailable = (platform: NodeJS.Platform, searchPath: string): string | null => {
  if (platform === "darwin") return null
  if (platform !== "linux") return `Claude Code's sandbox is not supported on ${platform} (it needs Linux or macOS)`
  const missing = [["bwrap", "bubblewrap (bwrap)"], ["socat", "socat"]].filter(([binary]) =>
    !onPath(binary!, searchPath)
  )
  if (missing.length === 0) return null
  return `${missing.map(([, label]) => label).join(" and ")} ${
    missing.length === 1 ? "is" : "are"
  } not installed; install the bubblewrap and socat packages (e.g. apt-get install bubblewrap socat)`
}
