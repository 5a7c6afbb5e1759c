/**
 * Decoding a parsed JSON request body with a wire schema, the way every surface answers a
 * bad one: a 400 that names the offending parameter (`messages[0].role`), with `code`
 * `missing_required_parameter`, `empty_array` or `invalid_value`. A part of a body decoded
 * on its own (an input item, a tool) is named from where it sits in the body.
 */
import type { HttpServerRequest } from "@effect/platform"
import { Effect, Either, ParseResult, Schema } from "effect"
import { type HttpError, invalidRequest, paramOf } from "./Edge/Errors.js"

/** A decoder for `schema` of a value found at `path` in the body (unknown fields are ignored). */
export const partDecoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
  return (value: unknown, path: ReadonlyArray<PropertyKey> = []): Either.Either<A, HttpError> =>
    Either.mapLeft(decode(value), (error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      const param = paramOf([...path, ...(issue?.path ?? [])])
      const detail = issue?.message ?? "invalid value"
      const code = issue?._tag === "Missing"
        ? "missing_required_parameter"
        : detail.startsWith("empty array")
        ? "empty_array"
        : "invalid_value"
      return invalidRequest(
        param === null ? `Invalid request: ${detail}` : `Invalid value for '${param}': ${detail}`,
        param,
        code
      )
    })
}

/** A decoder of request bodies for `schema` (unknown fields are ignored). */
export const bodyDecoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = partDecoder(schema)
  return (body: unknown): Either.Either<A, HttpError> =>
    typeof body !== "object" || body === null || Array.isArray(body)
      ? Either.left(invalidRequest("The request body must be a JSON object."))
      : decode(body)
}

/** The request's JSON body, decoded; unparsable JSON is a 400 `invalid_json`. */
export const readJsonBody = <A>(
  request: HttpServerRequest.HttpServerRequest,
  decode: (body: unknown) => Either.Either<A, HttpError>
): Effect.Effect<A, HttpError> =>
  request.json.pipe(
    Effect.mapError(() => invalidRequest("We could not parse the JSON body of your request.", null, "invalid_json")),
    Effect.flatMap(decode)
  )
