/**
 * Auth: which key a request presents, who it stands for, and each key's request budget.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted, TestClock } from "effect"
import { Auth, makeAuth, presentedKey } from "../src/Auth.js"
import { RateLimited, Unauthorized } from "../src/Domain/Errors.js"

const KEY_A = "sk-gateway-key-alpha-0123456789"
const KEY_B = "sk-gateway-key-bravo-9876543210"

const authOn = (overrides: { ratePerMinute?: number; burst?: number } = {}) =>
  makeAuth({
    requireAuth: true,
    apiKeys: [Redacted.make(KEY_A), Redacted.make(KEY_B)],
    ratePerMinute: overrides.ratePerMinute ?? 0,
    burst: overrides.burst ?? 10
  })

describe("presentedKey", () => {
  it("reads Authorization: Bearer <key>, case-insensitively and trimmed", () => {
    expect(presentedKey({ authorization: `Bearer ${KEY_A}` })).toBe(KEY_A)
    expect(presentedKey({ authorization: `bearer   ${KEY_A}  ` })).toBe(KEY_A)
    expect(presentedKey({ authorization: `BEARER ${KEY_A}` })).toBe(KEY_A)
  })

  it("reads x-api-key", () => {
    expect(presentedKey({ "x-api-key": KEY_B })).toBe(KEY_B)
    expect(presentedKey({ "x-api-key": ` ${KEY_B} ` })).toBe(KEY_B)
  })

  it("prefers the bearer token when both are sent", () => {
    expect(presentedKey({ authorization: `Bearer ${KEY_A}`, "x-api-key": KEY_B })).toBe(KEY_A)
  })

  it("falls back to x-api-key when Authorization is not a bearer token", () => {
    expect(presentedKey({ authorization: "Basic dXNlcjpwYXNz", "x-api-key": KEY_B })).toBe(KEY_B)
  })

  it("is null when no key is presented", () => {
    expect(presentedKey({})).toBeNull()
    expect(presentedKey({ authorization: undefined, "x-api-key": undefined })).toBeNull()
    expect(presentedKey({ authorization: "Bearer", "x-api-key": "   " })).toBeNull()
    expect(presentedKey({ authorization: "Basic dXNlcjpwYXNz" })).toBeNull()
  })
})

describe("makeAuth: authentication", () => {
  it.effect("with auth off, every caller is anonymous", () =>
    Effect.gen(function*() {
      const auth = yield* makeAuth({ requireAuth: false, apiKeys: [], ratePerMinute: 60, burst: 1 })
      expect(auth.required).toBe(false)
      expect(yield* auth.authenticate({})).toEqual({ id: "anonymous", anonymous: true })
      expect(yield* auth.authenticate({ authorization: "Bearer whatever" })).toEqual({
        id: "anonymous",
        anonymous: true
      })
    }))

  it.effect("with auth on, a missing key fails Unauthorized", () =>
    Effect.gen(function*() {
      const auth = yield* authOn()
      expect(auth.required).toBe(true)
      const error = yield* Effect.flip(auth.authenticate({}))
      expect(error).toBeInstanceOf(Unauthorized)
    }))

  it.effect("with auth on, a wrong key fails Unauthorized (either header)", () =>
    Effect.gen(function*() {
      const auth = yield* authOn()
      for (
        const headers of [
          { authorization: "Bearer sk-wrong" },
          { "x-api-key": "sk-wrong" },
          { authorization: `Bearer ${KEY_A}x` },
          { authorization: `Bearer ${KEY_A.slice(0, -1)}` }
        ]
      ) {
        const error = yield* Effect.flip(auth.authenticate(headers))
        expect(error, JSON.stringify(headers)).toBeInstanceOf(Unauthorized)
        expect(error.message).not.toContain("sk-wrong")
      }
    }))

  it.effect("with auth on, the right key succeeds with either header; the principal never contains the key", () =>
    Effect.gen(function*() {
      const auth = yield* authOn()
      const viaBearer = yield* auth.authenticate({ authorization: `Bearer ${KEY_A}` })
      const viaHeader = yield* auth.authenticate({ "x-api-key": KEY_A })
      expect(viaBearer.anonymous).toBe(false)
      expect(viaBearer).toEqual(viaHeader)
      expect(viaBearer.id).not.toContain(KEY_A)
      expect(viaBearer.id).not.toContain(KEY_A.slice(3, 15))
      expect(viaBearer.id).not.toBe("anonymous")
      const other = yield* auth.authenticate({ "x-api-key": KEY_B })
      expect(other.anonymous).toBe(false)
      expect(other.id).not.toBe(viaBearer.id)
      expect(other.id).not.toContain(KEY_B)
    }))
})

describe("makeAuth: rate limiting", () => {
  it.effect("burst 3 at 60/min: the 4th request fails RateLimited, one second later one more is allowed", () =>
    Effect.gen(function*() {
      const auth = yield* authOn({ ratePerMinute: 60, burst: 3 })
      const principal = yield* auth.authenticate({ authorization: `Bearer ${KEY_A}` })
      for (let i = 0; i < 3; i++) yield* auth.consume(principal)
      const limited = yield* Effect.flip(auth.consume(principal))
      expect(limited).toBeInstanceOf(RateLimited)
      expect(limited.retryAfterSeconds).toBeGreaterThanOrEqual(1)
      expect(Number.isInteger(limited.retryAfterSeconds)).toBe(true)

      yield* TestClock.adjust("1 second")
      yield* auth.consume(principal)
      // The refilled token is spent again.
      expect(Either.isLeft(yield* Effect.either(auth.consume(principal)))).toBe(true)
    }))

  it.effect("the budget never exceeds the burst, however long the key was idle", () =>
    Effect.gen(function*() {
      const auth = yield* authOn({ ratePerMinute: 60, burst: 3 })
      const principal = yield* auth.authenticate({ "x-api-key": KEY_A })
      yield* auth.consume(principal)
      yield* TestClock.adjust("1 hour")
      for (let i = 0; i < 3; i++) yield* auth.consume(principal)
      expect(Either.isLeft(yield* Effect.either(auth.consume(principal)))).toBe(true)
    }))

  it.effect("each key has its own budget", () =>
    Effect.gen(function*() {
      const auth = yield* authOn({ ratePerMinute: 60, burst: 1 })
      const a = yield* auth.authenticate({ "x-api-key": KEY_A })
      const b = yield* auth.authenticate({ "x-api-key": KEY_B })
      yield* auth.consume(a)
      expect(Either.isLeft(yield* Effect.either(auth.consume(a)))).toBe(true)
      yield* auth.consume(b)
    }))

  it.effect("anonymous callers are never limited", () =>
    Effect.gen(function*() {
      const auth = yield* makeAuth({ requireAuth: false, apiKeys: [], ratePerMinute: 1, burst: 1 })
      const principal = yield* auth.authenticate({})
      for (let i = 0; i < 50; i++) yield* auth.consume(principal)
    }))

  it.effect("a rate of 0 disables limiting", () =>
    Effect.gen(function*() {
      const auth = yield* authOn({ ratePerMinute: 0, burst: 1 })
      const principal = yield* auth.authenticate({ "x-api-key": KEY_A })
      for (let i = 0; i < 50; i++) yield* auth.consume(principal)
    }))
})

describe("Auth.layerWith", () => {
  it.effect("provides the service built from the options", () =>
    Effect.gen(function*() {
      const auth = yield* Auth
      expect(auth.required).toBe(true)
      expect((yield* auth.authenticate({ "x-api-key": KEY_A })).anonymous).toBe(false)
    }).pipe(
      Effect.provide(Auth.layerWith({ requireAuth: true, apiKeys: [Redacted.make(KEY_A)], ratePerMinute: 0, burst: 1 }))
    ))
})
