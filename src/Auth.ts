/**
 * Auth: API keys and the principals they stand for, compared in constant time, with a
 * per-key request budget (a token bucket: a steady rate per minute plus a burst), and a
 * per-client limit on wrong keys (see `Auth/failures.ts`). It never sees what a session contains.
 */
import { Clock, Context, Effect, FiberRef, Layer, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import { AppConfig } from "./AppConfig.js"
import { makeFailureLimiter } from "./Auth/failures.js"
import { RateLimited, TooManyAuthFailures, Unauthorized } from "./Domain/Errors.js"

/** Who is calling: a key's fingerprint (never the key), or anonymous when auth is off. */
export interface Principal {
  readonly id: string
  readonly anonymous: boolean
}

const anonymousPrincipal: Principal = { id: "anonymous", anonymous: true }

/** The principal of the request being served (set by the HTTP edge). */
export const CurrentPrincipal: FiberRef.FiberRef<Principal> = FiberRef.unsafeMake(anonymousPrincipal)

/** Who owns what a principal creates: its id, or nobody (null) when auth is off. */
const ownerOf = (principal: Principal): string | null => (principal.anonymous ? null : principal.id)

/** The owner of what the current caller creates, and of the sessions it may see. */
export const currentOwner: Effect.Effect<string | null> = Effect.map(FiberRef.get(CurrentPrincipal), ownerOf)

export declare namespace Auth {
  export interface Service {
    /** Whether requests must carry a key. */
    readonly required: boolean
    /**
     * Identifies the caller from `Authorization: Bearer <key>` or `x-api-key: <key>`.
     * Every configured key is compared, in constant time, whatever matches first. With a
     * `client` (its remote address), a wrong key counts against that client, and a client
     * over its limit fails with `TooManyAuthFailures` before its key is looked at.
     */
    readonly authenticate: (
      headers: Readonly<Record<string, string | undefined>>,
      client?: string
    ) => Effect.Effect<Principal, Unauthorized | TooManyAuthFailures>
    /** Spends one request of the principal's budget; anonymous callers are not limited. */
    readonly consume: (principal: Principal) => Effect.Effect<void, RateLimited>
  }
}

export interface AuthOptions {
  readonly requireAuth: boolean
  readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
  /** Sustained requests per minute per key; 0 disables limiting. */
  readonly ratePerMinute: number
  readonly burst: number
  /** Wrong keys a client may present per window; 0 or absent disables the limit. */
  readonly failureLimit?: number | undefined
  readonly failureWindowSeconds?: number | undefined
}

const digest = (value: string) => NodeCrypto.createHash("sha256").update(value, "utf8").digest()

/** The key presented by a request, if any. */
export const presentedKey = (headers: Readonly<Record<string, string | undefined>>): string | null => {
  const authorization = headers["authorization"]
  if (authorization !== undefined) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim())
    if (match) return match[1]!.trim()
  }
  const apiKey = headers["x-api-key"]?.trim()
  return apiKey ? apiKey : null
}

export const makeAuth = (options: AuthOptions) =>
  Effect.gen(function*() {
    const keys = options.apiKeys.map((key) => digest(Redacted.value(key)))
    const anonymous = anonymousPrincipal
    const buckets = new Map<string, { tokens: number; updatedAt: number }>()
    const refillPerMs = options.ratePerMinute / 60_000
    const failures = makeFailureLimiter({
      limit: options.failureLimit ?? 0,
      windowMillis: (options.failureWindowSeconds ?? 60) * 1000
    })

    const authenticate = (headers: Readonly<Record<string, string | undefined>>, client?: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<Principal, Unauthorized | TooManyAuthFailures> => {
        if (!options.requireAuth) return Effect.succeed(anonymous)
        const heldBack = client === undefined ? 0 : failures.heldBackFor(client, now)
        if (heldBack > 0) return Effect.fail(new TooManyAuthFailures({ retryAfterSeconds: Math.ceil(heldBack / 1000) }))
        const key = presentedKey(headers)
        if (key === null) {
          return Effect.fail(
            new Unauthorized({ message: "Missing API key: send Authorization: Bearer <key> or x-api-key." })
          )
        }
        const presented = digest(key)
        let matched = -1
        keys.forEach((candidate, index) => {
          if (NodeCrypto.timingSafeEqual(candidate, presented) && matched === -1) matched = index
        })
        if (matched === -1) {
          if (client !== undefined) failures.recordFailure(client, now)
          return Effect.fail(new Unauthorized({ message: "Invalid API key." }))
        }
        return Effect.succeed({ id: `key:${presented.subarray(0, 6).toString("hex")}`, anonymous: false })
      })

    const consume = Effect.fn("Auth.consume")(function*(principal: Principal) {
      if (principal.anonymous || options.ratePerMinute === 0) return
      const now = yield* Clock.currentTimeMillis
      const bucket = buckets.get(principal.id) ?? { tokens: options.burst, updatedAt: now }
      bucket.tokens = Math.min(options.burst, bucket.tokens + (now - bucket.updatedAt) * refillPerMs)
      bucket.updatedAt = now
      buckets.set(principal.id, bucket)
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return
      }
      return yield* new RateLimited({
        retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000))
      })
    })

    return { required: options.requireAuth, authenticate, consume } satisfies Auth.Service
  })

export class Auth extends Context.Tag("claude-code-api/Auth")<Auth, Auth.Service>() {
  static readonly layer = Layer.effect(
    Auth,
    Effect.flatMap(AppConfig, (config) =>
      makeAuth({
        requireAuth: config.requireAuth,
        apiKeys: config.apiKeys,
        ratePerMinute: config.rateLimitPerMinute,
        burst: config.rateLimitBurst,
        failureLimit: config.authFailureLimit,
        failureWindowSeconds: config.authFailureWindowSeconds
      }))
  )

  static readonly layerWith = (options: AuthOptions) => Layer.effect(Auth, makeAuth(options))
}
