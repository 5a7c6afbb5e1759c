/**
 * `CallLedger`: the `tools/call` requests the CLI sends are matched to the model's calls,
 * by the id the CLI gives, or (when it gives none, as for an answer that came whole) by tool
 * name and arguments, whatever the order of their keys.
 */
import { describe, expect, it } from "@effect/vitest"
import { CallLedger } from "../../src/ClaudeProcess/dispatch.js"
import { type CliControlRequest, decodeCliLine } from "../../src/Domain/CliEvent.js"

const answer = (...calls: ReadonlyArray<{ id: string; name: string; input: unknown }>) =>
  decodeCliLine(JSON.stringify({
    type: "assistant",
    message: { id: "msg", content: calls.map((call) => ({ type: "tool_use", ...call })), stop_reason: "tool_use" }
  }))

const toolsCall = (name: string, args: unknown, meta: Record<string, unknown> = { progressToken: 1 }) =>
  decodeCliLine(JSON.stringify({
    type: "control_request",
    request_id: `req-${name}`,
    request: {
      subtype: "mcp_message",
      server_name: "gateway",
      message: { method: "tools/call", params: { name, arguments: args, _meta: meta }, jsonrpc: "2.0", id: 7 }
    }
  })) as CliControlRequest

const metaOf = (frame: CliControlRequest) =>
  (frame.request.message as { params: { _meta: Record<string, unknown> } }).params._meta

describe("CallLedger", () => {
  it("fills in the call's id by tool name and arguments (keys in any order), each call once", () => {
    const ledger = new CallLedger()
    ledger.observe(answer(
      { id: "toolu_1", name: "get_weather", input: { city: "Paris", days: 2 } },
      { id: "toolu_2", name: "get_weather", input: { city: "Oslo" } }
    ))
    const second = ledger.resolve(toolsCall("get_weather", { city: "Oslo" }))
    expect(second.toolUseId).toBe("toolu_2")
    expect(metaOf(second.frame)).toEqual({ progressToken: 1, "claudecode/toolUseId": "toolu_2" })
    expect(ledger.resolve(toolsCall("get_weather", { days: 2, city: "Paris" })).toolUseId).toBe("toolu_1")
    // Both are claimed: the same request again matches nothing and passes unchanged.
    const again = toolsCall("get_weather", { city: "Oslo" })
    expect(ledger.resolve(again)).toEqual({ frame: again, toolUseId: null })
  })

  it("keeps the id the CLI gave, and a result line forgets the turn's calls", () => {
    const ledger = new CallLedger()
    ledger.observe(answer({ id: "toolu_1", name: "search", input: {} }))
    const given = toolsCall("search", {}, { "claudecode/toolUseId": "toolu_1" })
    expect(ledger.resolve(given)).toEqual({ frame: given, toolUseId: "toolu_1" })
    ledger.observe(answer({ id: "toolu_3", name: "search", input: {} }))
    ledger.observe(decodeCliLine(JSON.stringify({ type: "result", subtype: "success", is_error: false })))
    expect(ledger.resolve(toolsCall("search", {})).toolUseId).toBeNull()
  })

  it("leaves other frames alone, and ignores sub-agents' calls", () => {
    const ledger = new CallLedger()
    ledger.observe(decodeCliLine(JSON.stringify({
      type: "assistant",
      parent_tool_use_id: "toolu_parent",
      message: { id: "m", content: [{ type: "tool_use", id: "toolu_9", name: "search", input: {} }] }
    })))
    expect(ledger.resolve(toolsCall("search", {})).toolUseId).toBeNull()
    const list = decodeCliLine(JSON.stringify({
      type: "control_request",
      request_id: "r",
      request: { subtype: "mcp_message", server_name: "gateway", message: { method: "tools/list", id: 1 } }
    })) as CliControlRequest
    expect(ledger.resolve(list)).toEqual({ frame: list, toolUseId: null })
  })
})
