/**
 * The gateway's log formats and settings: JSON is one flat object per line, text is one line
 * per entry with its cause indented below, well-known fields come first, the minimum level
 * holds, and a bad LOG_LEVEL or LOG_FORMAT names the variable.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, type Console, Effect, Exit, Logger, LogLevel } from "effect"
import { StoreError } from "../src/Domain/Errors.js"
import { formatJson, formatText, loggingFromConfig, loggingLayer } from "../src/Logging.js"

/** Runs `effect` with a logger that keeps what `format` makes of each entry. */
const capture = (format: (options: Logger.Logger.Options<unknown>) => string, effect: Effect.Effect<void>) => {
  const lines: Array<string> = []
  Effect.runSync(effect.pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make((options) => lines.push(format(options))))),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  ))
  return lines
}

const request = Effect.logInfo("request").pipe(
  Effect.annotateLogs({ key_id: "key:0a1b2c", status: 200, path: "/v1/models", method: "GET", duration_ms: 1.5 })
)

describe("formatJson", () => {
  it("writes one flat object: time, level, message, the fields (well-known first)", () => {
    const [line] = capture(formatJson, request)
    expect(line).not.toContain("\n")
    const entry = JSON.parse(line!)
    expect(entry).toEqual({
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      level: "info",
      message: "request",
      method: "GET",
      path: "/v1/models",
      status: 200,
      duration_ms: 1.5,
      key_id: "key:0a1b2c"
    })
    expect(Object.keys(entry)).toEqual([
      "timestamp",
      "level",
      "message",
      "method",
      "path",
      "status",
      "duration_ms",
      "key_id"
    ])
  })

  it("keeps a failure's cause and an error's message on the same line", () => {
    const error = new StoreError({ method: "append", message: "append: the disk is full" })
    const [line] = capture(
      formatJson,
      Effect.logError("could not record", error, Cause.die(new Error("boom\nsecond line")))
    )
    expect(line!.split("\n")).toHaveLength(1)
    const entry = JSON.parse(line!)
    expect(entry.level).toBe("error")
    expect(entry.message).toBe("could not record: StoreError: append: the disk is full")
    expect(entry.cause).toContain("boom")
  })
})

describe("formatText", () => {
  it("writes time, level, message and key=value fields, quoting what needs it", () => {
    const [line] = capture(formatText, request.pipe(Effect.annotateLogs("note", "two words")))
    expect(line).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}request method=GET path=\/v1\/models status=200 duration_ms=1\.5 key_id=key:0a1b2c note="two words"$/
    )
  })

  it("puts a cause on indented lines after the entry", () => {
    const [entry] = capture(formatText, Effect.logWarning("went wrong", Cause.fail(new Error("the reason"))))
    const [first, ...rest] = entry!.split("\n")
    expect(first).toMatch(/ WARN {2}went wrong$/)
    expect(rest.length).toBeGreaterThan(0)
    expect(rest.every((line) => line.startsWith("    "))).toBe(true)
    expect(rest.join("\n")).toContain("the reason")
  })
})

describe("loggingLayer", () => {
  it("drops entries below the minimum level and none writes nothing", () => {
    const written: Array<string> = []
    const standard = Effect.runSync(Effect.console)
    // The gateway writes to stderr: the console's `error`.
    const console: Console.Console = {
      ...standard,
      unsafe: { ...standard.unsafe, error: (line: string) => written.push(line) }
    }
    const logAll = Effect.all([Effect.logDebug("d"), Effect.logInfo("i"), Effect.logWarning("w"), Effect.logError("e")])
    const run = (level: "debug" | "warn" | "none") =>
      Effect.runSync(logAll.pipe(Effect.provide(loggingLayer({ level, format: "text" })), Effect.withConsole(console)))
    run("warn")
    expect(written.map((line) => line.split(" ")[1])).toEqual(["WARN", "ERROR"])
    written.length = 0
    run("debug")
    expect(written).toHaveLength(4)
    written.length = 0
    run("none")
    expect(written).toEqual([])
  })
})

describe("loggingFromConfig", () => {
  const read = (entries: Record<string, string>) =>
    Effect.runSyncExit(
      Effect.withConfigProvider(loggingFromConfig, ConfigProvider.fromMap(new Map(Object.entries(entries))))
    )

  it("defaults to info and text, and reads either case", () => {
    expect(read({})).toEqual(Exit.succeed({ level: "info", format: "text" }))
    expect(read({ LOG_LEVEL: "WARN", LOG_FORMAT: "Json" })).toEqual(Exit.succeed({ level: "warn", format: "json" }))
  })

  it("names the variable whose value is bad", () => {
    const exit = read({ LOG_LEVEL: "verbose", LOG_FORMAT: "xml" })
    expect(Exit.isFailure(exit)).toBe(true)
    const message = Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : ""
    expect(message).toContain("LOG_LEVEL")
    expect(message).toContain("\"verbose\"")
    expect(message).toContain("LOG_FORMAT")
    expect(message).toContain("\"xml\"")
  })
})
