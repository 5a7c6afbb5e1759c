/**
 * The checked-in contracts under `schemas/` are exactly what the code generates. When this
 * fails, run `make schemas` (or `npm run schemas`) and commit the result.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { describe, expect, it } from "vitest"
import { contracts, renderContract } from "../src/Contracts.js"

const directory = NodePath.resolve(import.meta.dirname, "..", "schemas")
const generated = contracts()

/** The first differing line, to make a drift readable. */
const firstDifference = (expected: string, actual: string): string => {
  const a = expected.split("\n")
  const b = actual.split("\n")
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}: generated ${JSON.stringify(a[i])}, checked in ${JSON.stringify(b[i])}`
  }
  return "no line differs"
}

describe("checked-in contracts", () => {
  it("generates the OpenAPI document and the event and models schemas", () => {
    expect(Object.keys(generated).sort()).toEqual(
      ["models.schema.json", "openapi.json", "session-event.schema.json", "stored-event.schema.json"]
    )
  })

  it.each(Object.keys(generated))("schemas/%s is up to date", (name) => {
    const path = NodePath.join(directory, name)
    if (!NodeFs.existsSync(path)) {
      expect.fail(`schemas/${name} is missing: run \`make schemas\` and commit the result`)
    }
    const expected = renderContract(generated[name])
    const actual = NodeFs.readFileSync(path, "utf8")
    if (actual !== expected) {
      expect.fail(
        `schemas/${name} is out of date (${
          firstDifference(expected, actual)
        }): run \`make schemas\` and commit the result`
      )
    }
  })

  it("has no stale files that the generator no longer produces", () => {
    const stale = NodeFs.readdirSync(directory).filter((name) => !(name in generated))
    if (stale.length > 0) {
      expect.fail(
        `schemas/ holds files the generator does not produce: ${stale.join(", ")}; delete them and run \`make schemas\``
      )
    }
  })

  it("renders with two-space indentation and a final newline", () => {
    expect(renderContract({ a: [1] })).toBe("{\n  \"a\": [\n    1\n  ]\n}\n")
  })
})
