/**
 * A CLI's CPU priority, set below the gateway's right after the spawn. Each CLI starts in a
 * session of its own (so its process group, tools included, can be signalled as one), and on
 * Linux with autogroup scheduling a session is also a scheduling group: left at its defaults, each
 * CLI would weigh as much as the whole gateway, and a hundred CLIs starting at once would leave
 * the gateway a hundredth of a core to start and read them. The CLI's autogroup and the process
 * itself get a nice value `steps` above the gateway's own (at most 19; its tools inherit it);
 * where either cannot be set, it stays as it is.
 */
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"

/** The nice value of this process's autogroup, or null without autogroup scheduling. */
const ownAutogroupNice = (): number | null => {
  try {
    const match = / nice (-?\d+)/.exec(NodeFs.readFileSync("/proc/self/autogroup", "utf8"))
    return match === null ? null : Number(match[1])
  } catch {
    return null
  }
}

const below = (nice: number, steps: number) => Math.min(19, nice + steps)

/** Lowers the process's priority `steps` (1..19) below the gateway's; 0 leaves it alone. */
export const lowerPriority = (pid: number, steps: number): Effect.Effect<void> =>
  steps === 0
    ? Effect.void
    : Effect.sync(() => {
      try {
        NodeOs.setPriority(pid, below(NodeOs.getPriority(), steps))
      } catch {
        // Gone already, or not permitted here: it keeps the gateway's priority.
      }
      if (process.platform !== "linux") return
      const group = ownAutogroupNice()
      if (group === null) return
      try {
        NodeFs.writeFileSync(`/proc/${pid}/autogroup`, String(below(group, steps)))
      } catch {
        // The process is gone.
      }
    })
