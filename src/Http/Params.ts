/**
 * Query parameters shared by the API's groups: pages of a list (`limit` and `offset`, ours,
 * or `page` and `per_page`, the original project's) with the `pagination` object that
 * describes the page in either case, and boolean flags.
 */
import { Schema } from "effect"

/** `true`/`false`/`1`/`0` in a query string. */
export const BooleanParam = Schema.Literal("true", "false", "1", "0").pipe(
  Schema.transform(Schema.Boolean, { decode: (v) => v === "true" || v === "1", encode: (b) => (b ? "true" : "false") })
)

/** `?purge=true` on a delete: also remove what is behind the resource. */
export const PurgeParams = Schema.Struct({ purge: Schema.optionalWith(BooleanParam, { default: () => false }) })

const PositiveIntParam = Schema.NumberFromString.pipe(Schema.int(), Schema.positive())

export const PageParams = Schema.Struct({
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))),
  offset: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())),
  page: Schema.optional(PositiveIntParam).annotations({ description: "1-based page (with per_page)" }),
  per_page: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100)))
})
export type PageParams = typeof PageParams.Type

export const PaginationInfo = Schema.Struct({
  page: Schema.Number,
  per_page: Schema.Number,
  total_items: Schema.Number,
  total_pages: Schema.Number,
  has_next: Schema.Boolean,
  has_prev: Schema.Boolean
}).annotations({ identifier: "Pagination" })

/** The list fields of every paginated answer. */
export const pageFields = {
  total: Schema.Number,
  limit: Schema.Number,
  offset: Schema.Number,
  has_more: Schema.Boolean,
  pagination: PaginationInfo
}

const defaultLimit = 20

/** The window a request asks for: `page`/`per_page` when given, else `limit`/`offset`. */
export const windowOf = (params: PageParams): { readonly limit: number; readonly offset: number } => {
  const limit = params.per_page ?? params.limit ?? defaultLimit
  return params.page !== undefined
    ? { limit, offset: (params.page - 1) * limit }
    : { limit, offset: params.offset ?? 0 }
}

/** The list fields describing `count` items at `window` out of `total`. */
export const pageOf = (window: { readonly limit: number; readonly offset: number }, count: number, total: number) => {
  const page = Math.floor(window.offset / window.limit) + 1
  const totalPages = Math.ceil(total / window.limit)
  return {
    total,
    limit: window.limit,
    offset: window.offset,
    has_more: window.offset + count < total,
    pagination: {
      page,
      per_page: window.limit,
      total_items: total,
      total_pages: totalPages,
      has_next: window.offset + count < total,
      has_prev: window.offset > 0
    }
  }
}
