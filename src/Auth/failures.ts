/**
 * Failed key guesses per client. Each client (a remote address) has a fixed window, opened by
 * its first wrong key; once `limit` wrong keys fall in one window, the client is held back
 * until that window ends, whatever it sends. Pure bookkeeping: the caller passes the time.
 */

export interface FailureLimiterOptions {
  /** Wrong keys allowed per window; 0 disables the limiter. */
  readonly limit: number
  readonly windowMillis: number
  /** At most this many clients are tracked; expired windows go first, then the oldest. */
  readonly maxClients?: number | undefined
}

export interface FailureLimiter {
  /** Milliseconds the client must still wait before its key is looked at (0: not held back). */
  readonly heldBackFor: (client: string, now: number) => number
  /** Counts one wrong key of the client. */
  readonly recordFailure: (client: string, now: number) => void
}

interface Window {
  readonly openedAt: number
  failures: number
}

export const makeFailureLimiter = (options: FailureLimiterOptions): FailureLimiter => {
  const windows = new Map<string, Window>()
  const maxClients = options.maxClients ?? 10_000
  const expired = (window: Window, now: number) => now - window.openedAt >= options.windowMillis

  const makeRoom = (now: number) => {
    for (const [client, window] of windows) if (expired(window, now)) windows.delete(client)
    // Insertion order is the order windows were opened: the oldest go first.
    for (const client of windows.keys()) {
      if (windows.size < maxClients) break
      windows.delete(client)
    }
  }

  return {
    heldBackFor: (client, now) => {
      const window = windows.get(client)
      if (options.limit === 0 || window === undefined || window.failures < options.limit) return 0
      return Math.max(0, window.openedAt + options.windowMillis - now)
    },
    recordFailure: (client, now) => {
      if (options.limit === 0) return
      const window = windows.get(client)
      if (window !== undefined && !expired(window, now)) {
        window.failures += 1
        return
      }
      windows.delete(client)
      if (windows.size >= maxClients) makeRoom(now)
      windows.set(client, { openedAt: now, failures: 1 })
    }
  }
}
