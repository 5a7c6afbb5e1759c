/**
 * The checks every API surface makes of a client's tool definitions before anything runs:
 * whatever Claude Code would silently mishandle (a name the model cannot take, a duplicate, a
 * schema it drops, or a name that is one of Claude Code's own while those are kept) is a 400
 * naming the exact parameter, in the surface's own words for where the tool sits.
 */
import { Either } from "effect"
import type { ClientTool } from "../Domain/Tools.js"
import { type HttpError, invalidRequest } from "./Edge/Errors.js"

/** The names the model accepts for a tool. */
export const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/

/** The input schema of a tool that declares none. */
export const noArguments: Record<string, unknown> = { type: "object", properties: {} }

/** Top-level keywords that make the CLI drop a tool without a word. */
const unsupportedCombinators = ["anyOf", "oneOf", "allOf"] as const

/** One tool as a surface decoded it, with the request paths that name its parts. */
export interface ToolDefinition {
  readonly name: string
  readonly description: string | null
  readonly schema: Record<string, unknown> | undefined
  /** e.g. `tools[2].function.name` or `tools[2].name` */
  readonly nameParam: string
  /** e.g. `tools[2].function.parameters` or `tools[2].input_schema` */
  readonly schemaParam: string
}

const refuse = (param: string, reason: string) =>
  Either.left(invalidRequest(`Invalid value for '${param}': ${reason}`, param, "invalid_value"))

/** One tool, checked. */
const checkedTool = (
  definition: ToolDefinition,
  reservedNames: ReadonlySet<string>
): Either.Either<ClientTool, HttpError> => {
  const { name, nameParam, schemaParam } = definition
  if (!toolNamePattern.test(name)) {
    return refuse(nameParam, "a tool name has 1 to 64 letters, digits, underscores or dashes.")
  }
  if (reservedNames.has(name)) {
    return refuse(
      nameParam,
      `'${name}' is one of Claude Code's own tools, which this server keeps next to yours; rename the tool.`
    )
  }
  const schema = definition.schema ?? noArguments
  // Claude Code drops the whole tool list when one schema is not of type object.
  if (schema.type !== "object") {
    return refuse(schemaParam, "the schema must have \"type\": \"object\" at the top level.")
  }
  const combinator = unsupportedCombinators.find((keyword) => keyword in schema)
  if (combinator !== undefined) {
    return refuse(
      schemaParam,
      `a top-level '${combinator}' is not supported; describe the arguments as one object with its properties at the top level.`
    )
  }
  return Either.right({ name, description: definition.description, parameters: schema })
}

/** The tools, each checked, with no name twice. */
export const checkedTools = (
  definitions: ReadonlyArray<ToolDefinition>,
  options: { readonly reservedNames?: ReadonlySet<string> | undefined } = {}
): Either.Either<ReadonlyArray<ClientTool>, HttpError> =>
  Either.gen(function*() {
    const tools: Array<ClientTool> = []
    for (const definition of definitions) {
      if (tools.some((tool) => tool.name === definition.name)) {
        return yield* refuse(definition.nameParam, `the name '${definition.name}' is used by more than one tool.`)
      }
      tools.push(yield* checkedTool(definition, options.reservedNames ?? new Set()))
    }
    return tools
  })
