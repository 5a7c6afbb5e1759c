/**
 * `/v1/models`, `/v1/models/{id}` and `/v1/models/capabilities` through the official
 * openai SDK (and `fetch` for raw envelopes), against the full gateway.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Gateway, startGateway, tempDirectory } from "../support/Gateway.js"

const expectedIds = [
  "claude-opus-4-6-20260205",
  "claude-opus-4-5-20251101",
  "claude-sonnet-4-5-20250929",
  "claude-haiku-4-5-20251001"
]

interface ModelWithExtensions extends OpenAI.Models.Model {
  readonly name?: string
  readonly aliases?: ReadonlyArray<string>
  readonly fallbacks?: ReadonlyArray<string>
}

describe("models endpoints", () => {
  let gateway: Gateway
  let client: OpenAI

  beforeAll(async () => {
    gateway = await startGateway()
    client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "unused", maxRetries: 0 })
  })
  afterAll(async () => {
    await gateway?.close()
  })

  it("lists the four configured models in file order, with aliases and fallbacks", async () => {
    const page = await client.models.list()
    const models = page.data as Array<ModelWithExtensions>
    expect(models.map((model) => model.id)).toEqual(expectedIds)
    for (const model of models) {
      expect(model.object).toBe("model")
      expect(model.owned_by).toBe("anthropic")
      expect(typeof model.created).toBe("number")
      expect(Array.isArray(model.aliases)).toBe(true)
      expect(Array.isArray(model.fallbacks)).toBe(true)
    }
    const opus = models[0]!
    expect(opus.aliases).toEqual(["opus", "claude-opus-latest", "claude-opus-4-6"])
    expect(opus.fallbacks).toEqual(["claude-opus-4-5-20251101"])
    expect(opus.created).toBe(Date.UTC(2026, 1, 5) / 1000)
    expect(models[1]!.aliases).toEqual(["claude-opus-4-5", "claude-opus-4-5-latest"])
    expect(models[1]!.fallbacks).toEqual([])
    expect(models[2]!.aliases).toEqual(["sonnet", "claude-sonnet-4-5"])
    expect(models[3]!.aliases).toEqual(["haiku", "claude-haiku-4-5"])
  })

  it("retrieves a model by alias", async () => {
    const model = (await client.models.retrieve("opus")) as ModelWithExtensions
    expect(model.id).toBe("claude-opus-4-6-20260205")
    expect(model.object).toBe("model")
    expect(model.name).toBe("Claude Opus 4.6")
    expect(model.fallbacks).toEqual(["claude-opus-4-5-20251101"])
  })

  it("retrieves a model by its full id", async () => {
    const model = await client.models.retrieve("claude-haiku-4-5-20251001")
    expect(model.id).toBe("claude-haiku-4-5-20251001")
    expect(model.owned_by).toBe("anthropic")
  })

  it("answers an unknown model with 404 model_not_found", async () => {
    const error = await client.models.retrieve("gpt-nope").then(
      () => null,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404)
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found")

    const response = await fetch(`${gateway.baseURL}/models/gpt-nope`)
    expect(response.status).toBe(404)
    expect(response.headers.get("content-type")).toMatch(/application\/json/)
    const body = await response.json()
    expect(body).toEqual({
      error: {
        message: expect.stringContaining("gpt-nope"),
        type: "invalid_request_error",
        param: "model",
        code: "model_not_found"
      }
    })
  })

  it("lists capabilities with pricing and feature flags", async () => {
    const response = await fetch(`${gateway.baseURL}/models/capabilities`)
    expect(response.status).toBe(200)
    const body = (await response.json()) as {
      object: string
      data: Array<Record<string, any>>
    }
    expect(body.object).toBe("list")
    expect(body.data.map((entry) => entry.id)).toEqual(expectedIds)
    const opus = body.data[0]!
    expect(opus).toMatchObject({
      id: "claude-opus-4-6-20260205",
      name: "Claude Opus 4.6",
      max_tokens: 65536,
      supports_streaming: true,
      supports_tools: true,
      pricing: { input_cost_per_1k: 0.005, output_cost_per_1k: 0.025 },
      aliases: ["opus", "claude-opus-latest", "claude-opus-4-6"],
      fallbacks: ["claude-opus-4-5-20251101"]
    })
    expect(body.data[3]!.pricing).toEqual({ input_cost_per_1k: 0.001, output_cost_per_1k: 0.005 })
    for (const entry of body.data) {
      expect(typeof entry.supports_images).toBe("boolean")
      expect(typeof entry.description).toBe("string")
    }
  })
})

describe("models file override", () => {
  let gateway: Gateway
  let directory: string

  beforeAll(async () => {
    directory = tempDirectory("cca-models-")
    const modelsPath = NodePath.join(directory, "models.json")
    NodeFs.writeFileSync(
      modelsPath,
      JSON.stringify({
        aliases: { solo: "claude-solo-1-20250101" },
        models: [{ id: "claude-solo-1-20250101", name: "Solo", description: "The only one" }]
      })
    )
    gateway = await startGateway({ modelsPath })
  })
  afterAll(async () => {
    await gateway?.close()
    NodeFs.rmSync(directory, { recursive: true, force: true })
  })

  it("lists only the models of the configured file", async () => {
    const client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "unused", maxRetries: 0 })
    const page = await client.models.list()
    expect(page.data.map((model) => model.id)).toEqual(["claude-solo-1-20250101"])
    const solo = page.data[0] as ModelWithExtensions
    expect(solo.aliases).toEqual(["solo"])
    expect(solo.fallbacks).toEqual([])
    expect((await client.models.retrieve("solo")).id).toBe("claude-solo-1-20250101")
    await expect(client.models.retrieve("opus")).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })
})
