/**
 * Read models of the log: what a session or the whole gateway amounts to.
 */

/** One session, summarised from its events. */
export interface SessionSummary {
  readonly sessionId: string
  /** The principal the session belongs to (null when auth is off). */
  readonly owner: string | null
  readonly projectId: string
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  readonly updatedAt: number
  readonly closed: boolean
  readonly turns: number
  readonly completedTurns: number
  /** Input plus cache reads and writes, summed over completed turns. */
  readonly promptTokens: number
  readonly completionTokens: number
  readonly cachedTokens: number
  readonly costUsd: number
  readonly lastModel: string | null
  readonly lastSequence: number
}

/** Totals over every session. */
export interface SessionTotals {
  readonly sessions: number
  readonly closedSessions: number
  readonly turns: number
  readonly completedTurns: number
  readonly failedTurns: number
  readonly cancelledTurns: number
  readonly promptTokens: number
  readonly completionTokens: number
  readonly costUsd: number
}

/** Streams of the log that are not sessions carry this prefix (e.g. `project:<id>`). */
export const projectStreamId = (projectId: string) => `project:${projectId}`
export const projectStreamPrefix = "project:"
