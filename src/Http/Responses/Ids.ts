/**
 * The ids of a response and of its output items, derived from the turn that answered it
 * (`turn_<hex>` → `resp_<hex>`, `msg_<hex>`, `rs_<hex>`, `fc_<hex>_<n>`), so that a stream,
 * its JSON twin and every later read of the log name the same things; and the way back from
 * an id to its turn.
 */

const hexOf = (turnId: string): string => turnId.replace(/^turn_/, "")

/** The response a turn answered with. */
export const responseIdOf = (turnId: string): string => `resp_${hexOf(turnId)}`

/** A turn's `k`-th message item (counted from 0; the first has no suffix). */
export const messageIdOf = (turnId: string, k: number): string => `msg_${hexOf(turnId)}${k === 0 ? "" : `_${k}`}`

/** A turn's `k`-th reasoning item (counted from 0; the first has no suffix). */
export const reasoningIdOf = (turnId: string, k: number): string => `rs_${hexOf(turnId)}${k === 0 ? "" : `_${k}`}`

/** The item of a turn's call of the client's tools with that index. */
export const callItemIdOf = (turnId: string, index: number): string => `fc_${hexOf(turnId)}_${index}`

const responsePattern = /^resp_([A-Za-z0-9]+)$/
const itemPattern = /^(?:msg|rs|fc)_([A-Za-z0-9]+)(?:_\d+)?$/

/** The turn of a response id, or null when it is not one of ours. */
export const turnOfResponseId = (id: string): string | null => {
  const match = responsePattern.exec(id)
  return match === null ? null : `turn_${match[1]}`
}

/** The turn of an output item's id, or null when it is not one of ours. */
export const turnOfItemId = (id: string): string | null => {
  const match = itemPattern.exec(id)
  return match === null ? null : `turn_${match[1]}`
}
