/**
 * A client's own tools (function calling): what the model is offered, how it may use them,
 * and the calls it makes, independent of the wire format that carried them.
 */
import { Schema } from "effect"

/** A tool the client runs itself: the model sees its name, description and input schema. */
export const ClientTool = Schema.Struct({
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  /** A JSON Schema of type object (checked at the edge). */
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
export type ClientTool = typeof ClientTool.Type

/** How the model may use the tools this turn (best effort: Claude Code cannot force a call). */
export const ToolChoice = Schema.Union(
  Schema.TaggedStruct("auto", {}),
  Schema.TaggedStruct("none", {}),
  Schema.TaggedStruct("required", {}),
  Schema.TaggedStruct("named", { name: Schema.String })
)
export type ToolChoice = typeof ToolChoice.Type

/** A call of a client tool, as the model made it. */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  /** The arguments as JSON text. */
  arguments: Schema.String
})
export type ToolCall = typeof ToolCall.Type

/** The client's tools for a turn. */
export interface ClientTools {
  readonly tools: ReadonlyArray<ClientTool>
  readonly choice: ToolChoice
  /** Whether the model may call several tools in one answer. */
  readonly parallel: boolean
}
