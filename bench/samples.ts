/**
 * What the benchmark's sections share: one timed turn, and the report that sets two paths' turns
 * side by side (run.ts's `report`).
 */

/** One turn, timed from its request. */
export interface Sample {
  readonly firstDeltaMs: number
  readonly totalMs: number
}

/** Prints two paths' samples side by side: medians, ratio, difference, paired figures. */
export type Report = (
  label: string,
  names: readonly [string, string],
  left: ReadonlyArray<Sample>,
  right: ReadonlyArray<Sample>
) => void
