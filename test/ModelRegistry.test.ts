/**
 * ModelRegistry over the real `config/models.json` and small in-memory files: aliases,
 * pass-through of unknown names, the CLI default, fallback chains, and startup failures.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { AppConfig } from "../src/AppConfig.js"
import { ModelsFile } from "../src/Domain/Model.js"
import { makeModelRegistry, ModelRegistry, ModelsConfigError } from "../src/ModelRegistry.js"

const MODELS_PATH = NodePath.join(import.meta.dirname, "..", "config", "models.json")

const realFile = Schema.decodeUnknownSync(ModelsFile)(JSON.parse(NodeFs.readFileSync(MODELS_PATH, "utf8")))
const registry = makeModelRegistry(realFile)

const OPUS_46 = "claude-opus-4-6-20260205"
const OPUS_45 = "claude-opus-4-5-20251101"
const SONNET_45 = "claude-sonnet-4-5-20250929"
const HAIKU_45 = "claude-haiku-4-5-20251001"

const fileOf = (encoded: typeof ModelsFile.Encoded) => Schema.decodeUnknownSync(ModelsFile)(encoded)

const scratchDirs: Array<string> = []
const scratch = (): string => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "models-"))
  scratchDirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of scratchDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
})

describe("makeModelRegistry over config/models.json", () => {
  it("lists the four models in file order", () => {
    expect(registry.list.map((model) => model.id)).toEqual([OPUS_46, OPUS_45, SONNET_45, HAIKU_45])
    expect(registry.list[0]).toMatchObject({ name: "Claude Opus 4.6", supports_streaming: true, supports_tools: true })
  })

  it("resolves opus, claude-opus-latest and claude-opus-4-6 to Opus 4.6 with Opus 4.5 as fallback", () => {
    for (const alias of ["opus", "claude-opus-latest", "claude-opus-4-6"]) {
      const resolved = registry.resolve(alias)
      expect(resolved.requested).toBe(alias)
      expect(resolved.model).toBe(OPUS_46)
      expect(resolved.fallbacks).toEqual([OPUS_45])
      expect(resolved.info?.id).toBe(OPUS_46)
    }
  })

  it("resolves the other aliases to their ids", () => {
    expect(registry.resolve("sonnet").model).toBe(SONNET_45)
    expect(registry.resolve("haiku").model).toBe(HAIKU_45)
    expect(registry.resolve("claude-opus-4-5").model).toBe(OPUS_45)
    expect(registry.resolve("claude-sonnet-4-5").model).toBe(SONNET_45)
  })

  it("passes full ids through with their registry entry", () => {
    for (const id of [OPUS_46, OPUS_45, SONNET_45, HAIKU_45]) {
      const resolved = registry.resolve(id)
      expect(resolved.model).toBe(id)
      expect(resolved.info?.id).toBe(id)
    }
    expect(registry.resolve(OPUS_46).fallbacks).toEqual([OPUS_45])
    expect(registry.resolve(SONNET_45).fallbacks).toEqual([])
  })

  it("passes unknown names through unchanged, without fallbacks or info", () => {
    for (const name of ["gpt-4o", "claude-sonnet-9", "bogus-model"]) {
      expect(registry.resolve(name)).toEqual({ requested: name, model: name, fallbacks: [], info: null })
    }
  })

  it("an absent model means the CLI's default (default_model is null)", () => {
    for (const requested of [undefined, null, "", "   "]) {
      const resolved = registry.resolve(requested)
      expect(resolved.model, JSON.stringify(requested)).toBeNull()
      expect(resolved.fallbacks).toEqual([])
      expect(resolved.info).toBeNull()
    }
    expect(registry.resolve(undefined).requested).toBeNull()
  })

  it("trims the requested name", () => {
    expect(registry.resolve("  opus ").model).toBe(OPUS_46)
  })

  it("get finds models by id or alias, aliasesOf lists the aliases of an id", () => {
    expect(Option.map(registry.get("sonnet"), (model) => model.id)).toEqual(Option.some(SONNET_45))
    expect(Option.map(registry.get(HAIKU_45), (model) => model.id)).toEqual(Option.some(HAIKU_45))
    expect(Option.isNone(registry.get("gpt-4o"))).toBe(true)
    expect([...registry.aliasesOf(OPUS_46)].sort()).toEqual(["claude-opus-4-6", "claude-opus-latest", "opus"])
    expect(registry.aliasesOf("gpt-4o")).toEqual([])
  })
})

describe("makeModelRegistry fallback chains and defaults", () => {
  const model = (id: string) => ({ id, name: id })

  it("follows chains transitively, without cycles (a → b → c → a)", () => {
    const cyclic = makeModelRegistry(fileOf({
      models: [model("a"), model("b"), model("c")],
      fallbacks: { a: ["b"], b: ["c"], c: ["a"] }
    }))
    expect(cyclic.fallbacksOf("a")).toEqual(["b", "c"])
    expect(cyclic.fallbacksOf("b")).toEqual(["c", "a"])
    expect(cyclic.fallbacksOf("c")).toEqual(["a", "b"])
    expect(cyclic.resolve("a").fallbacks).toEqual(["b", "c"])
  })

  it("follows aliases in chains, drops duplicates and self references", () => {
    const file = makeModelRegistry(fileOf({
      aliases: { bee: "b", self: "a" },
      models: [model("a"), model("b"), model("c"), model("d")],
      fallbacks: { a: ["bee", "self", "c", "b"], b: ["d"], c: ["d"] }
    }))
    expect(file.fallbacksOf("a")).toEqual(["b", "c", "d"])
    expect(file.fallbacksOf("d")).toEqual([])
  })

  it("uses default_model for an absent model, through its alias", () => {
    const withDefault = makeModelRegistry(fileOf({
      default_model: "fast",
      aliases: { fast: "h" },
      models: [model("h"), model("o")],
      fallbacks: { h: ["o"] }
    }))
    expect(withDefault.resolve(undefined)).toMatchObject({ requested: null, model: "h", fallbacks: ["o"] })
    expect(withDefault.resolve(undefined).info?.id).toBe("h")
    expect(withDefault.resolve("o").model).toBe("o")
  })
})

describe("ModelRegistry.layer", () => {
  const layerFor = (modelsPath: string) =>
    ModelRegistry.layer.pipe(
      Layer.provide(AppConfig.layerWith({ modelsPath })),
      Layer.provide(NodeFileSystem.layer)
    )

  it.effect("loads config/models.json", () =>
    Effect.gen(function*() {
      const loaded = yield* ModelRegistry
      expect(loaded.list).toHaveLength(4)
      expect(loaded.resolve("opus").model).toBe(OPUS_46)
    }).pipe(Effect.provide(layerFor(MODELS_PATH))))

  it.effect("fails with ModelsConfigError when the file is missing", () =>
    Effect.gen(function*() {
      const missing = NodePath.join(scratch(), "nope.json")
      const error = yield* Effect.flip(Effect.provide(ModelRegistry, layerFor(missing)))
      expect(error).toBeInstanceOf(ModelsConfigError)
      expect(error).toMatchObject({ _tag: "ModelsConfigError", path: missing })
    }))

  it.effect("fails with ModelsConfigError when the file is not valid JSON or not a models file", () =>
    Effect.gen(function*() {
      const dir = scratch()
      const contents = [
        "{ not json",
        JSON.stringify({ models: [{ id: "", name: "x" }] }),
        JSON.stringify({ aliases: {} })
      ]
      for (const [index, text] of contents.entries()) {
        const path = NodePath.join(dir, `bad-${index}.json`)
        NodeFs.writeFileSync(path, text)
        const error = yield* Effect.flip(Effect.provide(ModelRegistry, layerFor(path)))
        expect(error, text).toBeInstanceOf(ModelsConfigError)
        expect(error.path).toBe(path)
        expect(error.message.length).toBeGreaterThan(0)
      }
    }))
})
