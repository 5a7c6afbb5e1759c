/**
 * Looking at the processes a test left behind, by working directory (every test uses its
 * own). Looks only: tests never kill by name.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

const cwdOf = (pid: number): string | null => {
  try {
    return NodeFs.readlinkSync(`/proc/${pid}/cwd`).replace(/ \(deleted\)$/, "")
  } catch {
    return null // gone already, or not ours to inspect
  }
}

const commandOf = (pid: number): string => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
  } catch {
    return ""
  }
}

const livePids = (): ReadonlyArray<number> =>
  NodeFs.readdirSync("/proc").flatMap((entry) => (/^\d+$/.test(entry) ? [Number(entry)] : []))

/** Live children of `pid` (a process that has left keeps no children here: they are reparented). */
export const childrenOf = (pid: number): ReadonlyArray<number> =>
  livePids().filter((child) => {
    try {
      // `pid (comm) state ppid …`: the command may hold spaces and parentheses, so read after its last ")".
      const stat = NodeFs.readFileSync(`/proc/${child}/stat`, "utf8")
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid
    } catch {
      return false
    }
  })

/** Live processes whose working directory is exactly `cwd`. */
export const processesIn = (cwd: string): ReadonlyArray<number> => livePids().filter((pid) => cwdOf(pid) === cwd)

const isInside = (path: string, root: string) => path === root || path.startsWith(root + NodePath.sep)

/** Live `claude.exe` processes whose working directory lies inside one of `roots`. */
export const claudeProcessesUnder = (
  roots: string | ReadonlyArray<string>
): Array<{ readonly pid: number; readonly cwd: string }> => {
  const within = typeof roots === "string" ? [roots] : roots
  return livePids().flatMap((pid) => {
    if (pid === process.pid) return []
    const cwd = cwdOf(pid)
    if (cwd === null || !within.some((root) => isInside(cwd, root))) return []
    return commandOf(pid).includes("claude.exe") ? [{ pid, cwd }] : []
  })
}

/** Waits until no `claude.exe` runs inside `roots` (at most `timeoutMs`); the ones still running then. */
export const claudeProcessesLeftUnder = async (
  roots: string | ReadonlyArray<string>,
  timeoutMs = 5_000
): Promise<Array<{ readonly pid: number; readonly cwd: string }>> => {
  const deadline = Date.now() + timeoutMs
  while (claudeProcessesUnder(roots).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return claudeProcessesUnder(roots)
}

/** Live processes (any command, this one excepted) whose working directory lies inside `root`. */
export const processesUnderRoot = (root: string): Array<number> =>
  livePids().filter((pid) => {
    if (pid === process.pid) return false
    const cwd = cwdOf(pid)
    return cwd !== null && isInside(cwd, root)
  })
