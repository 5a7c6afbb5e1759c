/**
 * Changing this process's environment for a test, and putting it back.
 */
import { Effect } from "effect"

/** Sets (or unsets, with undefined) process environment variables for the scope's lifetime. */
export const withProcessEnv = (vars: Readonly<Record<string, string | undefined>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved = Object.fromEntries(Object.keys(vars).map((key) => [key, process.env[key]] as const))
      for (const [key, value] of Object.entries(vars)) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
      return saved
    }),
    (saved) =>
      Effect.sync(() => {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key]
          else process.env[key] = value
        }
      })
  )
