/**
 * Request bodies at the edge, for every route: read once, under the size limit (a 413 as
 * soon as `Content-Length` or the bytes received pass it; the rest is never read, and the
 * connection is closed), parsed as JSON (the only body the API takes), and refused when
 * nested deeper than `maxJsonDepth` or when any string or key holds a NUL character. The
 * routes then see the same request with its body already read and parsed.
 */
import { Headers, type HttpServerRequest } from "@effect/platform"
import { RequestError } from "@effect/platform/HttpServerError"
import { Effect, type Option, Stream } from "effect"
import * as NodeStream from "node:stream"
import { HttpError, invalidRequest, paramOf } from "./Errors.js"

/** Objects and arrays nested deeper than this are refused (a client's JSON Schema needs far fewer). */
export const maxJsonDepth = 64

/** The answer to a body over the limit. */
export const bodyTooLarge = (limitBytes: number) =>
  new HttpError({
    status: 413,
    type: "invalid_request_error",
    message: `The request body is larger than the limit of ${formatSize(limitBytes)} (MAX_REQUEST_BODY_MB).`,
    param: null,
    code: "request_too_large",
    retryAfterSeconds: null
  })

const formatSize = (bytes: number) => bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`

const unreadable = () => invalidRequest("The request body could not be read.", null, "invalid_request")

/** Whether the request carries a body at all (HTTP/1.1: a length above 0, or a transfer coding). */
const hasBody = (request: HttpServerRequest.HttpServerRequest) =>
  request.headers["transfer-encoding"] !== undefined || Number(request.headers["content-length"] ?? 0) > 0

/**
 * The bytes of a Node request, at most `limit` of them. Past the limit it stops listening and
 * leaves the rest unread, without destroying the stream (the 413 must still be written).
 */
const readNode = (source: NodeStream.Readable, limit: number) =>
  Effect.async<Buffer, HttpError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onFailure)
      source.off("close", onFailure)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        stop()
        source.pause()
        resume(Effect.fail(bodyTooLarge(limit)))
      } else {
        chunks.push(chunk)
      }
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    const onFailure = () => {
      stop()
      resume(Effect.fail(unreadable()))
    }
    if (source.readableEnded) return resume(Effect.succeed(Buffer.alloc(0)))
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onFailure)
    source.once("close", onFailure)
    return Effect.sync(stop)
  })

/** The body's bytes, by whatever server runs the app (Node's is read incrementally). */
const readBytes = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<Uint8Array, HttpError> =>
  request.source instanceof NodeStream.Readable
    ? readNode(request.source, limit)
    : request.arrayBuffer.pipe(
      Effect.mapError(unreadable),
      Effect.filterOrFail((buffer) => buffer.byteLength <= limit, () => bodyTooLarge(limit)),
      Effect.map((buffer) => new Uint8Array(buffer))
    )

/** The first place, in document order, where a parsed body nests too deep or holds a NUL. */
export const findHazard = (
  value: unknown,
  maxDepth: number = maxJsonDepth
): { readonly path: ReadonlyArray<PropertyKey>; readonly problem: "depth" | "nul" } | null => {
  interface Node {
    readonly value: unknown
    readonly depth: number
    readonly parent: Node | null
    readonly key: PropertyKey | null
  }
  const pathOf = (node: Node | null, last: Array<PropertyKey> = []): ReadonlyArray<PropertyKey> => {
    const path = last
    for (let at = node; at !== null && at.key !== null; at = at.parent) path.unshift(at.key)
    return path
  }
  const stack: Array<Node> = [{ value, depth: 0, parent: null, key: null }]
  while (stack.length > 0) {
    const node = stack.pop()!
    if (typeof node.value === "string") {
      if (node.value.includes("\u0000")) return { path: pathOf(node), problem: "nul" }
    } else if (Array.isArray(node.value)) {
      if (node.depth >= maxDepth) return { path: pathOf(node), problem: "depth" }
      for (let index = node.value.length - 1; index >= 0; index--) {
        stack.push({ value: node.value[index], depth: node.depth + 1, parent: node, key: index })
      }
    } else if (typeof node.value === "object" && node.value !== null) {
      if (node.depth >= maxDepth) return { path: pathOf(node), problem: "depth" }
      const entries = Object.entries(node.value)
      for (const [key] of entries) if (key.includes("\u0000")) return { path: pathOf(node, [key]), problem: "nul" }
      for (let index = entries.length - 1; index >= 0; index--) {
        const [key, child] = entries[index]!
        stack.push({ value: child, depth: node.depth + 1, parent: node, key })
      }
    }
  }
  return null
}

/** A parameter's name as a client can read it: NUL spelled out, at most 200 characters. */
const readableParam = (path: ReadonlyArray<PropertyKey>): string | null => {
  const param = paramOf(path)?.replaceAll("\u0000", "\\u0000") ?? null
  return param !== null && param.length > 200 ? `${param.slice(0, 200)}…` : param
}

const hazardError = (hazard: NonNullable<ReturnType<typeof findHazard>>) => {
  const param = readableParam(hazard.path)
  const detail = hazard.problem === "depth"
    ? `nested more than ${maxJsonDepth} levels deep`
    : "a NUL character (\\u0000) is not allowed"
  return invalidRequest(
    param === null ? `Invalid request: ${detail}` : `Invalid value for '${param}': ${detail}`,
    param,
    "invalid_value"
  )
}

/** The same request with its body already read: JSON, parsed once (the bytes are not kept). */
const withBody = (
  request: HttpServerRequest.HttpServerRequest,
  text: string,
  json: unknown
): HttpServerRequest.HttpServerRequest => {
  // Built only when asked for: an error captures a stack trace, too dear for every request.
  const notJson = () => new RequestError({ request, reason: "Decode", description: "the request body is JSON" })
  return Object.create(request, {
    headers: { value: Headers.set(request.headers, "content-type", "application/json") },
    text: { value: Effect.succeed(text) },
    json: { value: Effect.succeed(json) },
    arrayBuffer: { get: () => Effect.sync(() => new TextEncoder().encode(text).buffer) },
    urlParamsBody: { value: Effect.failSync(notJson) },
    stream: { get: () => Stream.sync(() => new TextEncoder().encode(text)) },
    multipart: { value: Effect.failSync(notJson) },
    multipartStream: { get: () => Stream.failSync(notJson) }
  }) as HttpServerRequest.HttpServerRequest
}

/**
 * Reads and checks the request's body, once, for every route: `None` when the request has no
 * body, otherwise the request to serve, its body read and parsed. Fails with the 413 or the
 * 400 (`invalid_json`, or `invalid_value` naming the parameter) to answer.
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  limitBytes: number
): Effect.Effect<Option.Option<HttpServerRequest.HttpServerRequest>, HttpError> => {
  if (!hasBody(request)) return Effect.succeedNone
  if (Number(request.headers["content-length"] ?? 0) > limitBytes) return Effect.fail(bodyTooLarge(limitBytes))
  return Effect.flatMap(readBytes(request, limitBytes), (bytes) => {
    const text = new TextDecoder().decode(bytes)
    let json: unknown = null
    if (text.length > 0) {
      try {
        json = JSON.parse(text)
      } catch {
        return Effect.fail(
          invalidRequest("We could not parse the JSON body of your request.", null, "invalid_json")
        )
      }
    }
    const hazard = findHazard(json)
    return hazard === null ? Effect.succeedSome(withBody(request, text, json)) : Effect.fail(hazardError(hazard))
  })
}
