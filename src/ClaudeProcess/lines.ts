/**
 * Splitting the CLI's stdout into lines as its bytes arrive: a chunk may end in the middle
 * of a line (or of a multi-byte character), which is kept until the rest comes.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder()
  private partial = ""

  /** The complete, non-blank lines this chunk finishes, in order. */
  push(bytes: Uint8Array): Array<string> {
    const text = this.partial + this.decoder.decode(bytes, { stream: true })
    const parts = text.split("\n")
    this.partial = parts.pop()!
    return parts.flatMap(nonBlank)
  }

  /** The last line, when the stream ended without a newline after it. */
  end(): Array<string> {
    const rest = this.partial + this.decoder.decode()
    this.partial = ""
    return nonBlank(rest)
  }
}

const nonBlank = (line: string): Array<string> => {
  const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line
  return trimmed.trim().length > 0 ? [trimmed] : []
}
