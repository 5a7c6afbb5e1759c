/**
 * The HTTP edge's single error: every domain error's status, type, code, param and
 * Retry-After (and that no message carries internals), the upstream status mapping,
 * cancelled turns, the response an `HttpError` becomes, and `paramOf`.
 */
import { describe, expect, it } from "vitest"
import {
  CapacityExceeded,
  CliExitedEarly,
  CliNotFound,
  CliTimeout,
  CliTurnError,
  InternalFailure,
  InvalidTurnRequest,
  ModelNotFound,
  ModelRejected,
  ProjectExists,
  ProjectNotFound,
  RateLimited,
  SessionBusy,
  SessionIsClosed,
  SessionNotFound,
  ShuttingDown,
  StoreError,
  TooManyAuthFailures,
  Unauthorized,
  UpstreamFailure
} from "../../../src/Domain/Errors.js"
import {
  fromCancel,
  fromDomain,
  HttpError,
  internalError,
  invalidRequest,
  notFound,
  paramOf
} from "../../../src/Http/Edge/Errors.js"

// ---------------------------------------------------------------------------
// Builders

type DomainError = Parameters<typeof fromDomain>[0]

/** What a client sees of an error, besides its message. */
const shape = (error: HttpError) => ({
  status: error.status,
  type: error.type,
  code: error.code,
  param: error.param,
  retryAfterSeconds: error.retryAfterSeconds
})

const upstream = (status: number | null, retryAfterSeconds: number | null = null, kind: string | null = null) =>
  new UpstreamFailure({
    status,
    kind,
    message: "API Error: 500 {\"type\":\"error\"} from https://api.anthropic.com/v1/messages",
    retryAfterSeconds
  })

/** The response's status, headers and parsed JSON body. */
const responseOf = (error: HttpError) => {
  const response = error.toResponse()
  if (response.body._tag !== "Uint8Array") throw new Error(`expected a JSON body, got ${response.body._tag}`)
  return {
    status: response.status,
    headers: response.headers,
    contentType: response.body.contentType,
    json: JSON.parse(new TextDecoder().decode(response.body.body)) as unknown
  }
}

const SECRET = "/home/gateway/.claude secret-token-123"

// ---------------------------------------------------------------------------

describe("fromDomain", () => {
  it.each<[string, DomainError, ReturnType<typeof shape>, string]>([
    [
      "InvalidTurnRequest",
      new InvalidTurnRequest({ message: "Bad content.", param: "messages[0]", code: "invalid_value" }),
      {
        status: 400,
        type: "invalid_request_error",
        code: "invalid_value",
        param: "messages[0]",
        retryAfterSeconds: null
      },
      "Bad content."
    ],
    [
      "ModelRejected (one model)",
      new ModelRejected({ models: ["claude-x"], message: SECRET }),
      {
        status: 400,
        type: "invalid_request_error",
        code: "model_not_supported",
        param: "model",
        retryAfterSeconds: null
      },
      "The model 'claude-x' was rejected by the upstream API."
    ],
    [
      "ModelRejected (a fallback chain)",
      new ModelRejected({ models: ["claude-x", "claude-y"], message: SECRET }),
      {
        status: 400,
        type: "invalid_request_error",
        code: "model_not_supported",
        param: "model",
        retryAfterSeconds: null
      },
      "The model 'claude-x', then 'claude-y' were rejected by the upstream API."
    ],
    [
      "ModelNotFound",
      new ModelNotFound({ model: "gpt-9" }),
      { status: 404, type: "invalid_request_error", code: "model_not_found", param: "model", retryAfterSeconds: null },
      "The model 'gpt-9' does not exist"
    ],
    [
      "SessionBusy",
      new SessionBusy({ sessionId: "s-1" }),
      {
        status: 409,
        type: "invalid_request_error",
        code: "session_busy",
        param: "session_id",
        retryAfterSeconds: null
      },
      "Session s-1 is already running a turn."
    ],
    [
      "SessionNotFound",
      new SessionNotFound({ sessionId: "s-2" }),
      {
        status: 404,
        type: "invalid_request_error",
        code: "session_not_found",
        param: "session_id",
        retryAfterSeconds: null
      },
      "Session s-2 not found"
    ],
    [
      "ProjectNotFound",
      new ProjectNotFound({ projectId: "p-1" }),
      {
        status: 404,
        type: "invalid_request_error",
        code: "project_not_found",
        param: "project_id",
        retryAfterSeconds: null
      },
      "Project p-1 not found"
    ],
    [
      "ProjectExists",
      new ProjectExists({ projectId: "p-2" }),
      { status: 409, type: "invalid_request_error", code: "project_exists", param: "id", retryAfterSeconds: null },
      "Project p-2 already exists."
    ],
    [
      "SessionIsClosed",
      new SessionIsClosed({ sessionId: "s-3" }),
      {
        status: 409,
        type: "invalid_request_error",
        code: "session_closed",
        param: "session_id",
        retryAfterSeconds: null
      },
      "Session s-3 is closed."
    ],
    [
      "ShuttingDown",
      new ShuttingDown(),
      { status: 503, type: "server_error", code: "server_shutting_down", param: null, retryAfterSeconds: 5 },
      "The server is shutting down."
    ],
    [
      "CapacityExceeded",
      new CapacityExceeded({ limit: 8, retryAfterSeconds: 2 }),
      { status: 429, type: "rate_limit_error", code: "too_many_running_turns", param: null, retryAfterSeconds: 2 },
      "Too many turns are running (limit 8); try again shortly."
    ],
    [
      "RateLimited",
      new RateLimited({ retryAfterSeconds: 30 }),
      { status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", param: null, retryAfterSeconds: 30 },
      "Rate limit reached for this API key."
    ],
    [
      "TooManyAuthFailures",
      new TooManyAuthFailures({ retryAfterSeconds: 42 }),
      { status: 429, type: "rate_limit_error", code: "too_many_auth_failures", param: null, retryAfterSeconds: 42 },
      "Too many requests with a wrong API key came from this client; try again later."
    ],
    [
      "Unauthorized",
      new Unauthorized({ message: "Invalid API key." }),
      { status: 401, type: "invalid_request_error", code: "invalid_api_key", param: null, retryAfterSeconds: null },
      "Invalid API key."
    ],
    [
      "CliNotFound",
      new CliNotFound({ binary: "/opt/secret/bin/claude", message: `spawn ENOENT ${SECRET}` }),
      { status: 503, type: "server_error", code: "cli_unavailable", param: null, retryAfterSeconds: null },
      "The Claude Code CLI is not available on this server."
    ],
    [
      "CliExitedEarly",
      new CliExitedEarly({ exitCode: 1, signal: null, stderrTail: `Error: ${SECRET}` }),
      { status: 502, type: "server_error", code: "cli_exited", param: null, retryAfterSeconds: null },
      "The Claude Code CLI exited before finishing the turn."
    ],
    [
      "CliTimeout",
      new CliTimeout({ idleSeconds: 120 }),
      { status: 504, type: "server_error", code: "cli_timeout", param: null, retryAfterSeconds: null },
      "The Claude Code CLI produced no output for 120 seconds."
    ],
    [
      "CliTurnError",
      new CliTurnError({ subtype: "error_max_turns", message: SECRET }),
      { status: 500, type: "server_error", code: "cli_turn_error", param: null, retryAfterSeconds: null },
      "Claude Code could not complete the turn (error_max_turns)."
    ],
    [
      "UpstreamFailure",
      upstream(500),
      { status: 502, type: "server_error", code: "upstream_error", param: null, retryAfterSeconds: null },
      "The upstream API failed to answer."
    ],
    [
      "InternalFailure",
      new InternalFailure({ message: `TypeError at ${SECRET}` }),
      { status: 500, type: "server_error", code: "internal_error", param: null, retryAfterSeconds: null },
      "The server had an error while processing your request."
    ],
    [
      "StoreError",
      new StoreError({ method: "append", message: `SQLITE_BUSY ${SECRET}`, cause: new Error(SECRET) }),
      { status: 503, type: "server_error", code: "storage_unavailable", param: null, retryAfterSeconds: 5 },
      "The gateway's event log cannot be used right now (its database cannot be written or read), so this request was not kept. Try again later."
    ]
  ])("maps %s", (_name, error, expected, message) => {
    const http = fromDomain(error)
    expect(http).toBeInstanceOf(HttpError)
    expect(shape(http)).toEqual(expected)
    expect(http.message).toBe(message)
  })

  it("never lets internals into a message", () => {
    const errors: ReadonlyArray<DomainError> = [
      new CliExitedEarly({ exitCode: null, signal: "SIGKILL", stderrTail: SECRET }),
      new CliExitedEarly({ exitCode: 2, signal: null, stderrTail: SECRET }),
      new CliNotFound({ binary: SECRET, message: SECRET }),
      new CliTurnError({ subtype: "error_during_execution", message: SECRET }),
      new ModelRejected({ models: ["m"], message: SECRET }),
      new InternalFailure({ message: SECRET }),
      new StoreError({ method: "read", message: SECRET }),
      ...[429, 529, 400, 401, 403, 413, 500, null].map((status) =>
        new UpstreamFailure({ status, kind: "server_error", message: SECRET, retryAfterSeconds: null })
      )
    ]
    for (const error of errors) {
      const http = fromDomain(error)
      expect(http.message).not.toContain("secret")
      expect(http.message).not.toContain("/home")
      expect(JSON.stringify(http.envelope)).not.toContain("secret")
    }
  })

  // When the CLI could not say which model it ran, the message names none.
  it("words a rejection of an unnamed model without a gap", () => {
    expect(fromDomain(new ModelRejected({ models: [], message: "x" })).message).not.toMatch(/ {2}/)
  })

  describe("upstream failures", () => {
    it.each<[number | null, number | null, ReturnType<typeof shape>]>([
      [429, null, {
        status: 429,
        type: "rate_limit_error",
        code: "upstream_rate_limited",
        param: null,
        retryAfterSeconds: 1
      }],
      [429, 20, {
        status: 429,
        type: "rate_limit_error",
        code: "upstream_rate_limited",
        param: null,
        retryAfterSeconds: 20
      }],
      [529, null, {
        status: 503,
        type: "server_error",
        code: "upstream_overloaded",
        param: null,
        retryAfterSeconds: 1
      }],
      [529, 7, { status: 503, type: "server_error", code: "upstream_overloaded", param: null, retryAfterSeconds: 7 }],
      [
        400,
        null,
        {
          status: 400,
          type: "invalid_request_error",
          code: "upstream_bad_request",
          param: null,
          retryAfterSeconds: null
        }
      ],
      [
        413,
        9,
        {
          status: 400,
          type: "invalid_request_error",
          code: "upstream_bad_request",
          param: null,
          retryAfterSeconds: null
        }
      ],
      [
        401,
        null,
        {
          status: 502,
          type: "server_error",
          code: "upstream_authentication_failed",
          param: null,
          retryAfterSeconds: null
        }
      ],
      [
        403,
        9,
        {
          status: 502,
          type: "server_error",
          code: "upstream_authentication_failed",
          param: null,
          retryAfterSeconds: null
        }
      ],
      [500, null, { status: 502, type: "server_error", code: "upstream_error", param: null, retryAfterSeconds: null }],
      [503, 4, { status: 502, type: "server_error", code: "upstream_error", param: null, retryAfterSeconds: 4 }],
      [null, null, { status: 502, type: "server_error", code: "upstream_error", param: null, retryAfterSeconds: null }]
    ])("upstream status %s (retry after %s)", (status, retryAfterSeconds, expected) => {
      expect(shape(fromDomain(upstream(status, retryAfterSeconds)))).toEqual(expected)
    })

    it("words each class of upstream failure for the client", () => {
      expect(fromDomain(upstream(429)).message).toBe("The upstream API rate limit was reached; try again later.")
      expect(fromDomain(upstream(529)).message).toBe("The upstream API is overloaded; try again later.")
      expect(fromDomain(upstream(400)).message).toBe("The upstream API rejected the request.")
      expect(fromDomain(upstream(401)).message).toBe("The gateway could not authenticate with the upstream API.")
      expect(fromDomain(upstream(500)).message).toBe("The upstream API failed to answer.")
    })

    it("keys on the status, and on the CLI's kind when no status came", () => {
      expect(fromDomain(upstream(500, null, "rate_limit")).code).toBe("upstream_error")
      expect(fromDomain(upstream(null, null, "rate_limit"))).toMatchObject({
        status: 429,
        code: "upstream_rate_limited"
      })
      expect(fromDomain(upstream(null, null, "overloaded"))).toMatchObject({ status: 503, code: "upstream_overloaded" })
      expect(fromDomain(upstream(null, null, "authentication_failed"))).toMatchObject({
        status: 502,
        code: "upstream_authentication_failed"
      })
      expect(fromDomain(upstream(null, null, "server_error")).code).toBe("upstream_error")
      expect(fromDomain(upstream(null, null, null)).code).toBe("upstream_error")
    })
  })
})

describe("fromCancel", () => {
  it.each<[Parameters<typeof fromCancel>[0], ReturnType<typeof shape>, string]>([
    [
      "timeout",
      { status: 504, type: "server_error", code: "turn_timeout", param: null, retryAfterSeconds: null },
      "The turn exceeded its time limit."
    ],
    [
      "shutdown",
      { status: 503, type: "server_error", code: "server_shutting_down", param: null, retryAfterSeconds: 5 },
      "The server is shutting down."
    ],
    [
      "client",
      { status: 409, type: "invalid_request_error", code: "turn_cancelled", param: null, retryAfterSeconds: null },
      "The turn was cancelled (client)."
    ],
    [
      "disconnect",
      { status: 409, type: "invalid_request_error", code: "turn_cancelled", param: null, retryAfterSeconds: null },
      "The turn was cancelled (disconnect)."
    ],
    [
      "interrupted",
      { status: 503, type: "server_error", code: "turn_interrupted", param: null, retryAfterSeconds: 1 },
      "The turn was interrupted before it ended; send it again."
    ]
  ])("maps a %s cancellation", (reason, expected, message) => {
    const error = fromCancel(reason)
    expect(shape(error)).toEqual(expected)
    expect(error.message).toBe(message)
  })
})

describe("HttpError.toResponse", () => {
  it("answers the status with the OpenAI envelope as JSON", () => {
    const response = responseOf(invalidRequest("Bad value.", "messages[0].role", "invalid_value"))
    expect(response.status).toBe(400)
    expect(response.contentType).toBe("application/json")
    expect(response.json).toEqual({
      error: { message: "Bad value.", type: "invalid_request_error", param: "messages[0].role", code: "invalid_value" }
    })
    expect(response.headers).not.toHaveProperty("retry-after")
  })

  it("sends Retry-After only when the error has one", () => {
    const limited = responseOf(fromDomain(new RateLimited({ retryAfterSeconds: 12 })))
    expect(limited.status).toBe(429)
    expect(limited.headers["retry-after"]).toBe("12")
    expect(limited.json).toEqual({
      error: {
        message: "Rate limit reached for this API key.",
        type: "rate_limit_error",
        param: null,
        code: "rate_limit_exceeded"
      }
    })
    expect(responseOf(fromDomain(upstream(529))).headers["retry-after"]).toBe("1")
    expect(responseOf(fromDomain(new SessionBusy({ sessionId: "s" }))).headers).not.toHaveProperty("retry-after")
  })

  it("keeps a zero Retry-After", () => {
    expect(responseOf(fromDomain(new RateLimited({ retryAfterSeconds: 0 }))).headers["retry-after"]).toBe("0")
  })

  it("matches the envelope getter", () => {
    const error = internalError()
    expect(responseOf(error)).toMatchObject({ status: 500, json: error.envelope })
  })
})

describe("invalidRequest / notFound / internalError", () => {
  it("build 400, 404 and 500 errors", () => {
    expect(shape(invalidRequest("x"))).toEqual({
      status: 400,
      type: "invalid_request_error",
      code: null,
      param: null,
      retryAfterSeconds: null
    })
    expect(shape(notFound("y", "thing_not_found", "id"))).toEqual({
      status: 404,
      type: "invalid_request_error",
      code: "thing_not_found",
      param: "id",
      retryAfterSeconds: null
    })
    expect(shape(internalError())).toEqual({
      status: 500,
      type: "server_error",
      code: "internal_error",
      param: null,
      retryAfterSeconds: null
    })
  })
})

describe("paramOf", () => {
  it.each<[ReadonlyArray<PropertyKey>, string | null]>([
    [[], null],
    [["model"], "model"],
    [["messages", 0, "role"], "messages[0].role"],
    [["messages", 2, "content", 1, "image_url", "url"], "messages[2].content[1].image_url.url"],
    [["response_format", "json_schema", "schema"], "response_format.json_schema.schema"],
    [["stop", 3], "stop[3]"],
    [[0, "role"], "[0].role"],
    [["a", 0, 1], "a[0][1]"]
  ])("%j → %s", (path, param) => {
    expect(paramOf(path)).toBe(param)
  })
})

describe("a conversation too long for the model", () => {
  const upstream = (status: number | null, message: string) =>
    fromDomain(new UpstreamFailure({ status, kind: null, message, retryAfterSeconds: null }))

  it("is its own 400, context_length_exceeded, with the upstream's words and nothing after them", () => {
    const error = upstream(
      400,
      "API Error: 400 Prompt is too long · the request is ~210000 tokens (limit 200000) — the rest is tools"
    )
    expect(error.status).toBe(400)
    expect(error.code).toBe("context_length_exceeded")
    expect(error.message).toBe(
      "The conversation is too long for the model's context window (Prompt is too long · the request is ~210000 tokens (limit 200000))."
    )
    expect(error.anthropicEnvelope.error.type).toBe("invalid_request_error")
  })

  it("is only that: other refusals stay generic, and other statuses keep their mapping", () => {
    expect(upstream(400, "API Error: 400 messages: roles must alternate").code).toBe("upstream_bad_request")
    expect(upstream(500, "API Error: 500 prompt is too long").code).toBe("upstream_error")
  })
})
