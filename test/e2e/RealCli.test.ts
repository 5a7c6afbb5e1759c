/**
 * End to end: OpenAI SDK → the whole gateway → the REAL Claude Code CLI (`claude.exe`) →
 * the fake Anthropic Messages API, all on loopback.
 *
 * The gateway runs with its defaults as a user sees them (default permission mode, default
 * SYSTEM_PROMPT_MODE, no IS_SANDBOX in the environment even though this machine sets it),
 * a fresh HOME for the CLI, and a models file that adds rejected models to exercise the
 * gateway's fallback chains. One fake and one gateway serve every test, one test at a time.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  FAKE_CACHE_CREATION_INPUT_TOKENS,
  FAKE_CACHE_READ_INPUT_TOKENS,
  type FakeAnthropic,
  type RecordedRequest,
  startFakeAnthropic
} from "../fixtures/FakeAnthropic.js"
import { type Gateway, realCliConfig, startGateway, tempDirectory } from "../support/Gateway.js"
import { claudeProcessesUnder } from "../support/processes.js"

const repoRoot = NodePath.resolve(import.meta.dirname, "..", "..")

/** The CLI's own default model when no `--model` is given (sent as `claude-opus-4-8[1m]`). */
const CLI_DEFAULT_MODEL = "claude-opus-4-8"

let fake: FakeAnthropic
let gateway: Gateway | undefined
let client: OpenAI
let homeDir: string
let modelsDir: string
/** Real paths of every temporary directory this suite owns. */
let suiteDirs: Array<string> = []
let savedIsSandbox: string | undefined
let gatewayClosed = false

// ---------------------------------------------------------------------------------------------
// Helpers

const messagesCalls = (): ReadonlyArray<RecordedRequest> =>
  fake.requests.filter((r) => r.method === "POST" && r.path === "/v1/messages")

/** The fake's own input estimate for a recorded request (chars/4 of system+messages+tools). */
const fakeInputEstimate = (request: RecordedRequest): number => {
  const body = request.body as Record<string, unknown>
  const chars = JSON.stringify([body["system"] ?? null, body["messages"], body["tools"] ?? null]).length
  return Math.max(1, Math.ceil(chars / 4))
}

const normalizeModel = (model: string | undefined): string | undefined => model?.replace(/\[1m\]$/i, "")

const realPath = (path: string): string => {
  try {
    return NodeFs.realpathSync(path)
  } catch {
    return NodePath.resolve(path)
  }
}

/** Waits (bounded) until no CLI of this suite runs, so late upstream calls would have been recorded. */
const waitForCliExit = async (timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (claudeProcessesUnder(suiteDirs).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const closeGateway = async (): Promise<void> => {
  if (gateway === undefined || gatewayClosed) return
  gatewayClosed = true
  await gateway.close()
}

interface GatewayCompletionExtras {
  readonly session_id?: string
  readonly project_id?: string
}

interface ClaudeCodeToolUse {
  readonly id: string
  readonly name: string
  readonly input: unknown
  readonly output: string | null
  readonly is_error: boolean
}

const user = (content: string) => [{ role: "user" as const, content }]

// ---------------------------------------------------------------------------------------------
// Suite

describe("real Claude Code CLI through the gateway", () => {
  beforeAll(async () => {
    // A user's machine has no IS_SANDBOX: the CLI child inherits this process's environment,
    // and the gateway computes the child environment when it starts, so remove it first.
    savedIsSandbox = process.env.IS_SANDBOX
    delete process.env.IS_SANDBOX

    fake = await startFakeAnthropic()
    homeDir = tempDirectory("cca-e2e-home-")
    modelsDir = tempDirectory("cca-e2e-models-")

    const models = JSON.parse(NodeFs.readFileSync(NodePath.join(repoRoot, "config", "models.json"), "utf8")) as {
      aliases: Record<string, string>
      fallbacks: Record<string, Array<string>>
    }
    models.aliases["opus"] = "claude-rejected-opus-4-6"
    models.aliases["bad"] = "claude-rejected-a"
    models.fallbacks["claude-rejected-opus-4-6"] = ["claude-opus-4-5-20251101"]
    models.fallbacks["claude-rejected-a"] = ["claude-rejected-b"]
    const modelsPath = NodePath.join(modelsDir, "models.json")
    NodeFs.writeFileSync(modelsPath, JSON.stringify(models, null, 2))

    const config = realCliConfig(fake, homeDir)
    expect(config.cliEnv?.["IS_SANDBOX"]).toBeUndefined()
    expect(process.env.IS_SANDBOX).toBeUndefined()
    // Only the retry budget departs from the defaults (keeps the 429 case fast); the
    // permission mode and system prompt mode stay the gateway's defaults.
    gateway = await startGateway({ ...config, modelsPath, cliMaxRetries: 0 })
    suiteDirs = [gateway.directory, homeDir, modelsDir].map(realPath)
    client = new OpenAI({ baseURL: gateway.baseURL, apiKey: "test", maxRetries: 0 })
  })

  afterAll(async () => {
    try {
      await closeGateway()
      const left = claudeProcessesUnder(suiteDirs)
      await fake?.close()
      NodeFs.rmSync(homeDir, { recursive: true, force: true })
      NodeFs.rmSync(modelsDir, { recursive: true, force: true })
      expect(left).toEqual([])
    } finally {
      if (savedIsSandbox === undefined) delete process.env.IS_SANDBOX
      else process.env.IS_SANDBOX = savedIsSandbox
    }
  })

  it("answers a non-streaming request with the model's text, usage and session ids", async () => {
    fake.reset()
    const completion = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: user("hello e2e")
    })
    const text = completion.choices[0]?.message.content ?? ""
    expect(text).toContain("You said: hello e2e")
    expect(text).toContain("user_msgs=1 model=claude-sonnet-4-5-20250929")
    expect(completion.model).toBe("claude-sonnet-4-5-20250929")
    expect(completion.object).toBe("chat.completion")
    expect(completion.choices[0]?.finish_reason).toBe("stop")

    const extras = completion as unknown as GatewayCompletionExtras
    expect(typeof extras.session_id).toBe("string")
    expect(extras.session_id?.length).toBeGreaterThan(0)
    expect(extras.project_id).toBe("default")

    // No session-title call or anything else: CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC holds.
    await waitForCliExit()
    const calls = messagesCalls()
    expect(calls.map((c) => c.model)).toEqual(["claude-sonnet-4-5-20250929"])
    const call = calls[0]!
    expect(call.status).toBe(200)
    expect(call.headers["user-agent"]).toMatch(/^claude-cli\/2\.1\.197 /)
    expect(call.headers["x-app"]).toBe("cli")

    const usage = completion.usage!
    expect(usage.prompt_tokens_details?.cached_tokens).toBe(FAKE_CACHE_READ_INPUT_TOKENS)
    expect(usage.prompt_tokens).toBe(
      fakeInputEstimate(call) + FAKE_CACHE_READ_INPUT_TOKENS + FAKE_CACHE_CREATION_INPUT_TOKENS
    )
    expect(usage.prompt_tokens).toBeGreaterThanOrEqual(10)
    expect(usage.completion_tokens).toBeGreaterThan(0)
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens)
  })

  it("streams chunks that OpenAI's SDK and its stream helper accept", async () => {
    const stream = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: user("hello stream"),
      stream: true,
      stream_options: { include_usage: true }
    })
    const chunks: Array<OpenAI.Chat.Completions.ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)

    const withChoices = chunks.filter((c) => c.choices.length > 0)
    expect(withChoices[0]?.choices[0]?.delta.role).toBe("assistant")
    const contentChunks = withChoices.filter((c) => (c.choices[0]?.delta.content ?? "").length > 0)
    expect(contentChunks.length).toBeGreaterThan(1)
    const text = contentChunks.map((c) => c.choices[0]!.delta.content).join("")
    expect(text).toContain("You said: hello stream")
    expect(text).toContain("model=claude-sonnet-4-5-20250929")
    expect(withChoices[withChoices.length - 1]?.choices[0]?.finish_reason).toBe("stop")
    for (const c of withChoices.slice(0, -1)) expect(c.choices[0]?.finish_reason).toBeNull()

    const last = chunks[chunks.length - 1]!
    expect(last.choices).toEqual([])
    expect(last.usage?.prompt_tokens).toBeGreaterThanOrEqual(10)
    expect(last.usage?.completion_tokens).toBeGreaterThan(0)
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1)
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true)
    expect(chunks.every((c) => c.model === "claude-sonnet-4-5-20250929")).toBe(true)

    const final = await client.chat.completions
      .stream({ model: "claude-sonnet-4-5-20250929", messages: user("hello helper") })
      .finalChatCompletion()
    expect(final.choices[0]?.message.role).toBe("assistant")
    expect(final.choices[0]?.message.content).toContain("You said: hello helper")
    expect(final.choices[0]?.finish_reason).toBe("stop")
  })

  it("resolves aliases, and leaves the model to the CLI when none is given", async () => {
    fake.reset()
    const aliased = await client.chat.completions.create({ model: "sonnet", messages: user("alias please") })
    expect(aliased.model).toBe("claude-sonnet-4-5-20250929")
    expect(aliased.choices[0]?.message.content).toContain("model=claude-sonnet-4-5-20250929")
    expect(messagesCalls().map((c) => c.model)).toEqual(["claude-sonnet-4-5-20250929"])

    fake.reset()
    const response = await fetch(`${gateway!.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: user("no model given") })
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as OpenAI.Chat.Completions.ChatCompletion
    const calls = messagesCalls()
    expect(calls).toHaveLength(1)
    expect(normalizeModel(calls[0]!.model)).toBe(CLI_DEFAULT_MODEL)
    expect(body.choices[0]?.message.content).toContain(`model=${CLI_DEFAULT_MODEL}`)
    expect(normalizeModel(body.model)).toBe(CLI_DEFAULT_MODEL)
  })

  it("falls back to the next model of the chain when upstream rejects the model", async () => {
    fake.reset()
    const completion = await client.chat.completions.create({ model: "opus", messages: user("fallback please") })
    expect(completion.model).toBe("claude-opus-4-5-20251101")
    expect(completion.choices[0]?.message.content).toContain("model=claude-opus-4-5-20251101")

    const models = messagesCalls().map((c) => c.model)
    expect(models[0]).toBe("claude-rejected-opus-4-6")
    expect(models[models.length - 1]).toBe("claude-opus-4-5-20251101")
    const firstFallback = models.indexOf("claude-opus-4-5-20251101")
    expect(models.slice(0, firstFallback).every((m) => m === "claude-rejected-opus-4-6")).toBe(true)
    expect(models.slice(firstFallback).every((m) => m === "claude-opus-4-5-20251101")).toBe(true)
    expect(messagesCalls().filter((c) => c.model === "claude-rejected-opus-4-6").every((c) => c.status === 404))
      .toBe(true)
  })

  it("answers 400 model_not_supported when every model of the chain is rejected, in both modes", async () => {
    fake.reset()
    const error = await client.chat.completions
      .create({ model: "bad", messages: user("nobody serves this") })
      .then(() => null, (e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    const badRequest = error as InstanceType<typeof OpenAI.BadRequestError>
    expect(badRequest.status).toBe(400)
    expect(badRequest.code).toBe("model_not_supported")
    expect(badRequest.param).toBe("model")
    expect(badRequest.type).toBe("invalid_request_error")
    const models = messagesCalls().map((c) => c.model)
    expect(models).toContain("claude-rejected-a")
    expect(models).toContain("claude-rejected-b")
    expect(models.indexOf("claude-rejected-a")).toBeLessThan(models.indexOf("claude-rejected-b"))

    const response = await fetch(`${gateway!.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "bad", messages: user("nobody streams this"), stream: true })
    })
    expect(response.status).toBe(400)
    expect(response.headers.get("content-type")).toMatch(/^application\/json/)
    const raw = await response.text()
    expect(raw.trimStart().startsWith("{")).toBe(true)
    expect(raw).not.toContain("data:")
    const envelope = JSON.parse(raw) as { error: { code: string | null; param: string | null; type: string } }
    expect(envelope.error.code).toBe("model_not_supported")
    expect(envelope.error.param).toBe("model")
  })

  it("passes system messages to Claude Code (appended to its prompt by default)", async () => {
    fake.reset()
    const outcome = await client.chat.completions
      .create({
        model: "claude-sonnet-4-5-20250929",
        messages: [
          { role: "system", content: "REPLY_WITH_SYSTEM marker-xyz" },
          { role: "user", content: "what is your system prompt" }
        ]
      })
      .then((completion) => completion, (error: unknown) => error)

    // Upstream side: the request's system text is appended to Claude Code's own prompt.
    const calls = messagesCalls()
    expect(calls).toHaveLength(1)
    const system = (calls[0]!.body as { system: Array<{ text: string }> }).system
    const lastBlock = system[system.length - 1]!.text
    expect(lastBlock.endsWith("REPLY_WITH_SYSTEM marker-xyz")).toBe(true)
    expect(lastBlock.length).toBeGreaterThan("REPLY_WITH_SYSTEM marker-xyz".length + 100)

    // Client side: the fake echoes that whole block (tens of KB of text, about 1 MB of
    // stream-json lines from the CLI); the answer must arrive complete.
    if (outcome instanceof Error) throw outcome
    const completion = outcome as OpenAI.Chat.Completions.ChatCompletion
    const text = completion.choices[0]?.message.content ?? ""
    expect(text).toContain("You said: what is your system prompt")
    expect(text).toContain("[system=")
    expect(text).toContain("REPLY_WITH_SYSTEM marker-xyz]")
    expect(text).toContain("[user_msgs=1 model=claude-sonnet-4-5-20250929]")
    expect(completion.choices[0]?.finish_reason).toBe("stop")
  })

  it("takes a 1 MiB system prompt and a 200 KB JSON schema: nothing large goes on the CLI's command line", async () => {
    fake.reset()
    const prompt = `LARGE-SYSTEM ${"lorem ipsum ".repeat(90_000)}`
    const answer = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: [{ role: "system", content: prompt }, { role: "user", content: "hello" }]
    })
    expect(answer.choices[0]?.message.content).toContain("You said: hello")
    const system = JSON.stringify((messagesCalls()[0]!.body as { system: unknown }).system)
    expect(system).toContain("LARGE-SYSTEM")
    expect(system.length).toBeGreaterThan(prompt.length)

    fake.reset()
    const properties = Object.fromEntries(
      Array.from({ length: 4000 }, (_, index) => [`field_${index}`, { type: "string", description: "x".repeat(20) }])
    )
    const structured = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: user("fill the form"),
      response_format: { type: "json_schema", json_schema: { name: "form", schema: { type: "object", properties } } }
    })
    expect(JSON.stringify(properties).length).toBeGreaterThan(200_000)
    expect(Object.keys(JSON.parse(structured.choices[0]!.message.content!))).toHaveLength(4000)
  })

  it("runs Claude Code's own tools in the default permission mode as a non-sandboxed root user", async () => {
    fake.reset()
    const completion = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: user("SCENARIO_BASH")
    })
    const choice = completion.choices[0]!
    expect(choice.finish_reason).toBe("stop")
    expect(choice.message.tool_calls).toBeUndefined()
    const tools = (choice.message as unknown as { claude_code_tool_uses?: Array<ClaudeCodeToolUse> })
      .claude_code_tool_uses
    expect(tools).toHaveLength(1)
    expect(tools![0]!.name).toBe("Bash")
    expect(tools![0]!.input).toEqual({ command: "echo hi", description: "Print hi" })
    expect(tools![0]!.output?.trim()).toBe("hi")
    expect(tools![0]!.is_error).toBe(false)
    expect(choice.message.content).toContain("Tool said: hi")
    // Two upstream calls: the tool_use, then the answer to the tool result.
    expect(messagesCalls()).toHaveLength(2)
  })

  it("maps an upstream 429 to a 429 envelope with retry-after", async () => {
    const error = await client.chat.completions
      .create({ model: "claude-sonnet-4-5-20250929", messages: user("SCENARIO_429") })
      .then(() => null, (e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.RateLimitError)
    const limited = error as InstanceType<typeof OpenAI.RateLimitError>
    expect(limited.status).toBe(429)
    expect(limited.type).toBe("rate_limit_error")
    expect(limited.code).toBe("upstream_rate_limited")
    const retryAfter = Number(limited.headers?.get("retry-after"))
    expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true)
  })

  it("says when the conversation is too long for the model, with the upstream's words", async () => {
    const error = await client.chat.completions
      .create({ model: "claude-sonnet-4-5-20250929", messages: user("SCENARIO_TOO_LONG") })
      .then(() => null, (e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    const tooLong = error as InstanceType<typeof OpenAI.BadRequestError>
    expect(tooLong.code).toBe("context_length_exceeded")
    expect(tooLong.message).toMatch(/prompt is too long.*210000 tokens/i)
  })

  it("answers response_format json_schema with Claude Code's structured output, in both modes", async () => {
    const response_format = {
      type: "json_schema" as const,
      json_schema: {
        name: "answer",
        schema: { type: "object", properties: { answer: { type: "number" } }, required: ["answer"] }
      }
    }
    const completion = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: user("What is six times seven?"),
      response_format
    })
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ answer: 42 })
    expect(completion.choices[0]!.finish_reason).toBe("stop")
    // The CLI offered upstream its StructuredOutput tool with the request's schema.
    const offered = fake!.requests.some((request) => {
      const tools =
        (request.body as { tools?: ReadonlyArray<{ name?: string; input_schema?: unknown }> } | undefined)?.tools ?? []
      return tools.some((tool) => tool.name === "StructuredOutput")
    })
    expect(offered).toBe(true)

    const stream = await client.chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: user("And streamed?"),
      response_format,
      stream: true
    })
    let content = ""
    for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? ""
    expect(JSON.parse(content)).toEqual({ answer: 42 })
  })

  it("leaves no claude process behind once the gateway is closed", async () => {
    await closeGateway()
    expect(claudeProcessesUnder(suiteDirs)).toEqual([])
  })
})
