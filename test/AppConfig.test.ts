/**
 * Configuration: database URLs, defaults, and startup failures that name the variable.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as NodePath from "node:path"
import { AppConfig, databasePathFromUrl, defaultModelsPath, EventLogDatabase } from "../src/AppConfig.js"

const withEnv = (env: Record<string, string>) =>
  AppConfig.layer.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))

const load = (env: Record<string, string>) => Effect.provide(AppConfig, withEnv(env))

const loadError = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(load(env))
    expect(error).toBeInstanceOf(Error)
    return error.message
  })

describe("databasePathFromUrl", () => {
  it("sqlite:///relative is relative to the working directory", () => {
    expect(databasePathFromUrl("sqlite:///./x.db")).toBe(NodePath.resolve("x.db"))
    expect(databasePathFromUrl("sqlite:///data/x.db")).toBe(NodePath.resolve("data/x.db"))
  })

  it("sqlite:////absolute is absolute", () => {
    expect(databasePathFromUrl("sqlite:////abs/x.db")).toBe("/abs/x.db")
  })

  it("accepts a driver suffix and surrounding whitespace", () => {
    expect(databasePathFromUrl("  sqlite+aiosqlite:////abs/y.db ")).toBe("/abs/y.db")
  })

  it("bare paths: relative ones are resolved, absolute ones kept", () => {
    expect(databasePathFromUrl("./data/claude_api.db")).toBe(NodePath.resolve("data/claude_api.db"))
    expect(databasePathFromUrl("claude_api.db")).toBe(NodePath.join(process.cwd(), "claude_api.db"))
    expect(databasePathFromUrl("/var/lib/gateway/db.sqlite")).toBe("/var/lib/gateway/db.sqlite")
  })

  it("file: paths", () => {
    expect(databasePathFromUrl("file:/abs/z.db")).toBe("/abs/z.db")
  })

  it("always returns an absolute path", () => {
    for (const url of ["sqlite:///./x.db", "x.db", "../up.db", "sqlite:///x.db"]) {
      expect(NodePath.isAbsolute(databasePathFromUrl(url)), url).toBe(true)
    }
  })
})

describe("AppConfig.layer", () => {
  it.effect("defaults when nothing is set", () =>
    Effect.gen(function*() {
      const config = yield* load({})
      expect(config.host).toBe("127.0.0.1")
      expect(config.port).toBe(8000)
      expect(config.requireAuth).toBe(false)
      expect(config.apiKeys).toEqual([])
      expect(config.permissionMode).toBe("acceptEdits")
      expect(config.systemPromptMode).toBe("append")
      expect(config.modelsPath).toBe(defaultModelsPath)
      expect(config.database).toEqual(EventLogDatabase.Sqlite({ path: NodePath.resolve("data/claude_api.db") }))
      expect(NodePath.isAbsolute(config.projectRoot)).toBe(true)
      expect(config.corsOrigins).toEqual(["http://localhost:8000", "http://127.0.0.1:8000"])
      expect(config.toolCallTimeoutSeconds).toBe(600)
      expect(config.clientToolsKeepBuiltins).toBe(false)
    }))

  it.effect("reads values from the config provider", () =>
    Effect.gen(function*() {
      const config = yield* load({
        HOST: "0.0.0.0",
        PORT: "9123",
        REQUIRE_AUTH: "true",
        API_KEYS: "k1",
        CLAUDE_PERMISSION_MODE: "plan",
        SYSTEM_PROMPT_MODE: "replace",
        DATABASE_URL: "sqlite:////abs/x.db",
        CLAUDE_CODE_API_MODELS_PATH: "/etc/gateway/models.json"
      })
      expect(config).toMatchObject({
        host: "0.0.0.0",
        port: 9123,
        requireAuth: true,
        permissionMode: "plan",
        systemPromptMode: "replace",
        database: EventLogDatabase.Sqlite({ path: "/abs/x.db" }),
        modelsPath: "/etc/gateway/models.json"
      })
      expect(config.apiKeys.map(Redacted.value)).toEqual(["k1"])
      expect(String(config.apiKeys[0])).not.toContain("k1")
      expect(config.corsOrigins).toContain("http://localhost:9123")
    }))

  it.effect("a postgres:// or postgresql:// DATABASE_URL selects Postgres, its URL redacted", () =>
    Effect.gen(function*() {
      const url = "postgres://gateway:s3cret-pw@db.internal:5433/events"
      const config = yield* load({ DATABASE_URL: url, DATABASE_POOL_SIZE: "4" })
      expect(config.database._tag).toBe("Postgres")
      if (config.database._tag !== "Postgres") return
      expect(Redacted.value(config.database.url)).toBe(url)
      expect(config.database.poolSize).toBe(4)
      expect(String(config.database.url)).not.toContain("s3cret-pw")
      expect(JSON.stringify(config.database)).not.toContain("s3cret-pw")

      const long = yield* load({ DATABASE_URL: " postgresql://gateway@localhost/events " })
      expect(long.database).toMatchObject({ _tag: "Postgres", poolSize: 10 })
      expect(long.database._tag === "Postgres" && Redacted.value(long.database.url)).toBe(
        "postgresql://gateway@localhost/events"
      )
      // Anything else is a SQLite file.
      expect((yield* load({ DATABASE_URL: "sqlite:///./pg.db" })).database._tag).toBe("Sqlite")
    }))

  it.effect("a DATABASE_URL or DATABASE_POOL_SIZE that cannot be used fails naming it, never showing the URL", () =>
    Effect.gen(function*() {
      const message = yield* loadError({ DATABASE_URL: "postgres://gateway:s3cret-pw@[bad/events" })
      expect(message).toContain("DATABASE_URL")
      expect(message).not.toContain("s3cret-pw")
      expect(yield* loadError({ DATABASE_POOL_SIZE: "0" })).toContain("DATABASE_POOL_SIZE")
    }))

  it.effect("CLUSTER_RUNNER_ADDRESS makes a node of a cluster on a Postgres log; none runs on its own", () =>
    Effect.gen(function*() {
      const url = "postgres://gateway:pw@db.internal/events"
      expect((yield* load({})).cluster).toBeNull()
      expect((yield* load({ DATABASE_URL: url, CLUSTER_RUNNER_ADDRESS: "10.0.0.5:34431" })).cluster).toEqual({
        runnerAddress: { host: "10.0.0.5", port: 34431 },
        listenAddress: null
      })
      const behindNat = yield* load({
        DATABASE_URL: url,
        CLUSTER_RUNNER_ADDRESS: "[fd00::5]:34431",
        CLUSTER_LISTEN_ADDRESS: "0.0.0.0:4000"
      })
      expect(behindNat.cluster).toEqual({
        runnerAddress: { host: "fd00::5", port: 34431 },
        listenAddress: { host: "0.0.0.0", port: 4000 }
      })
    }))

  it.effect("a cluster setting that cannot be used fails naming it", () =>
    Effect.gen(function*() {
      const url = "postgres://gateway:pw@db.internal/events"
      // A SQLite log is one machine's: nodes must share theirs.
      expect(yield* loadError({ CLUSTER_RUNNER_ADDRESS: "node-1:34431" })).toMatch(/CLUSTER_RUNNER_ADDRESS.*postgres/)
      for (const bad of ["node-1", "node-1:0", "node-1:70000", "http://node-1:80", ":80"]) {
        expect(yield* loadError({ DATABASE_URL: url, CLUSTER_RUNNER_ADDRESS: bad })).toContain("CLUSTER_RUNNER_ADDRESS")
      }
      expect(yield* loadError({ DATABASE_URL: url, CLUSTER_LISTEN_ADDRESS: "0.0.0.0:4000" })).toContain(
        "CLUSTER_LISTEN_ADDRESS"
      )
      // The shard locks keep one of the pool's connections.
      expect(
        yield* loadError({ DATABASE_URL: url, DATABASE_POOL_SIZE: "1", CLUSTER_RUNNER_ADDRESS: "node-1:34431" })
      ).toContain("DATABASE_POOL_SIZE")
    }))

  it.effect("PORT=abc fails with a message naming PORT", () =>
    Effect.gen(function*() {
      const message = yield* loadError({ PORT: "abc" })
      expect(message).toContain("PORT")
    }))

  it.effect("REQUIRE_AUTH=true without API_KEYS fails naming API_KEYS", () =>
    Effect.gen(function*() {
      expect(yield* loadError({ REQUIRE_AUTH: "true" })).toContain("API_KEYS")
      expect(yield* loadError({ REQUIRE_AUTH: "yes", API_KEYS: " , " })).toContain("API_KEYS")
    }))

  it.effect("REQUIRE_AUTH with a value that is not a boolean fails naming REQUIRE_AUTH", () =>
    Effect.gen(function*() {
      expect(yield* loadError({ REQUIRE_AUTH: "maybe" })).toContain("REQUIRE_AUTH")
    }))

  it.effect("API_KEYS=\"a, b\" gives two trimmed keys, kept redacted", () =>
    Effect.gen(function*() {
      const config = yield* load({ API_KEYS: "a, b" })
      expect(config.apiKeys).toHaveLength(2)
      expect(config.apiKeys.map(Redacted.value)).toEqual(["a", "b"])
    }))

  it.effect("CLAUDE_PERMISSION_MODE=bogus fails naming it", () =>
    Effect.gen(function*() {
      expect(yield* loadError({ CLAUDE_PERMISSION_MODE: "bogus" })).toContain("CLAUDE_PERMISSION_MODE")
    }))

  it.effect("TOOL_CALL_TIMEOUT_SECONDS past Claude Code's own day-long wait fails naming it", () =>
    Effect.gen(function*() {
      expect(yield* loadError({ TOOL_CALL_TIMEOUT_SECONDS: "86001" })).toContain("TOOL_CALL_TIMEOUT_SECONDS")
      expect(yield* load({ TOOL_CALL_TIMEOUT_SECONDS: "86000", CLIENT_TOOLS_KEEP_BUILTINS: "true" })).toMatchObject({
        toolCallTimeoutSeconds: 86000,
        clientToolsKeepBuiltins: true
      })
    }))

  it.effect("a non-positive MAX_CONCURRENT_TURNS fails naming it", () =>
    Effect.gen(function*() {
      expect(yield* loadError({ MAX_CONCURRENT_TURNS: "0" })).toContain("MAX_CONCURRENT_TURNS")
    }))

  it.effect("the body limit, allowed hosts and the wrong-key limit: defaults, values, bad values", () =>
    Effect.gen(function*() {
      expect(yield* load({})).toMatchObject({
        maxRequestBodyBytes: 32 * 1024 * 1024,
        allowedHosts: [],
        authFailureLimit: 10,
        authFailureWindowSeconds: 60
      })
      expect(
        yield* load({
          MAX_REQUEST_BODY_MB: "0.5",
          ALLOWED_HOSTS: "gateway.lan, [fd00::1]:8000,*",
          AUTH_FAILURE_LIMIT: "0",
          AUTH_FAILURE_WINDOW_SECONDS: "300"
        })
      ).toMatchObject({
        maxRequestBodyBytes: 512 * 1024,
        allowedHosts: ["gateway.lan", "[fd00::1]:8000", "*"],
        authFailureLimit: 0,
        authFailureWindowSeconds: 300
      })
      expect(yield* loadError({ MAX_REQUEST_BODY_MB: "0" })).toContain("MAX_REQUEST_BODY_MB")
      expect(yield* loadError({ MAX_REQUEST_BODY_MB: "lots" })).toContain("MAX_REQUEST_BODY_MB")
      expect(yield* loadError({ ALLOWED_HOSTS: "http://gateway.lan" })).toContain("ALLOWED_HOSTS")
      expect(yield* loadError({ ALLOWED_HOSTS: "gateway.lan/x" })).toContain("ALLOWED_HOSTS")
      expect(yield* loadError({ AUTH_FAILURE_WINDOW_SECONDS: "0" })).toContain("AUTH_FAILURE_WINDOW_SECONDS")
    }))
})

describe("AppConfig.layerWith", () => {
  it.effect("starts from the defaults and applies the overrides", () =>
    Effect.gen(function*() {
      const config = yield* AppConfig
      expect(config.port).toBe(8000)
      expect(config.modelsPath).toBe("/tmp/models.json")
      expect(config.requireAuth).toBe(false)
    }).pipe(Effect.provide(AppConfig.layerWith({ modelsPath: "/tmp/models.json" }))))
})
