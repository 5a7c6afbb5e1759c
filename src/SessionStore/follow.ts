/**
 * Live tails across gateways sharing one Postgres database. Every append there notifies one
 * channel (`changes.ts`); each store listens on it over a connection of its own and, for a
 * stream that has readers in this process and a sequence beyond what they were handed, reads
 * the missing rows and publishes them (one read at a time per stream: notifications that come
 * meanwhile make one more). Its own appends are published in-process and not read back. A lost
 * connection is made again on a schedule, and then every followed stream is read again, since
 * notifications sent meanwhile are gone.
 */
import type { PgClient } from "@effect/sql-pg"
import { SqlError } from "@effect/sql/SqlError"
import { Deferred, Duration, Effect, Exit, FiberSet, Queue, Redacted, Schedule, type Scope } from "effect"
import * as Pg from "pg"
import type { StoreError } from "../Domain/Errors.js"
import type { StoredEvent } from "../Domain/SessionEvent.js"
import { type Change, changesChannel, decodeChange } from "./changes.js"
import { reasonOf } from "./dialect.js"
import type { LiveReaders } from "./live.js"

export interface FollowOptions {
  /** The database, as the store's pool reaches it. */
  readonly config: PgClient.PgClientConfig
  /** This store instance, as its notifications name it. */
  readonly origin: string
  /** The store's live readers, to which what is read is published. */
  readonly live: LiveReaders<StoredEvent>
  /** The store's own queries. */
  readonly read: (streamId: string, options: { readonly after: number }) => Effect.Effect<
    ReadonlyArray<StoredEvent>,
    StoreError
  >
  readonly lastSequence: (streamId: string) => Effect.Effect<number, StoreError>
}

/** Between attempts to connect, or to read a stream again: 100 ms doubling up to 5 s. */
const retrySchedule = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

/** How often the idle connection is checked (a peer gone without a word shows no other way), and how long a check may take. */
const checkEvery = Duration.seconds(30)
const checkWithin = Duration.seconds(10)

/** Where a read for a stream starts: after a sequence, or at its newest row (nothing known). */
type Floor = number | "newest"

const lower = (a: Floor, b: Floor): Floor => (a === "newest" ? b : b === "newest" ? a : Math.min(a, b))

/** Follows the other writers' appends until the scope closes (SQLite has none: this is Postgres only). */
export const followOtherWriters = (options: FollowOptions): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { config, live, origin } = options
    const fibers = yield* FiberSet.make<void>()
    /** Streams being read, with the floor of what was asked meanwhile (undefined: nothing more). */
    const reading = new Map<string, { wanted: Floor | undefined }>()

    /** What was asked for `streamId` since the last read; when nothing, the stream is no longer being read. */
    const nextFloor = (streamId: string, request: { wanted: Floor | undefined }) =>
      Effect.sync(() => {
        const wanted = request.wanted
        request.wanted = undefined
        if (wanted === undefined && reading.get(streamId) === request) reading.delete(streamId)
        return wanted
      })

    /** Reads `streamId` after what its readers were handed (or `floor`, when higher) and publishes it. */
    const readOnce = (streamId: string, floor: Floor) =>
      Effect.gen(function*() {
        const delivered = live.delivered(streamId)
        if (delivered === undefined) return
        const after = floor !== "newest"
          ? Math.max(delivered, floor)
          : delivered > 0
          ? delivered
          : Math.max(0, (yield* options.lastSequence(streamId)) - 1)
        yield* live.publish(streamId, yield* options.read(streamId, { after }))
      }).pipe(
        Effect.retry({ schedule: retrySchedule, while: () => live.delivered(streamId) !== undefined })
      )

    /** Reads `streamId` from `floor` in a fiber of its own, or, when one is reading it already, once more after that. */
    const catchUp = (streamId: string, floor: Floor) =>
      Effect.suspend(() => {
        const current = reading.get(streamId)
        if (current !== undefined) {
          current.wanted = current.wanted === undefined ? floor : lower(current.wanted, floor)
          return Effect.void
        }
        const request: { wanted: Floor | undefined } = { wanted: floor }
        reading.set(streamId, request)
        const loop = Effect.gen(function*() {
          let wanted = yield* nextFloor(streamId, request)
          while (wanted !== undefined) {
            // A failed read is given up only once the stream has no readers left.
            yield* Effect.ignore(readOnce(streamId, wanted))
            wanted = yield* nextFloor(streamId, request)
          }
        })
        const forget = Effect.sync(() => reading.get(streamId) === request && reading.delete(streamId))
        return Effect.asVoid(FiberSet.run(fibers, Effect.ensuring(loop, forget)))
      })

    /** Every followed stream, from what its readers were handed (after a new connection). */
    const readAllAgain = Effect.suspend(() =>
      Effect.forEach(live.followed(), (streamId) => catchUp(streamId, "newest"), { discard: true })
    )

    /** Another writer's append to a followed stream, beyond what its readers were handed: read it. */
    const onChange = (change: Change | null) => {
      if (change === null || change.origin === origin) return Effect.void
      if (change.streamId === null) return readAllAgain
      const delivered = live.delivered(change.streamId)
      if (delivered === undefined || change.last <= delivered) return Effect.void
      return catchUp(change.streamId, change.from - 1)
    }

    const payloads = yield* Queue.unbounded<string>()
    yield* Queue.takeBetween(payloads, 1, Number.MAX_SAFE_INTEGER).pipe(
      Effect.flatMap((batch) => Effect.forEach(batch, (payload) => onChange(decodeChange(payload)), { discard: true })),
      Effect.forever,
      Effect.forkScoped
    )

    /** Whether the loss of the connection (or the failure to make it) was reported and not yet followed by a connection. */
    let reported = false
    /** A warning once per loss; each failed attempt after it at debug level. */
    const report = (message: string, error: unknown) =>
      Effect.suspend(() => {
        if (reported) return Effect.logDebug("still cannot listen for other gateways' appends", error)
        reported = true
        return Effect.logWarning(message, error)
      })

    const session = Effect.gen(function*() {
      const { client, lost } = yield* listen(config, payloads).pipe(
        Effect.tapError((error) =>
          report(
            "cannot listen for other gateways' appends; live tails follow only this gateway's until then",
            reasonOf(error)
          )
        ),
        Effect.retry(retrySchedule)
      )
      if (reported) {
        reported = false
        yield* Effect.logInfo("listening for other gateways' appends again")
      }
      yield* readAllAgain
      const error = yield* Effect.raceFirst(
        Deferred.await(lost).pipe(Effect.flip),
        Effect.tryPromise({ try: () => client.query("SELECT 1"), catch: connectionError }).pipe(
          Effect.timeoutFail({
            duration: checkWithin,
            onTimeout: () => new SqlError({ message: "it does not answer" })
          }),
          Effect.delay(checkEvery),
          Effect.forever,
          Effect.flip
        )
      )
      yield* report("lost the connection that listens for other gateways' appends; reconnecting", reasonOf(error))
    })
    yield* Effect.forkScoped(Effect.forever(Effect.scoped(session)))
  })

/**
 * A connection of its own (the pool's are lent per statement) listening on `changesChannel`,
 * its notifications' payloads put in `payloads`, and `lost` failed when it drops. Closed with
 * the scope.
 */
const listen = (config: PgClient.PgClientConfig, payloads: Queue.Enqueue<string>) =>
  Effect.gen(function*() {
    const lost = yield* Deferred.make<never, SqlError>()
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async (signal) => {
          const client = new Pg.Client(connectionOf(config))
          // Given up (the scope closing while the server does not answer): closed at once.
          const close = () => void client.end().catch(() => undefined)
          signal.addEventListener("abort", close)
          // Kept for the client's life: an error event with no listener would end the process.
          client.on("error", (error) => Deferred.unsafeDone(lost, Exit.fail(connectionError(error))))
          client.on("end", () => Deferred.unsafeDone(lost, Exit.fail(new SqlError({ message: "it was closed" }))))
          client.on("notification", (message) => {
            if (message.channel === changesChannel && message.payload !== undefined) {
              payloads.unsafeOffer(message.payload)
            }
          })
          try {
            await client.connect()
            await client.query(`LISTEN ${changesChannel}`)
            return client
          } catch (error) {
            close()
            throw error
          }
        },
        catch: connectionError
      }).pipe(Effect.interruptible),
      (client) => Effect.promise(() => client.end().catch(() => undefined)).pipe(Effect.timeoutOption("1 second"))
    )
    return { client, lost }
  })

/** A failure of the listening connection, with the driver's error as its cause (see `reasonOf`). */
const connectionError = (cause: unknown) =>
  new SqlError({ cause, message: cause instanceof Error ? cause.message : String(cause) })

/** The listening connection's settings: the pool's database, named so that operators can tell it apart. */
const connectionOf = (config: PgClient.PgClientConfig): Pg.ClientConfig => ({
  connectionString: config.url === undefined ? undefined : Redacted.value(config.url),
  host: config.host,
  port: config.port,
  database: config.database,
  user: config.username,
  password: config.password === undefined ? undefined : Redacted.value(config.password),
  ssl: config.ssl,
  application_name: `${config.applicationName ?? "claude-code-api"} listen`,
  connectionTimeoutMillis: 10_000,
  keepAlive: true
})
