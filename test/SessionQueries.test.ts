/**
 * The read models of the event log over a real SQLite file and a real Postgres database, the
 * same on both: session summaries and their ordering, paging and project filter; token and cost
 * totals; finding a session by its conversation digest; unfinished turns; purging; stream ids.
 * Project streams (`project:<id>`) are not sessions and never show up as such.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { InternalFailure } from "../src/Domain/Errors.js"
import {
  ProjectCreated,
  ProjectDeleted,
  SessionClosed,
  SessionCreated,
  type SessionEvent,
  TextDelta,
  TurnAttached,
  TurnCancelled,
  TurnCompleted,
  TurnFailed,
  TurnStarted,
  type TurnUsage
} from "../src/Domain/SessionEvent.js"
import { SessionQueries } from "../src/SessionQueries.js"
import { SessionStore } from "../src/SessionStore.js"
import { freshLog, type LogDialect, logDialects } from "./support/LogDatabases.js"

const { dialects } = logDialects()

// ---------------------------------------------------------------------------
// Builders

const created = (projectId: string) => new SessionCreated({ projectId, cwd: `/root/${projectId}`, configDir: null })

const started = (turnId: string, text = "hi") =>
  new TurnStarted({
    turnId,
    messages: [{ role: "user", content: [{ _tag: "text", text }] }],
    systemPrompt: null,
    requestedModel: null,
    resolvedModel: null,
    fallbackModels: [],
    parameters: {}
  })

const usage = (
  inputTokens: number,
  outputTokens: number,
  cacheReadInputTokens: number,
  cacheCreationInputTokens: number
): TurnUsage => ({
  inputTokens,
  outputTokens,
  cacheReadInputTokens,
  cacheCreationInputTokens
})

const completed = (
  turnId: string,
  options: {
    readonly usage?: TurnUsage
    readonly costUsd?: number | null
    readonly model?: string
    readonly digest?: string | null
  } = {}
) =>
  new TurnCompleted({
    turnId,
    model: options.model ?? "claude-sonnet-4-5-20250929",
    cliSessionId: `cli-${turnId}`,
    stopReason: "end_turn",
    usage: options.usage ?? usage(100, 4, 30, 20),
    costUsd: options.costUsd === undefined ? 0.0123 : options.costUsd,
    durationMs: 10,
    numTurns: 1,
    conversationDigest: options.digest ?? null
  })

const failed = (turnId: string) => new TurnFailed({ turnId, error: new InternalFailure({ message: "boom" }) })

/** Appends after whatever the stream holds. */
const appendAll = (sessionId: string, events: ReadonlyArray<SessionEvent>) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const last = yield* store.lastSequence(sessionId)
    return yield* store.append(sessionId, last, events)
  })

/** Timestamps are milliseconds: keep appends that must be ordered apart. */
const tick = Effect.sleep("3 millis")

/** A session with one completed turn (default usage: prompt 150, completion 4, cached 30, cost 0.0123). */
const sessionWithTurn = (sessionId: string, projectId: string, turnId = `${sessionId}-t1`) =>
  appendAll(sessionId, [
    created(projectId),
    started(turnId),
    new TurnAttached({ turnId, model: "claude-sonnet-4-5-20250929", cliSessionId: `cli-${turnId}`, cliVersion: null }),
    new TextDelta({ turnId, text: "Echo" }),
    completed(turnId)
  ])

const idsOf = (sessions: ReadonlyArray<{ readonly sessionId: string }>) => sessions.map((session) => session.sessionId)

// ---------------------------------------------------------------------------

const contract = (dialect: LogDialect) =>
  describe(`SessionQueries (${dialect.name})`, () => {
    /** The log and its read models over a new, empty database. */
    const freshStore = () => freshLog(dialect)

    describe("SessionQueries.listSessions", () => {
      it.live("lists sessions most recently active first, pages them and counts them all", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          expect(yield* queries.listSessions({ owner: null, limit: 10, offset: 0 })).toEqual({ sessions: [], total: 0 })

          yield* sessionWithTurn("a", "p1")
          yield* tick
          yield* sessionWithTurn("b", "p2")
          yield* tick
          yield* sessionWithTurn("c", "p1")
          yield* tick
          // Activity on `a` makes it the most recent.
          yield* appendAll("a", [started("a-t2"), completed("a-t2")])

          const all = yield* queries.listSessions({ owner: null, limit: 10, offset: 0 })
          expect(idsOf(all.sessions)).toEqual(["a", "c", "b"])
          expect(all.total).toBe(3)

          const first = yield* queries.listSessions({ owner: null, limit: 2, offset: 0 })
          expect(idsOf(first.sessions)).toEqual(["a", "c"])
          expect(first.total).toBe(3)
          const second = yield* queries.listSessions({ owner: null, limit: 2, offset: 2 })
          expect(idsOf(second.sessions)).toEqual(["b"])
          expect(second.total).toBe(3)
          const single = yield* queries.listSessions({ owner: null, limit: 1, offset: 1 })
          expect(idsOf(single.sessions)).toEqual(["c"])
          expect(single.total).toBe(3)
        }).pipe(Effect.provide(freshStore())))

      it.live("still reports the total when the offset is past the last session", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* sessionWithTurn("a", "p1")
          yield* sessionWithTurn("b", "p1")
          const page = yield* queries.listSessions({ owner: null, limit: 10, offset: 5 })
          expect(page.sessions).toEqual([])
          expect(page.total).toBe(2)
          const filtered = yield* queries.listSessions({ owner: null, projectId: "p1", limit: 1, offset: 2 })
          expect(filtered.sessions).toEqual([])
          expect(filtered.total).toBe(2)
        }).pipe(Effect.provide(freshStore())))

      it.live("filters by project, with the total of that project", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* sessionWithTurn("a", "p1")
          yield* tick
          yield* sessionWithTurn("b", "p2")
          yield* tick
          yield* sessionWithTurn("c", "p1")

          const p1 = yield* queries.listSessions({ owner: null, projectId: "p1", limit: 10, offset: 0 })
          expect(idsOf(p1.sessions)).toEqual(["c", "a"])
          expect(p1.total).toBe(2)
          expect(p1.sessions.every((session) => session.projectId === "p1")).toBe(true)

          const p1Paged = yield* queries.listSessions({ owner: null, projectId: "p1", limit: 1, offset: 1 })
          expect(idsOf(p1Paged.sessions)).toEqual(["a"])
          expect(p1Paged.total).toBe(2)

          const p2 = yield* queries.listSessions({ owner: null, projectId: "p2", limit: 10, offset: 0 })
          expect(idsOf(p2.sessions)).toEqual(["b"])
          expect(p2.total).toBe(1)

          expect(yield* queries.listSessions({ owner: null, projectId: "nowhere", limit: 10, offset: 0 })).toEqual({
            sessions: [],
            total: 0
          })
        }).pipe(Effect.provide(freshStore())))

      it.live("never lists project streams", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* appendAll("project:p1", [
            new ProjectCreated({ projectId: "p1", name: "P1", description: null, path: "/root/p1" })
          ])
          yield* sessionWithTurn("a", "p1")
          yield* tick
          // The most recent stream of all is a project stream.
          yield* appendAll("project:p2", [
            new ProjectCreated({ projectId: "p2", name: "P2", description: null, path: "/root/p2" })
          ])

          const all = yield* queries.listSessions({ owner: null, limit: 10, offset: 0 })
          expect(idsOf(all.sessions)).toEqual(["a"])
          expect(all.total).toBe(1)
          expect(Option.isNone(yield* queries.sessionSummary("project:p1"))).toBe(true)
        }).pipe(Effect.provide(freshStore())))

      it.live("summarises a session from its events", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          const before = Date.now()
          yield* sessionWithTurn("a", "p1")
          const [summary] = (yield* queries.listSessions({ owner: null, limit: 10, offset: 0 })).sessions
          expect(summary).toEqual({
            sessionId: "a",
            owner: null,
            projectId: "p1",
            createdAt: expect.any(Number),
            updatedAt: expect.any(Number),
            closed: false,
            turns: 1,
            completedTurns: 1,
            promptTokens: 150,
            completionTokens: 4,
            cachedTokens: 30,
            costUsd: 0.0123,
            lastModel: "claude-sonnet-4-5-20250929",
            lastSequence: 5,
            title: null,
            model: null,
            systemPrompt: null,
            messageCount: 2
          })
          expect(summary!.createdAt).toBeGreaterThanOrEqual(before)
          expect(summary!.updatedAt).toBeGreaterThanOrEqual(summary!.createdAt)
          expect(summary!.updatedAt).toBeLessThanOrEqual(Date.now())
        }).pipe(Effect.provide(freshStore())))

      it.live("keeps each owner's sessions to that owner (lists, totals, digests), whatever their text holds", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          const owned = (owner: string | null, title: string) =>
            new SessionCreated({ projectId: "p1", cwd: "/root/p1", owner, title, systemPrompt: "nul \u0000 here" })
          yield* appendAll("k1", [owned("key-1", "one \u0000"), started("k1-t", "text with \u0000 in it")])
          yield* appendAll("k1", [completed("k1-t", { digest: "D" })])
          yield* appendAll("k2", [owned("key-2", "two"), started("k2-t"), completed("k2-t", { digest: "D" })])
          yield* appendAll("anon", [owned(null, "none"), started("n-t"), completed("n-t", { digest: "D" })])

          const mine = yield* queries.listSessions({ owner: "key-1", limit: 10, offset: 0 })
          expect(idsOf(mine.sessions)).toEqual(["k1"])
          expect(mine.total).toBe(1)
          // Postgres' text cannot hold a NUL: its summaries show U+FFFD instead.
          const nul = dialect.name === "Postgres" ? "\ufffd" : "\u0000"
          expect(mine.sessions[0]).toMatchObject({
            owner: "key-1",
            title: `one ${nul}`,
            systemPrompt: `nul ${nul} here`,
            messageCount: 2
          })
          expect(idsOf((yield* queries.listSessions({ owner: null, limit: 10, offset: 0 })).sessions)).toEqual(["anon"])
          expect(
            yield* queries.listSessions({ owner: "key-2", projectId: "p1", limit: 10, offset: 0 })
          ).toMatchObject({ total: 1, sessions: [{ sessionId: "k2" }] })
          expect(yield* queries.listSessions({ owner: "nobody", limit: 10, offset: 0 })).toEqual({
            sessions: [],
            total: 0
          })
          expect(yield* queries.totals("key-2")).toMatchObject({ sessions: 1, turns: 1, completedTurns: 1 })
          expect((yield* queries.totals("nobody")).sessions).toBe(0)
          expect(yield* queries.findByDigest("key-1", "p1", "D")).toEqual(Option.some("k1"))
          expect(yield* queries.findByDigest(null, "p1", "D")).toEqual(Option.some("anon"))
          expect(yield* queries.findByDigest("nobody", "p1", "D")).toEqual(Option.none())
        }).pipe(Effect.provide(freshStore())))
    })

    describe("SessionQueries.sessionSummary", () => {
      it.live("sums tokens and cost over completed turns only (prompt = input + cache read + cache creation)", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* appendAll("s", [
            created("p1"),
            started("t1"),
            new TextDelta({ turnId: "t1", text: "one" }),
            completed("t1", { usage: usage(100, 7, 30, 20), costUsd: 0.01, model: "model-a" }),
            // A failed and a cancelled turn count as turns, but add no tokens or cost.
            started("t2"),
            new TextDelta({ turnId: "t2", text: "partial" }),
            failed("t2"),
            started("t3"),
            new TurnCancelled({ turnId: "t3", reason: "client" }),
            // A completed turn without a cost.
            started("t4"),
            completed("t4", { usage: usage(10, 3, 5, 1), costUsd: null, model: "model-b" })
          ])
          const summary = Option.getOrThrow(yield* queries.sessionSummary("s"))
          expect(summary.sessionId).toBe("s")
          expect(summary.projectId).toBe("p1")
          expect(summary.turns).toBe(4)
          expect(summary.completedTurns).toBe(2)
          expect(summary.promptTokens).toBe(100 + 30 + 20 + 10 + 5 + 1)
          expect(summary.completionTokens).toBe(7 + 3)
          expect(summary.cachedTokens).toBe(30 + 5)
          expect(summary.costUsd).toBeCloseTo(0.01, 10)
          expect(summary.lastModel).toBe("model-b")
          expect(summary.lastSequence).toBe(11)
          expect(summary.closed).toBe(false)

          yield* appendAll("s", [new SessionClosed({ reason: "closed by client" })])
          const closed = Option.getOrThrow(yield* queries.sessionSummary("s"))
          expect(closed.closed).toBe(true)
          expect(closed.lastSequence).toBe(12)
          expect(closed.promptTokens).toBe(summary.promptTokens)
        }).pipe(Effect.provide(freshStore())))

      it.live("is zero for a session without completed turns, and None for an unknown one", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* appendAll("empty", [created("p1")])
          const summary = Option.getOrThrow(yield* queries.sessionSummary("empty"))
          expect(summary).toMatchObject({
            turns: 0,
            completedTurns: 0,
            promptTokens: 0,
            completionTokens: 0,
            cachedTokens: 0,
            costUsd: 0,
            lastModel: null,
            lastSequence: 1,
            closed: false
          })
          expect(Option.isNone(yield* queries.sessionSummary("missing"))).toBe(true)
        }).pipe(Effect.provide(freshStore())))
    })

    describe("SessionQueries.totals", () => {
      it.live("is all zero for an empty log", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          expect(yield* queries.totals(null)).toEqual({
            sessions: 0,
            closedSessions: 0,
            turns: 0,
            completedTurns: 0,
            failedTurns: 0,
            cancelledTurns: 0,
            promptTokens: 0,
            completionTokens: 0,
            costUsd: 0
          })
        }).pipe(Effect.provide(freshStore())))

      it.live("sums every session (not project streams), counting turns by their outcome", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* sessionWithTurn("a", "p1")
          yield* appendAll("a", [started("a-t2"), failed("a-t2"), new SessionClosed({ reason: "closed by client" })])
          yield* sessionWithTurn("b", "p2")
          yield* appendAll("b", [
            started("b-t2"),
            new TurnCancelled({ turnId: "b-t2", reason: "timeout" }),
            started("b-t3"),
            completed("b-t3", { usage: usage(1, 2, 3, 4), costUsd: 0.5 })
          ])
          yield* appendAll("c", [created("p1"), started("c-t1")])
          yield* appendAll("project:p1", [
            new ProjectCreated({ projectId: "p1", name: "P1", description: null, path: "/root/p1" }),
            new ProjectDeleted({ projectId: "p1", filesRemoved: false })
          ])

          const totals = yield* queries.totals(null)
          expect(totals).toEqual({
            sessions: 3,
            closedSessions: 1,
            turns: 6,
            completedTurns: 3,
            failedTurns: 1,
            cancelledTurns: 1,
            promptTokens: 150 + 150 + (1 + 3 + 4),
            completionTokens: 4 + 4 + 2,
            costUsd: expect.closeTo(0.0123 * 2 + 0.5, 10)
          })
        }).pipe(Effect.provide(freshStore())))
    })

    describe("SessionQueries.findByDigest", () => {
      it.live("finds a session while the digest is that of its latest completed turn, in the same project only", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* appendAll("s", [created("p1"), started("t1"), completed("t1", { digest: "D1" })])

          expect(yield* queries.findByDigest(null, "p1", "D1")).toEqual(Option.some("s"))
          expect(yield* queries.findByDigest(null, "p2", "D1")).toEqual(Option.none())
          expect(yield* queries.findByDigest(null, "p1", "unknown")).toEqual(Option.none())

          // A turn that fails leaves the conversation as it was: D1 still finds the session.
          yield* appendAll("s", [started("t2"), failed("t2")])
          expect(yield* queries.findByDigest(null, "p1", "D1")).toEqual(Option.some("s"))

          // A turn that completes moves the session on from D1.
          yield* appendAll("s", [started("t3"), completed("t3", { digest: "D2" })])
          expect(yield* queries.findByDigest(null, "p1", "D2")).toEqual(Option.some("s"))
          expect(yield* queries.findByDigest(null, "p1", "D1")).toEqual(Option.none())

          // Closed sessions take no turns.
          yield* appendAll("s", [new SessionClosed({ reason: "closed by client" })])
          expect(yield* queries.findByDigest(null, "p1", "D2")).toEqual(Option.none())
        }).pipe(Effect.provide(freshStore())))

      it.live("prefers the most recent of several sessions holding the same conversation", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* appendAll("older", [created("p1"), started("o1"), completed("o1", { digest: "D" })])
          yield* tick
          yield* appendAll("newer", [created("p1"), started("n1"), completed("n1", { digest: "D" })])
          yield* appendAll("elsewhere", [created("p2"), started("e1"), completed("e1", { digest: "D" })])
          expect(yield* queries.findByDigest(null, "p1", "D")).toEqual(Option.some("newer"))
          expect(yield* queries.findByDigest(null, "p2", "D")).toEqual(Option.some("elsewhere"))

          // Once the newer one moves on, the older one is the match.
          yield* appendAll("newer", [started("n2"), completed("n2", { digest: "D'" })])
          expect(yield* queries.findByDigest(null, "p1", "D")).toEqual(Option.some("older"))
        }).pipe(Effect.provide(freshStore())))

      it.live("ignores turns completed without a digest", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          yield* appendAll("s", [created("p1"), started("t1"), completed("t1", { digest: null })])
          expect(yield* queries.findByDigest(null, "p1", "null")).toEqual(Option.none())
          expect(yield* queries.findByDigest(null, "p1", "")).toEqual(Option.none())
        }).pipe(Effect.provide(freshStore())))
    })

    describe("SessionQueries.unfinishedTurns", () => {
      it.live("lists turns that started and never ended, with their session's last sequence", () =>
        Effect.gen(function*() {
          const queries = yield* SessionQueries
          expect(yield* queries.unfinishedTurns).toEqual([])
          yield* sessionWithTurn("done", "p1")
          yield* appendAll("failed", [created("p1"), started("f1"), failed("f1")])
          yield* appendAll("cancelled", [
            created("p1"),
            started("c1"),
            new TurnCancelled({ turnId: "c1", reason: "client" })
          ])
          yield* appendAll("open", [
            created("p1"),
            started("o1"),
            completed("o1"),
            started("o2"),
            new TextDelta({ turnId: "o2", text: "half" })
          ])
          expect(yield* queries.unfinishedTurns).toEqual([{ sessionId: "open", turnId: "o2", lastSequence: 5 }])

          yield* appendAll("open", [new TurnCancelled({ turnId: "o2", reason: "interrupted" })])
          expect(yield* queries.unfinishedTurns).toEqual([])
        }).pipe(Effect.provide(freshStore())))
    })

    describe("SessionStore.purge and streamIds", () => {
      it.live("purge deletes one whole stream and nothing else", () =>
        Effect.gen(function*() {
          const store = yield* SessionStore
          const queries = yield* SessionQueries
          yield* sessionWithTurn("a", "p1")
          yield* sessionWithTurn("b", "p1")
          yield* store.purge("a")
          expect(yield* store.read("a")).toEqual([])
          expect(yield* store.lastSequence("a")).toBe(0)
          expect(Option.isNone(yield* queries.sessionSummary("a"))).toBe(true)
          expect(idsOf((yield* queries.listSessions({ owner: null, limit: 10, offset: 0 })).sessions)).toEqual(["b"])
          expect(yield* store.read("b")).toHaveLength(5)
          // A purged id starts over from sequence 1.
          const again = yield* store.append("a", 0, [created("p1")])
          expect(again.map((entry) => entry.sequence)).toEqual([1])
          // Purging what does not exist is a no-op.
          yield* store.purge("never-was")
        }).pipe(Effect.provide(freshStore())))

      it.live("streamIds lists the streams starting with a prefix", () =>
        Effect.gen(function*() {
          const store = yield* SessionStore
          yield* sessionWithTurn("session-1", "p1")
          yield* appendAll("project:p1", [
            new ProjectCreated({ projectId: "p1", name: "P1", description: null, path: "/root/p1" })
          ])
          yield* appendAll("project:p2", [
            new ProjectCreated({ projectId: "p2", name: "P2", description: null, path: "/root/p2" })
          ])

          expect([...(yield* store.streamIds("project:"))].sort()).toEqual(["project:p1", "project:p2"])
          expect(yield* store.streamIds("project:p2")).toEqual(["project:p2"])
          expect(yield* store.streamIds("session-")).toEqual(["session-1"])
          expect(yield* store.streamIds("nothing:")).toEqual([])
          expect([...(yield* store.streamIds(""))].sort()).toEqual(["project:p1", "project:p2", "session-1"])

          yield* store.purge("project:p1")
          expect(yield* store.streamIds("project:")).toEqual(["project:p2"])
        }).pipe(Effect.provide(freshStore())))

      it.live("streamIds treats the prefix literally (LIKE wildcards and case included)", () =>
        Effect.gen(function*() {
          const store = yield* SessionStore
          for (const id of ["project:my_app", "project:myXapp", "project:my%app", "PROJECT:other"]) {
            yield* appendAll(id, [new ProjectCreated({ projectId: id, name: id, description: null, path: "/root/x" })])
          }
          expect(yield* store.streamIds("project:my_")).toEqual(["project:my_app"])
          expect(yield* store.streamIds("project:my%")).toEqual(["project:my%app"])
          expect([...(yield* store.streamIds("project:"))].sort()).toEqual([
            "project:my%app",
            "project:myXapp",
            "project:my_app"
          ])
        }).pipe(Effect.provide(freshStore())))
    })
  })

for (const dialect of dialects) contract(dialect)
