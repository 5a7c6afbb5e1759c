/**
 * Read models of the log (what a session or the whole gateway amounts to), and who may see
 * a session.
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
  /** Given when the session was created, if it was. */
  readonly title: string | null
  /** The session's own model (set when it was created), else null. */
  readonly model: string | null
  /** The session's own system prompt, else the latest turn's. */
  readonly systemPrompt: string | null
  readonly turns: number
  readonly completedTurns: number
  /** Messages of the conversation the completed turns hold (the answers included). */
  readonly messageCount: number
  /** Input plus cache reads and writes, summed over completed turns. */
  readonly promptTokens: number
  readonly completionTokens: number
  readonly cachedTokens: number
  readonly costUsd: number
  /** The model the latest completed turn ran. */
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

/**
 * Whether a caller sees a session: sessions belong to the principal that created them, and
 * another principal's session does not exist as far as that principal can tell.
 */
export const isVisibleTo = (sessionOwner: string | null, caller: string | null): boolean => sessionOwner === caller

/**
 * The project a caller's new sessions run in when they name none: `default` with auth off,
 * `default-<key id>` for a key (its principal id without the `key:` kind), so nothing one
 * key's model writes there is read by another key's.
 */
export const defaultProjectOf = (owner: string | null): string =>
  owner === null ? "default" : `default-${owner.slice(owner.indexOf(":") + 1)}`

/**
 * Ids kept for default projects (`default`, `default-…`, in any case: on a file system that
 * ignores case `Default-x` is the same directory): a caller registers only its own.
 */
export const isDefaultProjectId = (projectId: string): boolean => /^default(?:-|$)/i.test(projectId)

/** Streams of the log that are not sessions carry this prefix (e.g. `project:<id>`). */
export const projectStreamId = (projectId: string) => `project:${projectId}`
export const projectStreamPrefix = "project:"
