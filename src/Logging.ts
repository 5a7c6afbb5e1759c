/**
 * The gateway's log: one entry per line on stderr, as text (`<time> <LEVEL> <message>
 * key=value…`, a failure's cause on indented lines after it) or JSON (one object per line),
 * from a minimum level up. `LOG_LEVEL` and `LOG_FORMAT` are read on their own, before the rest
 * of the configuration, so that a configuration that fails is reported in the format asked for.
 */
import { Cause, Config, ConfigError, Effect, Either, Inspectable, Layer, Logger, LogLevel } from "effect"
import { formatConfigError, InvalidConfig } from "./AppConfig.js"

/** `LOG_LEVEL`: the least severe entries written (`none` writes nothing). */
export const LogLevels = ["debug", "info", "warn", "error", "none"] as const
export type LogLevelName = (typeof LogLevels)[number]

/** `LOG_FORMAT`. */
export const LogFormats = ["text", "json"] as const
export type LogFormat = (typeof LogFormats)[number]

export interface LoggingOptions {
  readonly level: LogLevelName
  readonly format: LogFormat
}

export const defaultLogging: LoggingOptions = { level: "info", format: "text" }

const minimumLevels: Record<LogLevelName, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
}

/** A message part as text: an error by its name and message, anything else as JSON. */
const describe = (part: unknown): string => {
  if (typeof part === "string") return part
  if (part instanceof Error) return part.message === "" ? part.name : `${part.name}: ${part.message}`
  return Inspectable.toStringUnknown(part, 0)
}

const messageOf = (message: unknown): string =>
  Array.isArray(message) ? message.map(describe).join(": ") : describe(message)

const causeOf = (cause: Cause.Cause<unknown>): string | null =>
  Cause.isEmptyType(cause) ? null : Cause.pretty(cause, { renderErrorCause: true })

/** Fields written first, in this order, when present; the others follow by name. */
const leadingFields = ["method", "path", "status", "duration_ms", "session_id", "turn_id", "model", "key_id"]

const rankOf = (key: string) => {
  const rank = leadingFields.indexOf(key)
  return rank === -1 ? leadingFields.length : rank
}

/** The annotations in a stable order (Effect keeps them in a hash map). */
const fieldsOf = (options: Logger.Logger.Options<unknown>): Array<readonly [string, unknown]> =>
  [...options.annotations].sort(([a], [b]) => rankOf(a) - rankOf(b) || (a < b ? -1 : a > b ? 1 : 0))

/** A value that needs no quotes in a `key=value` pair. */
const bare = /^[^\s"=]+$/

const textValue = (value: unknown): string => {
  const text = typeof value === "string" ? value : Inspectable.toStringUnknown(value, 0)
  return bare.test(text) ? text : JSON.stringify(text)
}

/** `2026-01-02T03:04:05.678Z INFO  request method=GET path=/v1/models status=200 …`. */
export const formatText = (options: Logger.Logger.Options<unknown>): string => {
  const message = messageOf(options.message)
  let line = `${options.date.toISOString()} ${options.logLevel.label.padEnd(5)} ${
    /[\r\n]/.test(message) ? JSON.stringify(message) : message
  }`
  for (const [key, value] of fieldsOf(options)) line += ` ${key}=${textValue(value)}`
  const cause = causeOf(options.cause)
  return cause === null ? line : `${line}\n${cause.replace(/^/gm, "    ")}`
}

/** `{"timestamp":…,"level":"info","message":"request","method":"GET",…,"cause":…}`. */
export const formatJson = (options: Logger.Logger.Options<unknown>): string => {
  const entry: Record<string, unknown> = {
    timestamp: options.date.toISOString(),
    level: options.logLevel.label.toLowerCase(),
    message: messageOf(options.message)
  }
  for (const [key, value] of fieldsOf(options)) {
    if (!Object.hasOwn(entry, key)) entry[key] = value
  }
  const cause = causeOf(options.cause)
  if (cause !== null) entry.cause = cause
  return Inspectable.stringifyCircular(entry)
}

/**
 * Replaces Effect's default logger with the gateway's (on stderr, through `Console`) and sets
 * the minimum level. Provide it around the whole program: fibers started inside inherit it.
 */
export const loggingLayer = (options: LoggingOptions): Layer.Layer<never> =>
  Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.withConsoleError(Logger.make(options.format === "json" ? formatJson : formatText))
    ),
    Logger.minimumLogLevel(minimumLevels[options.level])
  )

const oneOf = <A extends string>(name: string, values: ReadonlyArray<A>, fallback: A) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => {
      const value = values.find((candidate) => candidate === raw.trim().toLowerCase())
      return value === undefined
        ? Either.left(ConfigError.InvalidData([], `expected one of ${values.join(", ")}, got "${raw}"`))
        : Either.right(value)
    }),
    Config.withDefault(fallback)
  )

/** `LOG_LEVEL` and `LOG_FORMAT` from the current `ConfigProvider`. */
export const loggingFromConfig: Effect.Effect<LoggingOptions, InvalidConfig> = Effect.mapError(
  Config.all({ level: oneOf("LOG_LEVEL", LogLevels, "info"), format: oneOf("LOG_FORMAT", LogFormats, "text") }),
  (error) => new InvalidConfig({ message: formatConfigError(error) })
)

/**
 * Runs `effect` for what it does, never failing: a failure or a defect is logged as a warning
 * with its cause (an interruption is not a failure). For work done in the background.
 */
export const warnOnFailure =
  (message: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
    Effect.catchAllCause(
      Effect.asVoid(effect),
      (cause) => (Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logWarning(message, cause))
    )
