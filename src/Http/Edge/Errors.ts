/**
 * The HTTP edge's single error: an OpenAI envelope with its status (and `Retry-After`).
 * Domain errors become one here and nowhere else; messages never carry internals
 * (paths, stderr, upstream addresses).
 */
import { HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"
import type {
  CapacityExceeded,
  InvalidTurnRequest,
  ModelNotFound,
  ProjectExists,
  ProjectNotFound,
  ProjectNotOwned,
  QueuedTurnCancelled,
  RateLimited,
  SessionBusy,
  SessionIsClosed,
  SessionNotFound,
  ShuttingDown,
  StoreError,
  TooManyAuthFailures,
  TurnError,
  Unauthorized
} from "../../Domain/Errors.js"
import type { CancelReason } from "../../Domain/SessionEvent.js"
import { noteFailure } from "./RequestLog.js"

/** How a turn ended when it did not complete, as every surface's projection reports it. */
export type TurnFailure =
  | { readonly _tag: "Failed"; readonly error: TurnError | StoreError }
  | { readonly _tag: "Cancelled"; readonly reason: CancelReason }

/** OpenAI's error envelope: every error the gateway answers has this shape. */
export const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.String,
    param: Schema.NullOr(Schema.String),
    code: Schema.NullOr(Schema.String)
  })
}).annotations({ identifier: "ErrorEnvelope" })
export type ErrorEnvelope = typeof ErrorEnvelope.Type

export class HttpError extends Schema.TaggedError<HttpError>()("HttpError", {
  status: Schema.Number,
  type: Schema.String,
  message: Schema.String,
  param: Schema.NullOr(Schema.String),
  code: Schema.NullOr(Schema.String),
  retryAfterSeconds: Schema.NullOr(Schema.Number)
}) {
  get envelope(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }

  /** The error in Anthropic's envelope (the Messages API's clients read that one). */
  get anthropicEnvelope(): AnthropicErrorEnvelope {
    return { type: "error", error: { type: anthropicTypeOf(this), message: this.message } }
  }

  /** The response: OpenAI's envelope, or Anthropic's for the Messages API. */
  toResponse(surface: ApiSurface = "openai"): HttpServerResponse.HttpServerResponse {
    return HttpServerResponse.unsafeJson(surface === "anthropic" ? this.anthropicEnvelope : this.envelope, {
      status: this.status,
      headers: this.retryAfterSeconds !== null ? { "retry-after": String(this.retryAfterSeconds) } : {}
    })
  }
}

/** Which API's conventions a request follows: OpenAI's (chat, responses, the rest) or Anthropic's (messages). */
export type ApiSurface = "openai" | "anthropic"

/**
 * The surface of a request: the Messages API's routes answer in Anthropic's shapes, and so do
 * the models routes for a caller that sends `anthropic-version`.
 */
export const surfaceOf = (path: string, headers: Readonly<Record<string, string | undefined>> = {}): ApiSurface =>
  /^\/v1\/messages(?:\/|$)/.test(path) || (/^\/v1\/models(?:\/|$)/.test(path) && "anthropic-version" in headers)
    ? "anthropic"
    : "openai"

/** Anthropic's error envelope. */
export const AnthropicErrorEnvelope = Schema.Struct({
  type: Schema.Literal("error"),
  error: Schema.Struct({ type: Schema.String, message: Schema.String })
}).annotations({ identifier: "AnthropicErrorEnvelope" })
export type AnthropicErrorEnvelope = typeof AnthropicErrorEnvelope.Type

/** Anthropic's error type for a status (and, for 503, whether the upstream is overloaded). */
const anthropicTypeOf = (error: HttpError): string => {
  switch (error.status) {
    case 400:
    case 405:
    case 409:
      return "invalid_request_error"
    case 401:
      return "authentication_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 413:
      return "request_too_large"
    case 429:
      return "rate_limit_error"
    case 503:
      return error.code === "upstream_overloaded" ? "overloaded_error" : "api_error"
    case 504:
      return "timeout_error"
    default:
      return "api_error"
  }
}

const make = (
  status: number,
  type: string,
  message: string,
  extra?: { readonly param?: string | null; readonly code?: string | null; readonly retryAfterSeconds?: number | null }
) =>
  new HttpError({
    status,
    type,
    message,
    param: extra?.param ?? null,
    code: extra?.code ?? null,
    retryAfterSeconds: extra?.retryAfterSeconds ?? null
  })

/** `["messages", 0, "role"]` → `messages[0].role`. */
export const paramOf = (path: ReadonlyArray<PropertyKey>): string | null =>
  path.length === 0
    ? null
    : path.reduce<string>(
      (acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`),
      ""
    )

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  make(400, "invalid_request_error", message, { param, code })

export const notFound = (message: string, code: string | null = null, param: string | null = null) =>
  make(404, "invalid_request_error", message, { code, param })

export const internalError = () =>
  make(500, "server_error", "The server had an error while processing your request.", { code: "internal_error" })

/** The status and envelope of every error a turn or a request can end with. */
export const fromDomain = (
  error:
    | TurnError
    | InvalidTurnRequest
    | SessionBusy
    | SessionNotFound
    | SessionIsClosed
    | QueuedTurnCancelled
    | ShuttingDown
    | CapacityExceeded
    | StoreError
    | ModelNotFound
    | ProjectNotFound
    | ProjectNotOwned
    | ProjectExists
    | Unauthorized
    | RateLimited
    | TooManyAuthFailures
): HttpError => {
  switch (error._tag) {
    case "InvalidTurnRequest":
      return invalidRequest(error.message, error.param, error.code)
    case "ModelRejected":
      return invalidRequest(
        error.models.length === 0
          ? "The model was rejected by the upstream API."
          : `The model ${error.models.map((m) => `'${m}'`).join(", then ")} ${
            error.models.length > 1 ? "were" : "was"
          } rejected by the upstream API.`,
        "model",
        "model_not_supported"
      )
    case "ModelNotFound":
      return notFound(`The model '${error.model}' does not exist`, "model_not_found", "model")
    case "SessionBusy":
      return make(409, "invalid_request_error", `Session ${error.sessionId} is already running a turn.`, {
        code: "session_busy",
        param: "session_id"
      })
    case "SessionNotFound":
      return notFound(`Session ${error.sessionId} not found`, "session_not_found", "session_id")
    case "ProjectNotFound":
      return notFound(`Project ${error.projectId} not found`, "project_not_found", "project_id")
    case "ProjectNotOwned":
      return make(
        403,
        "invalid_request_error",
        `Project ${error.projectId} is shared by every key, so no key can delete it.`,
        { code: "project_not_owned", param: "project_id" }
      )
    case "ProjectExists":
      return make(409, "invalid_request_error", `Project ${error.projectId} already exists.`, {
        code: "project_exists",
        param: "id"
      })
    case "SessionIsClosed":
      return make(409, "invalid_request_error", `Session ${error.sessionId} is closed.`, {
        code: "session_closed",
        param: "session_id"
      })
    case "QueuedTurnCancelled":
      return fromCancel(error.reason)
    case "ShuttingDown":
      return make(503, "server_error", "The server is shutting down.", {
        code: "server_shutting_down",
        retryAfterSeconds: 5
      })
    case "CapacityExceeded":
      return make(429, "rate_limit_error", `Too many turns are running (limit ${error.limit}); try again shortly.`, {
        code: "too_many_running_turns",
        retryAfterSeconds: error.retryAfterSeconds
      })
    case "RateLimited":
      return make(429, "rate_limit_error", "Rate limit reached for this API key.", {
        code: "rate_limit_exceeded",
        retryAfterSeconds: error.retryAfterSeconds
      })
    case "TooManyAuthFailures":
      return make(
        429,
        "rate_limit_error",
        "Too many requests with a wrong API key came from this client; try again later.",
        {
          code: "too_many_auth_failures",
          retryAfterSeconds: error.retryAfterSeconds
        }
      )
    case "Unauthorized":
      return make(401, "invalid_request_error", error.message, { code: "invalid_api_key" })
    case "CliNotFound":
      return make(503, "server_error", "The Claude Code CLI is not available on this server.", {
        code: "cli_unavailable"
      })
    case "CliExitedEarly":
      return make(502, "server_error", "The Claude Code CLI exited before finishing the turn.", { code: "cli_exited" })
    case "CliTimeout":
      return make(504, "server_error", `The Claude Code CLI produced no output for ${error.idleSeconds} seconds.`, {
        code: "cli_timeout"
      })
    case "CliTurnError":
      return make(500, "server_error", `Claude Code could not complete the turn (${error.subtype}).`, {
        code: "cli_turn_error"
      })
    case "UpstreamFailure": {
      const status = error.status ?? statusOfKind(error.kind)
      const tooLong = (status === 400 || status === 413) ? contextLengthDetail(error.message) : null
      return tooLong !== null
        ? make(
          400,
          "invalid_request_error",
          `The conversation is too long for the model's context window (${tooLong}).`,
          {
            code: "context_length_exceeded"
          }
        )
        : fromUpstream(status, error.retryAfterSeconds)
    }
    case "InternalFailure":
      return internalError()
    case "StoreError":
      return make(
        503,
        "server_error",
        "The gateway's event log cannot be used right now (its database cannot be written or read), so this request was not kept. Try again later.",
        { code: "storage_unavailable", retryAfterSeconds: 5 }
      )
  }
}

/**
 * `fromDomain` as the effect's failure. When the answer hides what failed inside (the event
 * log's error behind a 503), that is noted for the request's log line, with its cause.
 */
export const failFromDomain = (error: Parameters<typeof fromDomain>[0]): Effect.Effect<never, HttpError> =>
  Effect.zipRight(error._tag === "StoreError" ? noteFailure(error) : Effect.void, Effect.fail(fromDomain(error)))

/**
 * The upstream's own words when it refused a conversation too long for the model (`prompt is
 * too long: 210000 tokens > 200000 maximum`): they name no internals, and clients (Codex,
 * Claude Code) look for them to compact the conversation. Null for any other refusal.
 */
export const contextLengthDetail = (message: string): string | null => {
  const match = /(?:prompt is too long|context (?:window|length)|too many (?:input )?tokens)[^"\n}—]*/i.exec(message)
  return match === null ? null : match[0].trim().slice(0, 200)
}

/** The HTTP status an upstream failure stands for when the CLI named only its kind. */
const statusOfKind = (kind: string | null): number | null => {
  switch (kind) {
    case "rate_limit":
      return 429
    case "overloaded":
      return 529
    case "authentication_failed":
      return 401
    case "invalid_request":
      return 400
    default:
      return null
  }
}

const fromUpstream = (status: number | null, retryAfterSeconds: number | null): HttpError => {
  switch (status) {
    case 429:
      return make(429, "rate_limit_error", "The upstream API rate limit was reached; try again later.", {
        code: "upstream_rate_limited",
        retryAfterSeconds: retryAfterSeconds ?? 1
      })
    case 529:
      return make(503, "server_error", "The upstream API is overloaded; try again later.", {
        code: "upstream_overloaded",
        retryAfterSeconds: retryAfterSeconds ?? 1
      })
    case 400:
    case 413:
      return make(400, "invalid_request_error", "The upstream API rejected the request.", {
        code: "upstream_bad_request"
      })
    case 401:
    case 403:
      return make(502, "server_error", "The gateway could not authenticate with the upstream API.", {
        code: "upstream_authentication_failed"
      })
    default:
      return make(502, "server_error", "The upstream API failed to answer.", {
        code: "upstream_error",
        retryAfterSeconds
      })
  }
}

/** A turn that was stopped before it could answer. */
export const fromCancel = (reason: CancelReason): HttpError => {
  switch (reason) {
    case "timeout":
      return make(504, "server_error", "The turn exceeded its time limit.", { code: "turn_timeout" })
    case "shutdown":
      return make(503, "server_error", "The server is shutting down.", {
        code: "server_shutting_down",
        retryAfterSeconds: 5
      })
    case "interrupted":
      // Its gateway stopped while it ran, or its session moved to another node of a cluster: sent
      // again, it runs where the session is now.
      return make(503, "server_error", "The turn was interrupted before it ended; send it again.", {
        code: "turn_interrupted",
        retryAfterSeconds: 1
      })
    default:
      return make(409, "invalid_request_error", `The turn was cancelled (${reason}).`, { code: "turn_cancelled" })
  }
}

/** A turn's failure, as its HTTP error. */
export const fromTurnFailure = (failure: TurnFailure): HttpError =>
  failure._tag === "Failed" ? fromDomain(failure.error) : fromCancel(failure.reason)
