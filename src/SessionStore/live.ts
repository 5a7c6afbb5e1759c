/**
 * The log's live readers, by stream. An append is handed to the readers of its own stream
 * only, so publishing costs the same however many other streams are being followed (one
 * shared channel would wake every reader of every stream on every append).
 */
import { Effect, Queue, type Scope } from "effect"

export class LiveReaders<A> {
  private readonly byStream = new Map<string, Set<Queue.Enqueue<A>>>()

  /** Hands `items` to every current reader of `streamId`, in order, at once. */
  publish(streamId: string, items: ReadonlyArray<A>): Effect.Effect<void> {
    return Effect.sync(() => {
      const readers = this.byStream.get(streamId)
      if (readers === undefined) return
      for (const reader of readers) {
        for (const item of items) reader.unsafeOffer(item)
      }
    })
  }

  /** A queue that receives what is published to `streamId` from now on, until the scope closes. */
  subscribe(streamId: string): Effect.Effect<Queue.Dequeue<A>, never, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.tap(Queue.unbounded<A>(), (queue) =>
        Effect.sync(() => {
          const readers = this.byStream.get(streamId) ?? new Set()
          readers.add(queue)
          this.byStream.set(streamId, readers)
        })),
      (queue) =>
        Effect.zipRight(
          Effect.sync(() => {
            const readers = this.byStream.get(streamId)
            readers?.delete(queue)
            if (readers?.size === 0) this.byStream.delete(streamId)
          }),
          Queue.shutdown(queue)
        )
    )
  }
}
