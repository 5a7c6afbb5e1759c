/**
 * A CLI's CPU priority, set below the gateway's right after the spawn. Each CLI starts in a
 * session of its own (so its process group, tools included, can be signalled as one), and on
 * Linux with autogroup scheduling a session is also a scheduling group: left at its defaults, each
 * CLI would weigh as much as the whole gateway, and a hundred CLIs starting at once would leave
 * the gateway a hundredth of a core to start and read them. The CLI's autogroup and the process
 * itself get the nice value (its tools inherit it); where either cannot be set, it stays as it is.
 */
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"

/** Lowers the process's priority to `nice` (1..19); 0 leaves it alone. */
export const lowerPriority = (pid: number, nice: number): Effect.Effect<void> =>
  nice === 0
    ? Effect.void
    : Effect.sync(() => {
      try {
        NodeOs.setPriority(pid, nice)
      } catch {
        // Gone already, or not permitted here: it keeps the gateway's priority.
      }
      if (process.platform !== "linux") return
      try {
        NodeFs.writeFileSync(`/proc/${pid}/autogroup`, String(nice))
      } catch {
        // A kernel without autogroup scheduling, or the process is gone.
      }
    })
