/**
 * The environment variables the gateway itself reads: its configuration (`AppConfig`) and its
 * logging settings. None of them reaches the CLI's environment (see `cliEnv`), and the server
 * blanks them in its own environment block once they are read (see `main.ts`).
 */
import { ConfigProvider, Effect } from "effect"
import { AppConfig } from "../AppConfig.js"
import { loggingFromConfig } from "../Logging.js"

let names: ReadonlySet<string> | undefined

/**
 * Every variable name the configuration asks for, found by reading it once from an empty
 * source that records each name: a new setting is listed without anyone adding it here, as
 * long as it is read unconditionally (with nothing set, every setting takes its default).
 */
export const gatewayVariables = (): ReadonlySet<string> => {
  if (names === undefined) {
    const asked = new Set<string>()
    const recording = ConfigProvider.fromMap(new Map()).pipe(ConfigProvider.mapInputPath((name) => {
      asked.add(name)
      return name
    }))
    const readAll = Effect.zip(
      Effect.either(loggingFromConfig),
      Effect.either(Effect.provide(AppConfig, AppConfig.layer))
    )
    // How reading ends does not matter: every name was asked for by then.
    Effect.runSyncExit(Effect.withConfigProvider(readAll, recording))
    names = asked
  }
  return names
}
