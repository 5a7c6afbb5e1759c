/**
 * The gateway's MCP server for a client's tools, replayed against the control frames the pinned
 * CLI wrote in `test/fixtures/cli/client-tools` (scripts/record-client-tools.ts). The recordings
 * already name the server `gateway`, the bridge's `toolServer`, so frames are replayed unchanged.
 */
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { type ControlFrame, ToolBridge, type ToolOutcome } from "../../src/ClaudeProcess/bridge.js"
import type { ContentPart } from "../../src/Domain/Conversation.js"
import type { ClientTool } from "../../src/Domain/Tools.js"

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "cli", "client-tools")

interface Recorded {
  readonly dir: "in" | "out"
  readonly frame: any
}

const recording = (name: string): ReadonlyArray<Recorded> =>
  readFileSync(join(FIXTURES, `${name}.frames.jsonl`), "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line))

/** The control requests the CLI wrote, in order. */
const cliRequests = (name: string): ReadonlyArray<ControlFrame> =>
  recording(name)
    .filter(({ dir, frame }) =>
      dir === "out" && (frame.type === "control_request" || frame.type === "control_cancel_request")
    )
    .map(({ frame }) => frame)

/** The lines as frames, each a whole JSON line. */
const parsed = (lines: ReadonlyArray<string>) =>
  lines.map((line) => {
    expect(line.endsWith("\n")).toBe(true)
    return JSON.parse(line)
  })

const fromMcp = (part: any): ContentPart =>
  part.type === "text"
    ? { _tag: "text", text: part.text }
    : { _tag: "image", data: part.data, mediaType: part.mimeType }

const citySchema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
const tool = (name: string): ClientTool => ({
  name,
  description: `The ${name.replace("_", " ")} of a city`,
  parameters: citySchema
})
const weatherAndTime = [tool("get_weather"), tool("get_time")]

/** A bridge past the recorded handshake, and the recorded `tools/call` requests. */
const afterHandshake = (name: string) => {
  const bridge = new ToolBridge(weatherAndTime)
  const calls: Array<ControlFrame> = []
  for (const frame of cliRequests(name)) {
    if (frame.request?.message && (frame.request.message as any).method === "tools/call") calls.push(frame)
    else if (calls.length === 0) bridge.receive(frame)
  }
  return { bridge, calls }
}

const mcpResponse = (requestId: string, message: unknown) => ({
  type: "control_response",
  response: { subtype: "success", request_id: requestId, response: { mcp_response: message } }
})
const text = (value: string): ToolOutcome => ({ content: [{ _tag: "text", text: value }], isError: false })

describe("ToolBridge replaying the recorded CLI", () => {
  it.each([
    ["single", 1],
    ["parallel", 2],
    ["error_and_large_results", 2],
    ["user_while_held", 1],
    ["interrupt_while_held", 0],
    ["system_prompt_in_initialize", 0]
  ])("%s: every answer equals the one the CLI accepted (%i calls answered)", (name, answeredCalls) => {
    const frames = recording(name)
    const replies = new Map<string, unknown>(
      frames.filter((r) => r.dir === "in" && r.frame.type === "control_response")
        .map((r) => [r.frame.response.request_id, r.frame])
    )
    const list = frames.find((r) => r.dir === "out" && r.frame.request?.message?.method === "tools/list")!.frame
    const recordedTools: Array<any> = (replies.get(list.request_id) as any).response.response.mcp_response.result.tools
    const bridge = new ToolBridge(
      recordedTools.map((t) => ({ name: t.name, description: t.description, parameters: t.inputSchema }))
    )
    const held = new Map<string, string>() // request_id → toolUseId
    let answered = 0
    for (const { dir, frame } of frames) {
      if (dir === "out" && frame.type === "control_request") {
        const message = frame.request.message
        const lines = bridge.receive(frame)
        if (message.method === "tools/call") {
          const toolUseId = message.params._meta["claudecode/toolUseId"]
          expect(lines).toEqual([])
          expect(bridge.heldCalls()).toContain(toolUseId)
          held.set(frame.request_id, toolUseId)
        } else if (message.method === "tools/list") {
          // The recorder listed tools unsorted and without anthropic/alwaysLoad (checked below).
          const tools = parsed(lines)[0].response.response.mcp_response.result.tools
          expect(tools.map((t: any) => t.name)).toEqual(recordedTools.map((t) => t.name).sort())
        } else {
          expect(parsed(lines)).toEqual([replies.get(frame.request_id)])
        }
      } else if (dir === "in" && frame.type === "control_response" && held.has(frame.response.request_id)) {
        const result = frame.response.response.mcp_response.result
        const lines = bridge.answer(held.get(frame.response.request_id)!, {
          content: result.content.map(fromMcp),
          isError: result.isError
        })
        expect(parsed(lines)).toEqual([frame])
        answered++
      }
    }
    expect(answered).toBe(answeredCalls)
    expect(bridge.heldCalls()).toEqual([])
  })

  it("lists the tools by name, bare, with their schema verbatim, read-only and never deferred", () => {
    const schema = { type: "object", properties: { q: { anyOf: [{ type: "string" }, { const: 1 }] } } }
    const bridge = new ToolBridge([...weatherAndTime, { name: "search", description: null, parameters: schema }])
    const [list] = cliRequests("parallel").filter((f) => (f.request?.message as any)?.method === "tools/list")
    const meta = { "anthropic/alwaysLoad": true, "anthropic/maxResultSizeChars": 10_000_000 }
    const listed = (name: string, inputSchema: unknown, description?: string) => ({
      name,
      ...(description ? { description } : {}),
      inputSchema,
      annotations: { readOnlyHint: true },
      _meta: meta
    })
    expect(parsed(bridge.receive(list!))).toEqual([mcpResponse(list!.request_id, {
      jsonrpc: "2.0",
      id: 1,
      result: {
        tools: [
          listed("get_time", citySchema, "The get time of a city"),
          listed("get_weather", citySchema, "The get weather of a city"),
          listed("search", schema)
        ]
      }
    })])
  })

  it("holds parallel calls together and answers them in any order", () => {
    const { bridge, calls } = afterHandshake("parallel")
    expect(calls.map((call) => bridge.receive(call))).toEqual([[], []])
    expect(bridge.heldCalls()).toEqual(["toolu_fake_0001", "toolu_fake_0002"])
    expect(parsed(bridge.answer("toolu_fake_0002", text("noon")))).toEqual([
      mcpResponse(calls[1]!.request_id, {
        jsonrpc: "2.0",
        id: 3,
        result: { content: [{ type: "text", text: "noon" }], isError: false }
      })
    ])
    expect(bridge.heldCalls()).toEqual(["toolu_fake_0001"])
    const image: ToolOutcome = {
      content: [{ _tag: "text", text: "map:" }, { _tag: "image", mediaType: "image/png", data: "iVBORw0KGgo=" }],
      isError: true
    }
    expect(parsed(bridge.answer("toolu_fake_0001", image))).toEqual([
      mcpResponse(calls[0]!.request_id, {
        jsonrpc: "2.0",
        id: 2,
        result: {
          content: [{ type: "text", text: "map:" }, { type: "image", data: "iVBORw0KGgo=", mimeType: "image/png" }],
          isError: true
        }
      })
    ])
    expect(bridge.heldCalls()).toEqual([])
    expect(bridge.answer("toolu_fake_0001", text("again"))).toEqual([])
  })

  it("keeps an early answer until its call comes, then answers at once", () => {
    const { bridge, calls } = afterHandshake("single")
    expect(bridge.answer("toolu_fake_0001", text("sunny, 21 C"))).toEqual([])
    expect(bridge.heldCalls()).toEqual([])
    expect(parsed(bridge.receive(calls[0]!))).toEqual([
      mcpResponse(calls[0]!.request_id, {
        jsonrpc: "2.0",
        id: 2,
        result: { content: [{ type: "text", text: "sunny, 21 C" }], isError: false }
      })
    ])
    expect(bridge.heldCalls()).toEqual([])
  })

  it("forgets a call the CLI cancelled with notifications/cancelled (recorded interrupt)", () => {
    const { bridge, calls } = afterHandshake("interrupt_while_held")
    const cancelled = cliRequests("interrupt_while_held").at(-1)!
    expect(cancelled.request?.message).toMatchObject({ method: "notifications/cancelled", params: { requestId: 2 } })
    expect(bridge.receive(calls[0]!)).toEqual([])
    expect(bridge.heldCalls()).toEqual(["toolu_fake_0001"])
    expect(parsed(bridge.receive(cancelled))).toEqual([
      mcpResponse(cancelled.request_id, { jsonrpc: "2.0", result: {}, id: 0 })
    ])
    expect(bridge.heldCalls()).toEqual([])
    expect(bridge.answer("toolu_fake_0001", text("too late"))).toEqual([])
  })

  it("forgets only the call a control_cancel_request withdraws", () => {
    const { bridge, calls } = afterHandshake("parallel")
    calls.forEach((call) => bridge.receive(call))
    expect(bridge.receive({ type: "control_cancel_request", request_id: calls[0]!.request_id })).toEqual([])
    expect(bridge.heldCalls()).toEqual(["toolu_fake_0002"])
    expect(bridge.answer("toolu_fake_0001", text("too late"))).toEqual([])
    expect(parsed(bridge.answer("toolu_fake_0002", text("noon")))[0].response.request_id).toBe(calls[1]!.request_id)
  })

  it("answers ping with an empty result", () => {
    const bridge = new ToolBridge([])
    const ping = { subtype: "mcp_message", server_name: "gateway", message: { jsonrpc: "2.0", id: 9, method: "ping" } }
    expect(parsed(bridge.receive({ type: "control_request", request_id: "p1", request: ping }))).toEqual([
      mcpResponse("p1", { jsonrpc: "2.0", id: 9, result: {} })
    ])
  })

  it("refuses other control requests and other servers with an error response", () => {
    const bridge = new ToolBridge(weatherAndTime)
    const [call] = afterHandshake("single").calls
    const refusal = (requestId: string, subtype: string) => ({
      type: "control_response",
      response: { subtype: "error", request_id: requestId, error: `The gateway does not handle ${subtype} requests` }
    })
    const canUseTool = {
      subtype: "can_use_tool",
      tool_name: "get_weather",
      input: { city: "fake" },
      tool_use_id: "toolu_fake_0001"
    }
    expect(parsed(bridge.receive({ type: "control_request", request_id: "c1", request: canUseTool }))).toEqual([
      refusal("c1", "can_use_tool")
    ])
    const elsewhere = { ...call!, request: { ...call!.request!, server_name: "other" } }
    expect(parsed(bridge.receive(elsewhere))).toEqual([refusal(call!.request_id, "mcp_message")])
    expect(bridge.heldCalls()).toEqual([])
  })
})
