/**
 * The HTTP edge around every route: the `Host` and `Origin` checks, authentication and
 * per-key rate limiting (public paths excepted), the request body's limits (see `Body.ts`),
 * and the rendering of every failure (our own, the router's, the
 * platform's, defects) as an error envelope: OpenAI's, or Anthropic's on the Messages API's
 * routes. Unknown paths are 404, known paths with another method 405.
 */
import { HttpApi, HttpApiBuilder, type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Option, ParseResult } from "effect"
import { AppConfig } from "../../AppConfig.js"
import { Auth, CurrentPrincipal } from "../../Auth.js"
import { GatewayApi } from "../Api.js"
import { readBody } from "./Body.js"
import { fromDomain, HttpError, internalError, invalidRequest, paramOf, surfaceOf } from "./Errors.js"
import { hostAllowed } from "./Host.js"
import { noteCaller } from "./RequestLog.js"

/** Paths anyone may read, with or without a key. */
const publicPaths = new Set(["/", "/health", "/docs", "/redoc", "/openapi.json"])

/** Routes served besides the API's own endpoints. */
const extraRoutes = [
  { method: "GET", path: "/docs" },
  { method: "GET", path: "/redoc" },
  { method: "GET", path: "/openapi.json" }
]

const routePatterns = (() => {
  const routes: Array<{ readonly method: string; readonly pattern: RegExp }> = []
  const add = (method: string, path: string) =>
    routes.push({
      method,
      pattern: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:(\w+)/g, "[^/]+")}/?$`)
    })
  HttpApi.reflect(GatewayApi, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => add(endpoint.method, endpoint.path)
  })
  for (const route of extraRoutes) add(route.method, route.path)
  return routes
})()

/** The methods a path answers to (empty for an unknown path). */
const allowedMethods = (path: string): ReadonlyArray<string> => [
  ...new Set(routePatterns.filter((route) => route.pattern.test(path)).map((route) => route.method))
]

const pathOf = (request: HttpServerRequest.HttpServerRequest) => {
  const query = request.url.indexOf("?")
  return query === -1 ? request.url : request.url.slice(0, query)
}

/**
 * Whether a browser origin may use the API. Only the configured origins (or any, with
 * `*`); an empty list allows none.
 */
export const originAllowed = (origins: ReadonlyArray<string>) => (origin: string): boolean =>
  origins.includes("*") || origins.includes(origin)

const routeNotFound = (request: HttpServerRequest.HttpServerRequest): HttpServerResponse.HttpServerResponse => {
  const path = pathOf(request)
  const allowed = allowedMethods(path)
  const method = request.method.toUpperCase()
  if (allowed.length > 0 && !allowed.includes(method)) {
    return HttpServerResponse.setHeader(
      errorOf(
        405,
        `Method ${request.method} is not allowed for ${path}; use ${allowed.join(", ")}.`,
        "method_not_allowed"
      )
        .toResponse(surfaceOf(path, request.headers)),
      "allow",
      allowed.join(", ")
    )
  }
  return errorOf(404, `Unknown request URL: ${request.method} ${path}.`, "unknown_url").toResponse(
    surfaceOf(path, request.headers)
  )
}

const errorOf = (status: number, message: string, code: string) =>
  new HttpError({ status, type: "invalid_request_error", message, param: null, code, retryAfterSeconds: null })

/** Any failure that reached the edge, as an envelope response. */
const renderFailure = (request: HttpServerRequest.HttpServerRequest, error: unknown) => {
  const surface = surfaceOf(pathOf(request), request.headers)
  if (error instanceof HttpError) {
    // The rest of a body over the limit is never read: the connection cannot carry another request.
    const response = error.toResponse(surface)
    return Effect.succeed(
      error.status === 413 ? HttpServerResponse.setHeader(response, "connection", "close") : response
    )
  }
  if (typeof error === "object" && error !== null && "_tag" in error) {
    switch (error._tag) {
      case "Unauthorized":
      case "RateLimited":
      case "TooManyAuthFailures":
        return Effect.succeed(fromDomain(error as Parameters<typeof fromDomain>[0]).toResponse(surface))
      case "RouteNotFound":
        return Effect.succeed(routeNotFound(request))
      case "HttpApiDecodeError": {
        const issue = (error as unknown as {
          readonly issues: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>
        }).issues[0]
        const param = paramOf(issue?.path ?? [])
        return Effect.succeed(
          invalidRequest(issue?.message ?? "Invalid request", param, "invalid_value").toResponse(surface)
        )
      }
      case "RequestError":
        return Effect.succeed(
          invalidRequest("The request could not be read.", null, "invalid_request").toResponse(surface)
        )
      case "ParseError":
        return Effect.succeed(
          invalidRequest(ParseResult.TreeFormatter.formatErrorSync(error as ParseResult.ParseError)).toResponse(surface)
        )
    }
  }
  return Effect.logError("unhandled failure at the HTTP edge", error).pipe(
    Effect.as(internalError().toResponse(surface))
  )
}

/** Methods a browser may send cross-site without a preflight only matter when they change state. */
const safeMethods = new Set(["GET", "HEAD", "OPTIONS"])

export const EdgeMiddleware = HttpApiBuilder.middleware(
  Effect.gen(function*() {
    const auth = yield* Auth
    const config = yield* AppConfig
    const allowedOrigin = originAllowed(config.corsOrigins)
    const allowedHost = hostAllowed({
      requireAuth: config.requireAuth,
      boundHost: config.host,
      allowedHosts: config.allowedHosts
    })
    return (app: HttpApp.Default) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        // A web page must not read the gateway under its own name (DNS rebinding).
        const host = request.headers["host"]
        if (!allowedHost(host)) {
          return errorOf(403, `Host ${host?.slice(0, 100)} is not allowed (see ALLOWED_HOSTS).`, "host_not_allowed")
            .toResponse(surfaceOf(pathOf(request), request.headers))
        }
        // A web page the user visits must not drive the local Claude Code: browsers send
        // simple cross-site POSTs without a preflight, so foreign origins are refused here.
        const origin = request.headers["origin"]
        if (origin !== undefined && !safeMethods.has(request.method) && !allowedOrigin(origin)) {
          return errorOf(403, `Origin ${origin} is not allowed (see CORS_ORIGINS).`, "origin_not_allowed")
            .toResponse(surfaceOf(pathOf(request), request.headers))
        }
        const principal = publicPaths.has(pathOf(request))
          ? null
          : yield* auth.authenticate(request.headers, Option.getOrUndefined(request.remoteAddress))
        if (principal !== null) yield* noteCaller(principal)
        if (principal !== null) yield* auth.consume(principal)
        const body = yield* readBody(request, config.maxRequestBodyBytes)
        const served = Option.isSome(body)
          ? Effect.provideService(app, HttpServerRequest.HttpServerRequest, body.value)
          : app
        return yield* principal === null ? served : Effect.locally(served, CurrentPrincipal, principal)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.gen(function*() {
            if (Cause.isInterruptedOnly(cause)) return yield* Effect.interrupt
            const request = yield* HttpServerRequest.HttpServerRequest
            const failure = Cause.failureOption(cause)
            if (Option.isSome(failure)) return yield* renderFailure(request, failure.value)
            yield* Effect.logError("defect at the HTTP edge", cause)
            return internalError().toResponse(surfaceOf(pathOf(request), request.headers))
          })
        )
      )
  })
)
