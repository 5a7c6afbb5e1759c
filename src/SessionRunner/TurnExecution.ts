/**
 * Running one admitted turn on a CLI process: the model's fallback chain (a rejected model
 * moves on to the next, recorded as `ModelFallback`), a fresh start with the conversation
 * rebuilt from the log when the CLI lost the transcript it was to resume, the translation
 * of the CLI's lines into log events (one append per chunk of lines), and the digest of
 * the conversation recorded with `TurnCompleted`. A turn that ends on calls of the client's
 * tools is completed with them, and its process keeps them open for the next turn.
 */
import { Deferred, Effect, Exit, Stream } from "effect"
import type { PermissionMode } from "../AppConfig.js"
import type { CliLaunch } from "../ClaudeProcess.js"
import {
  type CliError,
  InternalFailure,
  InvalidTurnRequest,
  ModelRejected,
  type StoreError,
  type TurnError
} from "../Domain/Errors.js"
import { ModelFallback, type SessionEvent, TurnCompleted } from "../Domain/SessionEvent.js"
import type { AdmittedTurn } from "./Admission.js"
import { answerMessage, digestOf } from "./history.js"
import type { Lease, ProcessPool, ProcessState } from "./ProcessPool.js"
import { turnInputFor } from "./prompt.js"
import { initialTranslatorState, suspendedCompletion, translate } from "./translate.js"

/** What a turn runs with besides its admission. */
export interface TurnPlan {
  readonly turn: AdmittedTurn
  /** A JSON Schema the answer must follow, or none. */
  readonly outputSchema: string | null
  readonly systemPromptMode: "append" | "replace"
  readonly permissionMode: PermissionMode
  /** Keep Claude Code's own tools in turns that bring the client's. */
  readonly keepBuiltinTools: boolean
  /** Appends to the session's log, after the turn's start is recorded. */
  readonly append: (events: ReadonlyArray<SessionEvent>) => Effect.Effect<void, StoreError>
  /** Done once the turn has its CLI process, or could not get one. */
  readonly launched: Deferred.Deferred<void>
}

/** The CLI could not resume the session it was given: its transcript is gone. */
const resumeFailed = (error: CliError) => error._tag === "CliTurnError" && /no conversation found/i.test(error.message)

/**
 * Runs the turn to its `TurnCompleted` (appended here), or fails with why it could not.
 * Interrupting it stops the CLI's turn (see `ProcessPool.abandon`).
 */
export const executeTurn = (pool: ProcessPool, plan: TurnPlan): Effect.Effect<void, TurnError | StoreError> =>
  Effect.gen(function*() {
    const { append, turn } = plan
    const { turnId } = turn.claim
    const clientTools = turn.clientTools
    // What the CLI is sent: results for the calls it holds, the new messages, or the whole
    // conversation to a process that lacks it.
    const inputFor = (process: ProcessState) => {
      const input = turnInputFor({ ...turn, toolChoice: clientTools?.choice ?? null }, process)
      return input instanceof InvalidTurnRequest
        ? Effect.fail(new InternalFailure({ message: input.message }))
        : Effect.succeed(input)
    }
    const launchOf = (model: string | null, resume: string | null): CliLaunch => ({
      cwd: turn.cwd,
      model,
      systemPrompt: turn.systemPrompt,
      systemPromptMode: plan.systemPromptMode,
      permissionMode: plan.permissionMode,
      jsonSchema: plan.outputSchema,
      resume,
      clientTools: clientTools?.tools,
      builtinTools: plan.keepBuiltinTools
    })

    /**
     * The turn on one process: its lines translated and appended, one append per chunk.
     * Returns the calls the process holds open when the turn ended on them.
     */
    const consume = (lease: Lease) => {
      let state = initialTranslatorState(turnId, {
        names: new Set(clientTools?.tools.map((tool) => tool.name)),
        parallel: clientTools?.parallel,
        answered: lease.answered,
        cliSessionId: turn.resume ?? turn.cliSessionId
      })
      let answer = ""
      let completed = false
      return lease.events.pipe(
        Stream.runForEachChunk((lines) => {
          const logged: Array<SessionEvent> = []
          for (const line of lines) {
            const [next, events] = translate(state, line)
            state = next
            for (const event of events) {
              if (event._tag === "TextDelta") answer += event.text
              if (event._tag === "TurnCompleted") completed = true
              logged.push(event._tag === "TurnCompleted" ? withDigest(event, answer) : event)
            }
          }
          return append(logged)
        }),
        Effect.zipRight(Effect.suspend((): Effect.Effect<ReadonlyArray<string>, StoreError | InternalFailure> => {
          if (completed) return Effect.succeed([])
          const suspended = suspendedCompletion(state)
          if (suspended === null) {
            return Effect.fail(new InternalFailure({ message: "the CLI's turn ended without a result" }))
          }
          return Effect.as(append([withDigest(suspended.completed, answer)]), suspended.suspension.held)
        }))
      )
    }
    const withDigest = (completed: TurnCompleted, answer: string) =>
      new TurnCompleted({
        ...completed,
        conversationDigest: digestOf([...turn.held, ...turn.added, answerMessage(completed, answer)])
      })

    /** One attempt on one process, which is kept, discarded or abandoned according to how the attempt ends. */
    const attempt = (launch: CliLaunch) =>
      Effect.uninterruptibleMask((restore) =>
        // Not restored: acquisition is interruptible only while it waits, and a lease it made
        // always reaches the handlers below.
        pool.acquire(turn.sessionId, launch, inputFor).pipe(
          Effect.ensuring(Deferred.succeed(plan.launched, undefined)),
          Effect.flatMap((lease) =>
            restore(consume(lease)).pipe(
              Effect.onExit((exit) =>
                Exit.isSuccess(exit)
                  ? pool.keep(lease, exit.value)
                  : Exit.isInterrupted(exit)
                  ? pool.abandon(lease)
                  : pool.discard(lease)
              )
            )
          )
        )
      )

    const candidates: ReadonlyArray<string | null> = [turn.model.model, ...turn.model.fallbacks]
    const rejected: Array<string> = []
    let resume = turn.resume
    let index = 0
    while (index < candidates.length) {
      const model = candidates[index]!
      const outcome = yield* Effect.either(attempt(launchOf(model, resume)))
      if (outcome._tag === "Right") return
      const error = outcome.left
      if (error._tag === "StoreError" || error._tag === "InternalFailure") return yield* error
      if (resume !== null && resumeFailed(error)) {
        // The CLI lost the transcript: start over with the conversation rebuilt from the log.
        resume = null
        continue
      }
      if (error._tag !== "ModelRejected") return yield* error
      rejected.push(model ?? "default")
      const next = candidates[index + 1]
      if (next === undefined) return yield* new ModelRejected({ models: rejected, message: error.message })
      yield* append([
        new ModelFallback({
          turnId,
          fromModel: model ?? "default",
          toModel: next ?? "default",
          reason: "model_rejected"
        })
      ])
      index++
    }
  })
