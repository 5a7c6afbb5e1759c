/**
 * A suite's gateway as a user runs it: the real Claude Code CLI against the fake Anthropic API,
 * without `IS_SANDBOX` in the environment (this workplace sets it, a user's machine does not, and
 * the CLI children inherit this process's environment), in a scratch folder of its own.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { type FakeAnthropic, startFakeAnthropic } from "../fixtures/FakeAnthropic.js"
import { type Gateway, realCliConfig, startGateway, tempDirectory } from "./Gateway.js"
import { claudeProcessesLeftUnder } from "./processes.js"

export interface RealCliSuite {
  /** The scratch folder (its real path, as the CLI processes' working directories show it). */
  readonly root: string
  /** The CLI's home directory, inside `root`. */
  readonly home: string
  readonly fake: FakeAnthropic
  /** The suite's gateway: the real CLI, projects under `root/projects`, no spare process. */
  readonly gateway: Gateway
  /**
   * Closes the gateway and the fake API, gives `IS_SANDBOX` back, waits (up to 5 s) for the CLI
   * processes under `root` to end, removes `root`, and returns the CLI processes that outlived that wait.
   */
  readonly close: () => Promise<ReadonlyArray<{ readonly pid: number; readonly cwd: string }>>
}

export const startRealCliSuite = async (prefix: string): Promise<RealCliSuite> => {
  const savedIsSandbox = process.env.IS_SANDBOX
  delete process.env.IS_SANDBOX
  const root = NodeFs.realpathSync(tempDirectory(prefix))
  const home = NodePath.join(root, "home")
  NodeFs.mkdirSync(home)
  const fake = await startFakeAnthropic()
  const gateway = await startGateway({
    ...realCliConfig(fake, home),
    databasePath: NodePath.join(root, "main.db"),
    projectRoot: NodePath.join(root, "projects"),
    spareProcess: false
  })
  return {
    root,
    home,
    fake,
    gateway,
    close: async () => {
      await gateway.close()
      await fake.close()
      if (savedIsSandbox !== undefined) process.env.IS_SANDBOX = savedIsSandbox
      const left = await claudeProcessesLeftUnder(root)
      NodeFs.rmSync(root, { recursive: true, force: true })
      return left
    }
  }
}
