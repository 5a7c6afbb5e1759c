/**
 * The one place where the gateway's layers are assembled.
 */
import { Layer } from "effect"
import { Auth } from "./Auth.js"
import { ClaudeProcess } from "./ClaudeProcess.js"
import { EventLog } from "./EventLog.js"
import { ModelRegistry } from "./ModelRegistry.js"
import { Projects } from "./Projects.js"
import { SessionRunner } from "./SessionRunner.js"
import { Sessions } from "./Sessions.js"

/**
 * Every domain service (sessions, runner, projects, the event log and its read models, the CLI,
 * the registry, auth) over an `AppConfig` and the platform's file system (the CLI is spawned with
 * the platform's Node command executor). Embed it in another Effect program by providing
 * `AppConfig` (e.g. `AppConfig.layerWith({...})`) and `NodeContext.layer`.
 */
export const ServicesLive = Sessions.layer.pipe(
  Layer.provideMerge(SessionRunner.layer),
  Layer.provideMerge(Projects.layer),
  Layer.provideMerge(Layer.mergeAll(EventLog.layer, ClaudeProcess.layer, ModelRegistry.layer, Auth.layer))
)
