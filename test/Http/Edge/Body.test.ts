/**
 * What the edge refuses in a parsed body: the first place, in document order, where it nests
 * too deep or where a string or a key holds a NUL character, with its path.
 */
import { describe, expect, it } from "vitest"
import { findHazard, maxJsonDepth } from "../../../src/Http/Edge/Body.js"

const nested = (levels: number): unknown => {
  let value: unknown = "leaf"
  for (let i = 0; i < levels; i++) value = [value]
  return value
}

describe("findHazard", () => {
  it("passes ordinary bodies", () => {
    expect(findHazard({ messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], n: 1, x: null }))
      .toBeNull()
    expect(findHazard(null)).toBeNull()
  })

  it("takes maxJsonDepth levels and refuses one more, at the container past the limit", () => {
    expect(maxJsonDepth).toBe(64)
    expect(findHazard({ a: nested(maxJsonDepth - 1) })).toBeNull()
    expect(findHazard({ a: nested(maxJsonDepth) })).toEqual({
      path: ["a", ...Array.from({ length: maxJsonDepth - 1 }, () => 0)],
      problem: "depth"
    })
  })

  it("walks 100 000 levels without recursion", () => {
    const deep = JSON.parse("[".repeat(100_000) + "]".repeat(100_000)) as unknown
    expect(findHazard(deep)?.problem).toBe("depth")
  })

  it("finds a NUL in a string value or in a key, the first in document order", () => {
    expect(findHazard({ messages: [{ content: "ok" }, { content: "a\u0000" }], model: "\u0000" })).toEqual({
      path: ["messages", 1, "content"],
      problem: "nul"
    })
    expect(findHazard({ metadata: { "k\u0000": "v" } })).toEqual({ path: ["metadata", "k\u0000"], problem: "nul" })
    expect(findHazard("\u0000")).toEqual({ path: [], problem: "nul" })
  })
})
