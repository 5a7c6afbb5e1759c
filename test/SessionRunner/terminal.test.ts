/**
 * A turn fiber's exit as the event that records its end: completed (nothing more to
 * record), timed out, interrupted with or without a reason, failed with a domain error, a
 * store failure or a defect.
 */
import { Cause, Exit, FiberId, Option } from "effect"
import { describe, expect, it } from "vitest"
import { CliTimeout, InternalFailure, StoreError, UpstreamFailure } from "../../src/Domain/Errors.js"
import { TurnCancelled, TurnFailed } from "../../src/Domain/SessionEvent.js"
import { terminalEventOf } from "../../src/SessionRunner/terminal.js"

const turnId = "turn_1"

describe("terminalEventOf", () => {
  it("records nothing for a completed turn: its TurnCompleted is in the log already", () => {
    expect(terminalEventOf(turnId, Exit.succeed(Option.some(undefined)), null)).toBeNull()
    expect(terminalEventOf(turnId, Exit.succeed(Option.some(undefined)), "client")).toBeNull()
  })

  it("records a turn that outlived its time limit as cancelled with reason timeout", () => {
    expect(terminalEventOf(turnId, Exit.succeed(Option.none()), null)).toEqual(
      new TurnCancelled({ turnId, reason: "timeout" })
    )
  })

  it("records an interrupted turn as cancelled with the reason it was stopped for, else interrupted", () => {
    const interrupted = Exit.interrupt(FiberId.none)
    expect(terminalEventOf(turnId, interrupted, "disconnect")).toEqual(
      new TurnCancelled({ turnId, reason: "disconnect" })
    )
    expect(terminalEventOf(turnId, Exit.failCause(Cause.interrupt(FiberId.none)), "shutdown")).toEqual(
      new TurnCancelled({ turnId, reason: "shutdown" })
    )
    expect(terminalEventOf(turnId, interrupted, null)).toEqual(new TurnCancelled({ turnId, reason: "interrupted" }))
  })

  it("records a failed turn with its error", () => {
    const upstream = new UpstreamFailure({
      status: 529,
      kind: "overloaded",
      message: "Overloaded",
      retryAfterSeconds: 2
    })
    expect(terminalEventOf(turnId, Exit.fail(upstream), null)).toEqual(new TurnFailed({ turnId, error: upstream }))
    const timeout = new CliTimeout({ idleSeconds: 300 })
    expect(terminalEventOf(turnId, Exit.fail(timeout), "client")).toEqual(new TurnFailed({ turnId, error: timeout }))
  })

  it("records a store failure as an internal failure, keeping its message for the log only", () => {
    const event = terminalEventOf(
      turnId,
      Exit.fail(new StoreError({ method: "append", message: "database is locked" })),
      null
    )
    expect(event).toEqual(new TurnFailed({ turnId, error: new InternalFailure({ message: "database is locked" }) }))
  })

  it("records a defect as an unexpected internal failure", () => {
    expect(terminalEventOf(turnId, Exit.die(new Error("boom")), null)).toEqual(
      new TurnFailed({ turnId, error: new InternalFailure({ message: "unexpected failure" }) })
    )
  })
})
