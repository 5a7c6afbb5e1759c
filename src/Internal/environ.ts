/**
 * Withholding settings from the process's own environment block. On Linux any process of the
 * same user (such as a CLI child's shell) can read `/proc/<gateway pid>/environ`, which shows
 * the environment the process was started with, whatever `process.env` holds since. The block
 * lives in the process's own memory, so the gateway overwrites the values there through
 * `/proc/self/mem` (as `setproctitle` reuses the same area), then deletes them from `process.env`.
 */
import * as NodeFs from "node:fs"

/** Fields 50 and 51 of `/proc/<pid>/stat` (see proc(5)): where the environment block starts and ends. */
const environBounds = (stat: string): { readonly start: number; readonly end: number } => {
  // Fields after the command name (which may hold spaces and parentheses) start with field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const start = Number(fields[50 - 3])
  const end = Number(fields[51 - 3])
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start) {
    throw new Error("no environment bounds in /proc/self/stat")
  }
  return { start, end }
}

/**
 * Blanks (with NUL bytes) the values of `names` in the environment block the process was
 * started with, then removes them from `process.env`. Returns the names that were blanked;
 * throws when the block cannot be rewritten (not Linux, `/proc/self/mem` not writable), and
 * then leaves `process.env` as it was.
 */
export const withholdFromEnvironment = (names: ReadonlySet<string>): ReadonlyArray<string> => {
  if (process.platform !== "linux") throw new Error(`the environment block cannot be rewritten on ${process.platform}`)
  const { end, start } = environBounds(NodeFs.readFileSync("/proc/self/stat", "latin1"))
  const fd = NodeFs.openSync("/proc/self/mem", "r+")
  try {
    const block = Buffer.alloc(end - start)
    NodeFs.readSync(fd, block, 0, block.length, start)
    const withheld: Array<string> = []
    let offset = 0
    // latin1 keeps one character per byte, so string offsets are byte offsets.
    for (const entry of block.toString("latin1").split("\0")) {
      const equals = entry.indexOf("=")
      const name = equals > 0 ? entry.slice(0, equals) : ""
      if (names.has(name) && entry.length > equals + 1) {
        const blank = Buffer.alloc(entry.length - equals - 1)
        NodeFs.writeSync(fd, blank, 0, blank.length, start + offset + equals + 1)
        withheld.push(name)
      }
      offset += entry.length + 1
    }
    for (const name of names) delete process.env[name]
    return withheld
  } finally {
    NodeFs.closeSync(fd)
  }
}
