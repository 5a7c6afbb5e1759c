/**
 * Projects on a log that several gateways share (a cluster): each keeps a project's files under
 * its own root, and a purge removes only the copy of the gateway that runs it. Another gateway
 * removes its copy before anyone uses the project again, so a key that registers the id next never
 * finds the earlier owner's files; and no gateway trusts what it knew of a project without reading
 * its stream, so the earlier owner cannot reach the new owner's project there.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll } from "vitest"
import { AppConfig } from "../../src/AppConfig.js"
import { EventLog } from "../../src/EventLog.js"
import { Projects } from "../../src/Projects.js"

const directory = NodeFs.realpathSync(NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "cca-shared-projects-")))
afterAll(() => NodeFs.rmSync(directory, { recursive: true, force: true }))

/** One gateway of the cluster: its own project root, the shared log. */
const gateway = (name: string) =>
  Layer.build(
    Projects.layer.pipe(
      Layer.provide(EventLog.layerSqlite(NodePath.join(directory, "log.db"))),
      Layer.provide(AppConfig.layerWith({
        projectRoot: NodePath.join(directory, name),
        cluster: { runnerAddress: { host: "127.0.0.1", port: 1 }, listenAddress: null }
      })),
      Layer.provide(NodeContext.layer)
    )
  ).pipe(Effect.map((context) => Context.get(context, Projects)))

describe("projects on a shared log", () => {
  it.scoped("a purge on one gateway leaves no file of the earlier owner on another, for the next owner", () =>
    Effect.gen(function*() {
      const one = yield* gateway("one")
      const two = yield* gateway("two")
      const project = yield* one.ensure("key:alice", "shared-id")
      // Alice's turns ran on both gateways and left files there.
      const onTwo = (yield* two.ensure("key:alice", "shared-id")).path
      expect(onTwo).toBe(NodePath.join(directory, "two", "shared-id"))
      NodeFs.writeFileSync(NodePath.join(project.path, "notes.md"), "alice's")
      NodeFs.writeFileSync(NodePath.join(onTwo, "notes.md"), "alice's")

      yield* one.remove("key:alice", "shared-id", { removeFiles: true })
      expect(NodeFs.existsSync(project.path)).toBe(false)
      // Bob takes the id on gateway one; his turn then runs on gateway two.
      yield* one.ensure("key:bob", "shared-id")
      const bobs = yield* two.ensure("key:bob", "shared-id")
      expect(bobs.owner).toBe("key:bob")
      expect(NodeFs.readdirSync(bobs.path)).toEqual([])

      // What gateway two knew of Alice's project does not let her in any more.
      const alice = yield* Effect.exit(two.ensure("key:alice", "shared-id"))
      expect(Exit.isFailure(alice) && JSON.stringify(alice.cause)).toContain("ProjectNotFound")
    }))

  it.scoped("files kept by an unregistration stay for the owner who registers the id again", () =>
    Effect.gen(function*() {
      const one = yield* gateway("one")
      const two = yield* gateway("two")
      const onTwo = (yield* two.ensure("key:carol", "kept-id")).path
      NodeFs.writeFileSync(NodePath.join(onTwo, "work.txt"), "carol's")
      yield* one.remove("key:carol", "kept-id", { removeFiles: false })
      yield* one.ensure("key:carol", "kept-id")
      expect(NodeFs.readFileSync(NodePath.join((yield* two.ensure("key:carol", "kept-id")).path, "work.txt"), "utf8"))
        .toBe("carol's")
    }))
})
