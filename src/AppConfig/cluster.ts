/**
 * The cluster settings: whether this gateway is a runner of a cluster of gateways, and the
 * address other nodes reach it at (`CLUSTER_RUNNER_ADDRESS`) and where it listens for them
 * (`CLUSTER_LISTEN_ADDRESS`, the runner address by default).
 */
import { Config, ConfigError, Either, Option } from "effect"

/** A host (name, IPv4, or bracketed IPv6) and a port. */
export interface HostAndPort {
  readonly host: string
  readonly port: number
}

export interface ClusterSettings {
  /** How the other nodes reach this node's runner. */
  readonly runnerAddress: HostAndPort
  /** Where the runner listens, when it differs from `runnerAddress` (behind NAT, in a container). */
  readonly listenAddress: HostAndPort | null
}

/** `host:port` or `[v6]:port`, or why not. */
export const parseHostAndPort = (raw: string): Either.Either<HostAndPort, string> => {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw.trim())
  const port = match === null ? Number.NaN : Number(match[3])
  return match !== null && port > 0 && port < 65_536
    ? Either.right({ host: match[1] ?? match[2]!, port })
    : Either.left(`expected host:port (e.g. 10.0.0.5:34431 or [fd00::5]:34431), got "${raw}"`)
}

const hostAndPort = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => Either.mapLeft(parseHostAndPort(raw), (message) => ConfigError.InvalidData([], message))),
    Config.option
  )

/** The cluster settings, or null for a gateway on its own. */
export const clusterSettings: Config.Config<ClusterSettings | null> = Config.all({
  runner: hostAndPort("CLUSTER_RUNNER_ADDRESS"),
  listen: hostAndPort("CLUSTER_LISTEN_ADDRESS")
}).pipe(
  Config.mapOrFail(({ listen, runner }) => {
    if (Option.isSome(runner)) {
      return Either.right({ runnerAddress: runner.value, listenAddress: Option.getOrNull(listen) })
    }
    return Option.isSome(listen)
      ? Either.left(ConfigError.InvalidData(["CLUSTER_LISTEN_ADDRESS"], "is set but CLUSTER_RUNNER_ADDRESS is not"))
      : Either.right(null)
  })
)
