/**
 * The bounds on a request's short strings, shared by every surface's wire schema: a model
 * name (it becomes the CLI's `--model` argument), ids, and what is only recorded with a turn
 * (`user`, `metadata`, a session's title). A value outside them is a 400 naming its
 * parameter. Text (messages, system prompts) is bounded by the body limit alone; NUL
 * characters are refused in every string at the edge (`Edge/Body.ts`).
 */
import { Schema } from "effect"

/**
 * A model name or alias: up to 256 letters, digits and `. _ - : / @ [ ] +`, starting with a
 * letter or digit (ids such as `claude-opus-4-8[1m]`, Bedrock ARNs). Empty means none.
 */
export const ModelName = Schema.String.pipe(
  Schema.maxLength(256, { message: () => "a model name is at most 256 characters" }),
  Schema.pattern(/^(?:[A-Za-z0-9][A-Za-z0-9._:/@[\]+-]*)?$/, {
    message: () => "a model name is letters, digits and . _ - : / @ [ ] +, starting with a letter or digit"
  })
).annotations({
  identifier: "ModelName",
  description: "A model id or alias: up to 256 letters, digits and . _ - : / @ [ ] +, starting with a letter or digit"
})

/** A session or response id: up to 128 letters, digits and `. _ : -`. Empty means none. */
export const Id = Schema.String.pipe(
  Schema.maxLength(128, { message: () => "an id is at most 128 characters" }),
  Schema.pattern(/^[A-Za-z0-9._:-]*$/, { message: () => "an id is letters, digits and . _ : -" })
).annotations({ identifier: "Id", description: "An id: up to 128 letters, digits and . _ : -" })

/** An identifier of the end user, recorded with the turn. */
export const EndUser = Schema.String.pipe(
  Schema.maxLength(256, { message: () => "at most 256 characters" })
)

/** A session's title. */
export const Title = Schema.String.pipe(
  Schema.maxLength(512, { message: () => "a title is at most 512 characters" })
)

/** A project's name and description. */
export const ProjectName = Schema.String.pipe(
  Schema.maxLength(256, { message: () => "a project name is at most 256 characters" })
)
export const ProjectDescription = Schema.String.pipe(
  Schema.maxLength(4096, { message: () => "a project description is at most 4096 characters" })
)

/** OpenAI's own bounds on `metadata`: at most 16 pairs, keys up to 64 characters, values up to 512. */
export const Metadata = Schema.Record({
  key: Schema.String,
  value: Schema.String.pipe(Schema.maxLength(512, { message: () => "a metadata value is at most 512 characters" }))
}).pipe(
  Schema.filter((pairs) => {
    const keys = Object.keys(pairs)
    if (keys.length > 16) return "at most 16 metadata pairs"
    const long = keys.find((key) => key.length > 64)
    return long === undefined || { path: [long], message: "a metadata key is at most 64 characters" }
  })
)
