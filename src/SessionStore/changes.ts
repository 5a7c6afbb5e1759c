/**
 * The notification an append sends on Postgres, so that gateways sharing the database follow
 * each other's appends live: on one channel, a payload naming the writer (a store instance),
 * the appended sequences and the stream, far below Postgres' limit of 8000 bytes.
 */

/** The channel every append on Postgres notifies. */
export const changesChannel = "claude_code_api_appended"

/** What one append (one statement) wrote. */
export interface Change {
  /** The store instance that appended. */
  readonly origin: string
  /** The first and last sequences appended. */
  readonly from: number
  readonly last: number
  /** Null when the id was too long to send: its readers are then all read again. */
  readonly streamId: string | null
}

/** A stream id this long (UTF-16 units, at most 3 bytes each in UTF-8) still fits a payload. */
const maxStreamIdLength = 2000

/** `<origin> <from> <last> <stream id>`, the id last since it may hold spaces (left out when too long). */
export const encodeChange = (change: Omit<Change, "streamId"> & { readonly streamId: string }): string => {
  const head = `${change.origin} ${change.from} ${change.last}`
  return change.streamId.length <= maxStreamIdLength ? `${head} ${change.streamId}` : head
}

const payloadPattern = /^(\S+) (\d+) (\d+)(?: ([\s\S]*))?$/

/** The change a payload describes, or null when it is not one (anything else sent on the channel). */
export const decodeChange = (payload: string): Change | null => {
  const match = payloadPattern.exec(payload)
  if (match === null) return null
  return { origin: match[1]!, from: Number(match[2]), last: Number(match[3]), streamId: match[4] ?? null }
}
