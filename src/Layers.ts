/**
 * The one place where the gateway's layers are assembled.
 */
import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import { AppConfig } from "./AppConfig.js"
import { Auth } from "./Auth.js"
import { ClaudeProcess } from "./ClaudeProcess.js"
import { ModelRegistry } from "./ModelRegistry.js"
import { Projects } from "./Projects.js"
import { SessionRunner } from "./SessionRunner.js"
import { SessionStore } from "./SessionStore.js"

/**
 * Every domain service (runner, projects, store, CLI, registry, auth) over an `AppConfig` and the
 * platform's file system (the CLI is spawned with the platform's Node command executor). Embed it
 * in another Effect program by providing `AppConfig` (e.g. `AppConfig.layerWith({...})`) and
 * `NodeContext.layer`.
 */
export const ServicesLive = Layer.mergeAll(SessionRunner.layer, Projects.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(SessionStore.layer, ClaudeProcess.layer)),
  Layer.provideMerge(Layer.mergeAll(ModelRegistry.layer, Auth.layer))
)

/** The services with Node's platform layer, configured from the environment. */
export const ServicesFromEnv = ServicesLive.pipe(
  Layer.provideMerge(AppConfig.layer),
  Layer.provideMerge(NodeContext.layer)
)
