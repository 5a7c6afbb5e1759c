/**
 * The library surface: services, their layers, and the domain types, for embedding the
 * gateway's turn machinery in another Effect program (with or without the HTTP server).
 */
export * from "./AppConfig.js"
export * from "./Auth.js"
export * from "./ClaudeProcess.js"
export * from "./Domain/CliEvent.js"
export * from "./Domain/Conversation.js"
export * from "./Domain/Errors.js"
export * from "./Domain/Model.js"
export * from "./Domain/Session.js"
export * from "./Domain/SessionEvent.js"
export * from "./Domain/Turn.js"
export * from "./EventLog.js"
export * from "./Layers.js"
export * from "./Logging.js"
export * from "./ModelRegistry.js"
export * from "./Projects.js"
export * from "./SessionQueries.js"
export * from "./SessionRunner.js"
export * from "./Sessions.js"
export * from "./SessionStore.js"
export { gatewayVersion } from "./version.js"
