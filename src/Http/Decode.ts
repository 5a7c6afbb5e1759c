/**
 * Decoding a parsed JSON request body with a wire schema, the way every surface answers a
 * bad one: a 400 that names the offending parameter (`messages[0].role`), with `code`
 * `missing_required_parameter`, `empty_array` or `invalid_value`.
 */
import { Either, ParseResult, Schema } from "effect"
import { type HttpError, invalidRequest, paramOf } from "./Edge/Errors.js"

/** A decoder of request bodies for `schema` (unknown fields are ignored). */
export const bodyDecoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
  return (body: unknown): Either.Either<A, HttpError> => {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return Either.left(invalidRequest("The request body must be a JSON object."))
    }
    return Either.mapLeft(decode(body), (error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      const param = paramOf(issue?.path ?? [])
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
}
