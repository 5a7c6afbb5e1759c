/**
 * Wrong keys per client: the fixed window a client's first wrong key opens, the hold once the
 * limit is reached (whatever key comes next), its end, and the bound on clients tracked;
 * then the same through `Auth.authenticate` on the test clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, TestClock } from "effect"
import { makeAuth } from "../../src/Auth.js"
import { makeFailureLimiter } from "../../src/Auth/failures.js"
import { TooManyAuthFailures, Unauthorized } from "../../src/Domain/Errors.js"

describe("makeFailureLimiter", () => {
  it("holds a client back once its window holds `limit` failures, until the window ends", () => {
    const limiter = makeFailureLimiter({ limit: 3, windowMillis: 60_000 })
    limiter.recordFailure("10.0.0.1", 1_000)
    limiter.recordFailure("10.0.0.1", 2_000)
    expect(limiter.heldBackFor("10.0.0.1", 2_000)).toBe(0)
    limiter.recordFailure("10.0.0.1", 3_000)
    expect(limiter.heldBackFor("10.0.0.1", 3_000)).toBe(58_000)
    expect(limiter.heldBackFor("10.0.0.1", 60_999)).toBe(1)
    expect(limiter.heldBackFor("10.0.0.1", 61_000)).toBe(0)
    // Other clients are not affected.
    expect(limiter.heldBackFor("10.0.0.2", 3_000)).toBe(0)
  })

  it("opens a new window for a failure after the last one ended", () => {
    const limiter = makeFailureLimiter({ limit: 2, windowMillis: 10_000 })
    limiter.recordFailure("a", 0)
    limiter.recordFailure("a", 10_000)
    expect(limiter.heldBackFor("a", 10_000)).toBe(0)
    limiter.recordFailure("a", 15_000)
    expect(limiter.heldBackFor("a", 15_000)).toBe(5_000)
  })

  it("does nothing with a limit of 0", () => {
    const limiter = makeFailureLimiter({ limit: 0, windowMillis: 10_000 })
    for (let i = 0; i < 100; i++) limiter.recordFailure("a", i)
    expect(limiter.heldBackFor("a", 100)).toBe(0)
  })

  it("tracks at most maxClients, dropping expired windows first, then the oldest", () => {
    const limiter = makeFailureLimiter({ limit: 1, windowMillis: 1_000, maxClients: 2 })
    limiter.recordFailure("old", 0)
    limiter.recordFailure("mid", 1_500)
    // "old" has expired: it goes, and "mid" stays held back.
    limiter.recordFailure("new", 1_600)
    expect(limiter.heldBackFor("mid", 1_600)).toBe(900)
    expect(limiter.heldBackFor("new", 1_600)).toBe(1_000)
    // Both are live: the oldest ("mid") makes room.
    limiter.recordFailure("newest", 1_700)
    expect(limiter.heldBackFor("mid", 1_700)).toBe(0)
    expect(limiter.heldBackFor("new", 1_700)).toBe(900)
    expect(limiter.heldBackFor("newest", 1_700)).toBe(1_000)
  })
})

describe("Auth.authenticate with a client", () => {
  const KEY = "sk-gateway-key-0123456789"
  const auth = makeAuth({
    requireAuth: true,
    apiKeys: [Redacted.make(KEY)],
    ratePerMinute: 0,
    burst: 1,
    failureLimit: 2,
    failureWindowSeconds: 60
  })
  const wrong = { authorization: "Bearer sk-wrong" }
  const right = { authorization: `Bearer ${KEY}` }

  it.effect("counts wrong keys (not missing ones) and holds the client back until the window passes", () =>
    Effect.gen(function*() {
      const service = yield* auth
      for (let i = 0; i < 3; i++) expect(yield* Effect.flip(service.authenticate({}, "c"))).toBeInstanceOf(Unauthorized)
      expect(yield* Effect.flip(service.authenticate(wrong, "c"))).toBeInstanceOf(Unauthorized)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Effect.flip(service.authenticate(wrong, "c"))).toBeInstanceOf(Unauthorized)

      const held = yield* Effect.flip(service.authenticate(right, "c"))
      expect(held).toBeInstanceOf(TooManyAuthFailures)
      expect((held as TooManyAuthFailures).retryAfterSeconds).toBe(50)
      // Another client, and a caller with no client given, are not held back.
      expect((yield* service.authenticate(right, "d")).anonymous).toBe(false)
      expect((yield* service.authenticate(right)).anonymous).toBe(false)

      yield* TestClock.adjust("50 seconds")
      expect((yield* service.authenticate(right, "c")).anonymous).toBe(false)
    }))
})
