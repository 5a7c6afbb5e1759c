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

/**
 * Names of Claude Code's own tools (those of the pinned CLI, and of earlier versions). With
 * Claude Code's tools kept next to the client's, a client tool may not take one of them:
 * both reach the model under their bare names.
 */
export const claudeCodeToolNames: ReadonlySet<string> = new Set([
  "Agent",
  "Bash",
  "BashOutput",
  "CronCreate",
  "CronDelete",
  "CronList",
  "Edit",
  "EnterWorktree",
  "ExitPlanMode",
  "ExitWorktree",
  "Glob",
  "Grep",
  "KillBash",
  "KillShell",
  "LS",
  "MultiEdit",
  "NotebookEdit",
  "NotebookRead",
  "Read",
  "ReportFindings",
  "ScheduleWakeup",
  "SendMessage",
  "Skill",
  "StructuredOutput",
  "Task",
  "TaskCreate",
  "TaskGet",
  "TaskList",
  "TaskOutput",
  "TaskStop",
  "TaskUpdate",
  "TodoWrite",
  "ToolSearch",
  "WebFetch",
  "WebSearch",
  "Workflow",
  "Write"
])

/** The client's tools for a turn. */
export interface ClientTools {
  readonly tools: ReadonlyArray<ClientTool>
  readonly choice: ToolChoice
  /** Whether the model may call several tools in one answer. */
  readonly parallel: boolean
}
