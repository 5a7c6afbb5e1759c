import { Effect } from "effect"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { lowerPriority } from "../../src/ClaudeProcess/priority.js"

/** The nice value of a process, from `/proc/<pid>/stat` (the field after the command's closing parenthesis, 17th). */
const niceOf = (pid: number) => Number(NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[16])
/**
 * "/autogroup-<id> nice <n>", or null on a kernel without autogroups or for a process outside the
 * root cgroup (the file is then empty, as in many containers).
 */
const autogroupOf = (pid: number) => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/autogroup`, "utf8").trim() || null
  } catch {
    return null
  }
}

const started: Array<NodeChildProcess.ChildProcess> = []
/** A process in a session of its own, as the CLI is started: its autogroup is its own, not this test's. */
const sleeper = () => {
  const child = NodeChildProcess.spawn("sleep", ["30"], { detached: true, stdio: "ignore" })
  started.push(child)
  return child.pid!
}

afterEach(() => {
  for (const child of started.splice(0)) child.kill("SIGKILL")
})

/** The nice value in an autogroup's line. */
const groupNiceOf = (line: string) => Number(/ nice (-?\d+)$/.exec(line)![1])

describe.runIf(process.platform === "linux")("lowerPriority", () => {
  it("sets the process's nice value and its autogroup's, that many steps below the caller's (at most 19)", () => {
    const pid = sleeper()
    const ownGroup = autogroupOf(process.pid)
    Effect.runSync(lowerPriority(pid, 7))
    expect(niceOf(pid)).toBe(Math.min(19, niceOf(process.pid) + 7))
    if (ownGroup !== null) {
      expect(groupNiceOf(autogroupOf(pid)!)).toBe(Math.min(19, groupNiceOf(ownGroup) + 7))
      // Its own group: the caller's is untouched.
      expect(autogroupOf(process.pid)).toBe(ownGroup)
    }
  })

  it("leaves the process alone with 0, and ignores a process that is gone", () => {
    const pid = sleeper()
    Effect.runSync(lowerPriority(pid, 0))
    expect(niceOf(pid)).toBe(niceOf(process.pid))
    expect(() => Effect.runSync(lowerPriority(2 ** 22 + 12_345, 10))).not.toThrow()
  })
})
