/**
 * Which of the model's calls each `tools/call` the CLI sends the gateway is for. The CLI puts
 * the call's id in `_meta["claudecode/toolUseId"]` when it runs a streamed answer's calls, but
 * not for an answer that came whole (its non-streaming retry after a broken stream). The
 * ledger notes the `tool_use` blocks of the model's answers as their lines go by and gives
 * such a request the id of the unanswered call with the same tool name and arguments.
 */
import type { CliControlCancel, CliControlRequest, CliEvent } from "../Domain/CliEvent.js"

interface ModelCall {
  readonly id: string
  readonly name: string
  /** The arguments as canonical JSON. */
  readonly input: string
}

interface RpcMessage {
  readonly method?: unknown
  readonly params?: {
    readonly name?: unknown
    readonly arguments?: unknown
    readonly _meta?: Record<string, unknown>
  }
}

/** JSON with object keys sorted, so two serialisations of the same value compare equal. */
const canonical = (value: unknown): string =>
  JSON.stringify(
    value ?? {},
    (_key, inner: unknown) =>
      typeof inner === "object" && inner !== null && !Array.isArray(inner)
        ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => a.localeCompare(b)))
        : inner
  )

const toolCallOf = (frame: CliControlRequest | CliControlCancel): RpcMessage | null => {
  if (frame.type !== "control_request" || frame.request.subtype !== "mcp_message") return null
  const message = frame.request.message as RpcMessage | undefined
  return message?.method === "tools/call" ? message : null
}

export class CallLedger {
  /** Calls the model made that no `tools/call` has claimed yet, oldest first. */
  private pending: Array<ModelCall> = []

  /** Notes the calls of a top-level answer; a `result` line ends the CLI's turn and its calls. */
  observe(event: CliEvent): void {
    if (event.type === "result") {
      this.pending = []
    } else if (event.type === "assistant" && event.parent_tool_use_id == null && event.error === undefined) {
      for (const block of event.message.content) {
        if (block.type === "tool_use" && "name" in block) {
          this.pending.push({ id: block.id, name: block.name, input: canonical(block.input) })
        }
      }
    }
  }

  /**
   * For a `tools/call` request: the id of the call it runs, and the frame with that id filled
   * in when the CLI left it out (null when no call matches). Other frames pass unchanged.
   */
  resolve<F extends CliControlRequest | CliControlCancel>(
    frame: F
  ): { readonly frame: F; readonly toolUseId: string | null } {
    const message = toolCallOf(frame)
    if (message === null) return { frame, toolUseId: null }
    const given = message.params?._meta?.["claudecode/toolUseId"]
    const index = typeof given === "string"
      ? this.pending.findIndex((call) => call.id === given)
      : this.pending.findIndex((call) =>
        call.name === message.params?.name && call.input === canonical(message.params?.arguments)
      )
    const matched = index === -1 ? null : this.pending.splice(index, 1)[0]!.id
    if (typeof given === "string") return { frame, toolUseId: given }
    if (matched === null) return { frame, toolUseId: null }
    const params = { ...message.params, _meta: { ...message.params?._meta, "claudecode/toolUseId": matched } }
    const request = { ...(frame as CliControlRequest).request, message: { ...message, params } }
    return { frame: { ...frame, request }, toolUseId: matched }
  }
}
