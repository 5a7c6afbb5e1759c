/**
 * The log's live readers, by stream. An append is handed to the readers of its own stream
 * only, so publishing costs the same however many other streams are being followed (one
 * shared channel would wake every reader of every stream on every append). Each followed
 * stream remembers the last sequence handed over, so that what is published twice (this
 * process's append, and the same rows read back after another gateway's notification) reaches
 * its readers once.
 */
import { Effect, Queue, type Scope } from "effect"

/** A followed stream: its readers, and the last sequence handed to them (0 before any). */
interface Followed<A> {
  readonly readers: Set<Queue.Enqueue<A>>
  delivered: number
}

export class LiveReaders<A extends { readonly sequence: number }> {
  private readonly byStream = new Map<string, Followed<A>>()

  /**
   * Hands `items` (in sequence order) to every current reader of `streamId`, at once, leaving
   * out those at or below the last sequence already handed over.
   */
  publish(streamId: string, items: ReadonlyArray<A>): Effect.Effect<void> {
    return Effect.sync(() => {
      const followed = this.byStream.get(streamId)
      if (followed === undefined) return
      for (const item of items) {
        if (item.sequence <= followed.delivered) continue
        followed.delivered = item.sequence
        for (const reader of followed.readers) reader.unsafeOffer(item)
      }
    })
  }

  /** The last sequence handed to `streamId`'s readers (0 before any), or undefined when it has none. */
  delivered(streamId: string): number | undefined {
    return this.byStream.get(streamId)?.delivered
  }

  /** The streams that have readers now. */
  followed(): ReadonlyArray<string> {
    return [...this.byStream.keys()]
  }

  /** A queue that receives what is published to `streamId` from now on, until the scope closes. */
  subscribe(streamId: string): Effect.Effect<Queue.Dequeue<A>, never, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.tap(Queue.unbounded<A>(), (queue) =>
        Effect.sync(() => {
          const followed = this.byStream.get(streamId) ?? { readers: new Set(), delivered: 0 }
          followed.readers.add(queue)
          this.byStream.set(streamId, followed)
        })),
      (queue) =>
        Effect.zipRight(
          Effect.sync(() => {
            const followed = this.byStream.get(streamId)
            followed?.readers.delete(queue)
            if (followed?.readers.size === 0) this.byStream.delete(streamId)
          }),
          Queue.shutdown(queue)
        )
    )
  }
}
