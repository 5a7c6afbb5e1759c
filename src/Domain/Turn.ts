/**
 * What a turn is asked to do, and what its caller gets back: the vocabulary of
 * `SessionRunner`, independent of any wire format.
 */
import type { Stream } from "effect"
import type { ConversationMessage } from "./Conversation.js"
import type { StoreError } from "./Errors.js"
import type { ResolvedModel } from "./Model.js"
import type { StoredEvent } from "./SessionEvent.js"
import type { ClientTools } from "./Tools.js"

/** What a turn is asked to do. */
export interface TurnRequest {
  /** Continue this session; absent continues the session that holds the request's history, or starts one. */
  readonly sessionId?: string | undefined
  /**
   * Start a new session with this id, without looking for one that holds the request's history
   * (a cluster chooses the id first: the node that runs a session is the one its id maps to).
   * Ignored with `sessionId`.
   */
  readonly newSessionId?: string | undefined
  /**
   * The project (working directory under the project root) of a new session; by default the
   * owner's default project (`default` with auth off, see `defaultProjectOf`).
   */
  readonly projectId?: string | undefined
  /** Who asks: sessions belong to their creator (null when auth is off). */
  readonly owner?: string | null | undefined
  /** The conversation as the client sent it: the whole history, or only the new messages. */
  readonly messages: ReadonlyArray<ConversationMessage>
  /** System and developer instructions; null uses the session's own, if it has one. */
  readonly systemPrompt: string | null
  /** The model; when the request named none (`requested` null), the session's own model is used, if it has one. */
  readonly model: ResolvedModel
  /** A JSON Schema the answer must follow (structured output), or none. */
  readonly outputSchema?: string | null | undefined
  /** The client's own tools the model may call this turn (function calling), or none. */
  readonly clientTools?: ClientTools | null | undefined
  /** Other request parameters, recorded verbatim. */
  readonly parameters?: Readonly<Record<string, unknown>>
  /**
   * When the caller is interrupted after the turn started but before it received its
   * handle (a client gone at that moment), cancel the turn (reason `disconnect`) rather
   * than let it run unobserved.
   */
  readonly cancelIfCallerGone?: boolean | undefined
}

/** A started turn: where its events are and how to follow them. */
export interface TurnHandle {
  readonly sessionId: string
  readonly projectId: string
  readonly turnId: string
  /** Sequence number of the turn's `TurnStarted` event. */
  readonly startSequence: number
  /**
   * The turn's events from `TurnStarted` through its terminal event, replayed from the
   * log and then followed live; ends after the terminal event.
   */
  readonly events: Stream.Stream<StoredEvent, StoreError>
}

/** What runs in a session right now. */
export interface SessionActivity {
  readonly running: boolean
  readonly turnId: string | null
  /** Milliseconds since the epoch. */
  readonly startedAt: number | null
  /** Whether the session has a warm CLI process. */
  readonly warm: boolean
}

/** A new, empty session's settings (`POST /v1/sessions`). */
export interface NewSession {
  readonly owner: string | null
  /** Its project; by default the owner's default project. */
  readonly projectId?: string | undefined
  readonly title?: string | null | undefined
  /** Used by the session's turns whose request names no model. */
  readonly model?: string | null | undefined
  /** Used by the session's turns whose request brings no system prompt. */
  readonly systemPrompt?: string | null | undefined
}
