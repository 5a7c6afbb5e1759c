/**
 * The request's `stop` sequences, applied by the gateway as text streams in: text that could
 * begin a stop sequence is held back until it is clear, and nothing is released after one.
 */

export interface StopScanner {
  /** Text that might be the start of a stop sequence, not yet released. */
  readonly held: string
  readonly stopped: boolean
  /** The stop sequence that stopped the text, once one did. */
  readonly matched?: string | undefined
}

export const initialStopScanner: StopScanner = { held: "", stopped: false }

/** Feeds text; returns what may be released now. After a stop sequence, nothing more is released. */
export const scanStop = (
  scanner: StopScanner,
  text: string,
  stops: ReadonlyArray<string>
): [StopScanner, string] => {
  if (scanner.stopped) return [scanner, ""]
  const buffer = scanner.held + text
  if (stops.length === 0) return [initialStopScanner, buffer]
  let cut = -1
  let matched = ""
  for (const stop of stops) {
    const index = stop.length > 0 ? buffer.indexOf(stop) : -1
    if (index !== -1 && (cut === -1 || index < cut)) {
      cut = index
      matched = stop
    }
  }
  if (cut !== -1) return [{ held: "", stopped: true, matched }, buffer.slice(0, cut)]
  let hold = 0
  for (const stop of stops) {
    for (let length = Math.min(stop.length - 1, buffer.length); length > hold; length--) {
      if (buffer.endsWith(stop.slice(0, length))) {
        hold = length
        break
      }
    }
  }
  return [{ held: buffer.slice(buffer.length - hold), stopped: false }, buffer.slice(0, buffer.length - hold)]
}

/** Releases held text at the end of the answer. */
export const flushStop = (scanner: StopScanner): string => (scanner.stopped ? "" : scanner.held)
