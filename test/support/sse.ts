/**
 * An SSE body read frame by frame (a frame is the text between blank lines), as a test needs it:
 * the next frame, the first that satisfies a predicate, or the rest, optionally bounded.
 */
export class SseFrames {
  /** Every frame read so far, in order. */
  readonly frames: Array<string> = []
  /** The body ended (or broke). */
  ended = false
  /** A bounded read gave up on the stream (its bound passed) rather than seeing it end. */
  cutOff = false
  private buffer = ""
  private readonly reader: ReadableStreamDefaultReader<string>

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.pipeThrough(new TextDecoderStream()).getReader()
  }

  /** The next frame, or null at the end of the stream (or when it broke). */
  async next(): Promise<string | null> {
    for (;;) {
      const end = this.buffer.indexOf("\n\n")
      if (end !== -1) {
        const frame = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end + 2)
        this.frames.push(frame)
        return frame
      }
      if (this.ended) return null
      const chunk = await this.reader.read().catch(() => ({ done: true as const, value: undefined }))
      if (chunk.done) this.ended = true
      else this.buffer += chunk.value
    }
  }

  /**
   * Reads until a frame satisfies `predicate` (returned) or the stream ends (null); with
   * `timeoutMs`, the body is cancelled once it has passed (`cutOff`), which ends it.
   */
  async until(predicate: (frame: string) => boolean, timeoutMs?: number): Promise<string | null> {
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      this.cutOff = true
      void this.cancel()
    }, timeoutMs)
    try {
      for (;;) {
        const frame = await this.next()
        if (frame === null || predicate(frame)) return frame
      }
    } finally {
      clearTimeout(timer)
    }
  }

  /** Reads to the end of the stream, bounded by `timeoutMs`. */
  async rest(timeoutMs: number): Promise<void> {
    await this.until(() => false, timeoutMs)
  }

  cancel() {
    return this.reader.cancel().catch(() => undefined)
  }
}
