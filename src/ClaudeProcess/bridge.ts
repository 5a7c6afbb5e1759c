/**
 * The gateway's side of the CLI's control protocol for a client's tools. The gateway plays
 * the MCP server it named in `initialize` (`sdkMcpServers`), reached through `mcp_message`
 * control requests: `initialize`, `tools/list`, `ping` and notifications are answered at
 * once, and every `tools/call` is held, the CLI's turn waiting on it, until the client's
 * result comes (`answer`), matched by the call's `claudecode/toolUseId`. A result may come
 * before its call: it is kept until then. Any other control request the CLI sends is refused,
 * so that it never waits. Pure: frames read in, lines to write out.
 */
import type { ContentPart } from "../Domain/Conversation.js"
import type { ClientTool } from "../Domain/Tools.js"
import { toolServer } from "./invocation.js"

/** What a client answered for one call. */
export interface ToolOutcome {
  readonly content: ReadonlyArray<ContentPart>
  readonly isError: boolean
}

/** A control request the CLI wrote (`control_request`), or its withdrawal (`control_cancel_request`). */
export interface ControlFrame {
  readonly type: "control_request" | "control_cancel_request"
  readonly request_id: string
  readonly request?: {
    readonly subtype: string
    readonly server_name?: string | undefined
    readonly message?: unknown
  } | undefined
}

interface JsonRpcMessage {
  readonly jsonrpc?: string
  readonly id?: string | number
  readonly method?: string
  readonly params?: Record<string, unknown>
}

/** A call the CLI waits on. */
interface HeldCall {
  readonly requestId: string
  readonly rpcId: string | number
  readonly toolUseId: string
}

/** Results up to this size pass to the model whole (the CLI otherwise saves large ones to a file). */
const maxResultChars = 10_000_000

const line = (frame: unknown) => JSON.stringify(frame) + "\n"

const success = (requestId: string, response: unknown) =>
  line({ type: "control_response", response: { subtype: "success", request_id: requestId, response } })

const mcpResponse = (requestId: string, message: unknown) => success(requestId, { mcp_response: message })

/** A tool's entry in `tools/list`: raw schema, never deferred, calls dispatched together. */
const listed = (tool: ClientTool) => ({
  name: tool.name,
  ...(tool.description !== null ? { description: tool.description } : {}),
  inputSchema: tool.parameters,
  annotations: { readOnlyHint: true },
  _meta: { "anthropic/alwaysLoad": true, "anthropic/maxResultSizeChars": maxResultChars }
})

const mcpContent = (content: ReadonlyArray<ContentPart>) =>
  content.map((part) =>
    part._tag === "text"
      ? { type: "text", text: part.text }
      : { type: "image", data: part.data, mimeType: part.mediaType }
  )

export class ToolBridge {
  private readonly held = new Map<string, HeldCall>()
  private readonly early = new Map<string, ToolOutcome>()

  constructor(private readonly tools: ReadonlyArray<ClientTool>) {}

  /** The lines that answer a frame the CLI wrote; none for a call that is now held. */
  receive(frame: ControlFrame): ReadonlyArray<string> {
    if (frame.type === "control_cancel_request") {
      this.forget((call) => call.requestId === frame.request_id)
      return []
    }
    const request = frame.request
    if (request?.subtype !== "mcp_message" || request.server_name !== toolServer) {
      return [line({
        type: "control_response",
        response: {
          subtype: "error",
          request_id: frame.request_id,
          error: `The gateway does not handle ${request?.subtype ?? "this"} requests`
        }
      })]
    }
    const message = (request.message ?? {}) as JsonRpcMessage
    if (message.id === undefined) {
      // A notification: acknowledged; a cancelled call is no longer held.
      if (message.method === "notifications/cancelled") {
        const cancelled = message.params?.["requestId"]
        this.forget((call) => call.rpcId === cancelled)
      }
      return [mcpResponse(frame.request_id, { jsonrpc: "2.0", result: {}, id: 0 })]
    }
    const reply = (result: unknown) => [mcpResponse(frame.request_id, { jsonrpc: "2.0", id: message.id, result })]
    switch (message.method) {
      case "initialize":
        return reply({
          protocolVersion: message.params?.["protocolVersion"] ?? "2025-06-18",
          capabilities: { tools: { listChanged: true } },
          serverInfo: { name: toolServer, version: "1" }
        })
      case "tools/list":
        return reply({ tools: [...this.tools].sort((a, b) => a.name.localeCompare(b.name)).map(listed) })
      case "tools/call": {
        const meta = message.params?.["_meta"] as Record<string, unknown> | undefined
        const toolUseId = String(meta?.["claudecode/toolUseId"] ?? "")
        const call: HeldCall = { requestId: frame.request_id, rpcId: message.id, toolUseId }
        const outcome = this.early.get(toolUseId)
        if (outcome === undefined) {
          this.held.set(toolUseId, call)
          return []
        }
        this.early.delete(toolUseId)
        return [this.result(call, outcome)]
      }
      default:
        return reply({})
    }
  }

  /** The line that answers a held call; none yet when the call has not come (it is answered then). */
  answer(toolUseId: string, outcome: ToolOutcome): ReadonlyArray<string> {
    const call = this.held.get(toolUseId)
    if (call === undefined) {
      this.early.set(toolUseId, outcome)
      return []
    }
    this.held.delete(toolUseId)
    return [this.result(call, outcome)]
  }

  /** The calls the CLI waits on now. */
  heldCalls(): ReadonlyArray<string> {
    return [...this.held.keys()]
  }

  private result(call: HeldCall, outcome: ToolOutcome) {
    return mcpResponse(call.requestId, {
      jsonrpc: "2.0",
      id: call.rpcId,
      result: { content: mcpContent(outcome.content), isError: outcome.isError }
    })
  }

  private forget(test: (call: HeldCall) => boolean) {
    for (const [id, call] of this.held) if (test(call)) this.held.delete(id)
  }
}
