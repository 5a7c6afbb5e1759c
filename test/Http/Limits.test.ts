/**
 * The bounds on request strings: the model names clients send pass, anything that could
 * become a stray CLI argument or an oversized record does not.
 */
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Id, Metadata, ModelName } from "../../src/Http/Limits.js"

const valid = <A, I>(schema: Schema.Schema<A, I>) => (value: unknown) =>
  Either.isRight(Schema.decodeUnknownEither(schema)(value))

describe("ModelName", () => {
  it.each([
    "sonnet",
    "claude-opus-4-8[1m]",
    "claude-sonnet-4-5-20250929",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-3-5-sonnet@20240620",
    "",
    "m".repeat(256)
  ])("takes %s", (model) => {
    expect(valid(ModelName)(model)).toBe(true)
  })

  it.each(["-p", "--model", "son net", "so\nnet", "m".repeat(257), "modèle", "a;b"])("refuses %s", (model) => {
    expect(valid(ModelName)(model)).toBe(false)
  })
})

describe("Id", () => {
  it("takes the gateway's ids and refuses paths, spaces and long values", () => {
    for (const id of ["0b0c2f0e-6e4b-4a7b-9f0e-2c1d3e4f5a6b", "resp_0123abcd", ""]) expect(valid(Id)(id)).toBe(true)
    for (const id of ["../etc", "a b", "a\r\nb", "i".repeat(129)]) expect(valid(Id)(id)).toBe(false)
  })
})

describe("Metadata", () => {
  it("holds to OpenAI's bounds: 16 pairs, keys up to 64 characters, values up to 512", () => {
    const pairs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]))
    expect(valid(Metadata)(pairs(16))).toBe(true)
    expect(valid(Metadata)(pairs(17))).toBe(false)
    expect(valid(Metadata)({ ["k".repeat(64)]: "v".repeat(512) })).toBe(true)
    expect(valid(Metadata)({ ["k".repeat(65)]: "v" })).toBe(false)
    expect(valid(Metadata)({ k: "v".repeat(513) })).toBe(false)
  })
})
