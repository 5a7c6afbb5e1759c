/**
 * LineSplitter: stdout bytes to complete lines, across chunk boundaries, split characters,
 * blank lines, CRLF and a last line without a newline.
 */
import { describe, expect, it } from "vitest"
import { LineSplitter } from "../../src/ClaudeProcess/lines.js"

const bytes = (text: string) => new TextEncoder().encode(text)

describe("LineSplitter", () => {
  it("keeps a line split across chunks until its newline arrives", () => {
    const lines = new LineSplitter()
    expect(lines.push(bytes("{\"a\":1}\n{\"b\""))).toEqual(["{\"a\":1}"])
    expect(lines.push(bytes(":2}\n{\"c\":3}\n"))).toEqual(["{\"b\":2}", "{\"c\":3}"])
    expect(lines.end()).toEqual([])
  })

  it("joins a multi-byte character split between chunks", () => {
    const encoded = bytes("héllo ✓\n")
    const lines = new LineSplitter()
    // Cut inside "é" and inside "✓".
    expect(lines.push(encoded.slice(0, 2))).toEqual([])
    expect(lines.push(encoded.slice(2, 8))).toEqual([])
    expect(lines.push(encoded.slice(8))).toEqual(["héllo ✓"])
  })

  it("drops blank lines, strips a CR before the newline, and returns a last line without newline at the end", () => {
    const lines = new LineSplitter()
    expect(lines.push(bytes("one\r\n\n   \ntwo\nthree"))).toEqual(["one", "two"])
    expect(lines.end()).toEqual(["three"])
    expect(lines.end()).toEqual([])
  })
})
