/**
 * The HTTP server: the API's groups with their handlers, the edge middleware, CORS, Swagger
 * UI at `/docs` (self-contained, works offline), ReDoc at `/redoc` (loads ReDoc's script
 * from its CDN, as the original project's did) and the OpenAPI document at `/openapi.json`.
 */
import { HttpApiBuilder, HttpApiSwagger, HttpMiddleware, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as NodeHttp from "node:http"
import { AppConfig } from "../AppConfig.js"
import { SessionRunner } from "../SessionRunner.js"
import { GatewayApi } from "./Api.js"
import { ChatHandlers } from "./Chat/Http.js"
import { EdgeMiddleware, originAllowed } from "./Edge/Middleware.js"
import { requestLog } from "./Edge/RequestLog.js"
import { MessagesHandlers } from "./Messages/Http.js"
import { ModelsHandlers } from "./Models/Http.js"
import { ProjectsHandlers } from "./Projects/Http.js"
import { ResponsesHandlers } from "./Responses/Http.js"
import { SessionsHandlers } from "./Sessions/Http.js"
import { SystemHandlers } from "./System/Http.js"

const ApiLive = HttpApiBuilder.api(GatewayApi).pipe(
  Layer.provide([
    ChatHandlers,
    MessagesHandlers,
    ResponsesHandlers,
    SessionsHandlers,
    ProjectsHandlers,
    ModelsHandlers,
    SystemHandlers
  ])
)

const redocPage = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>Claude Code API reference</title>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body>
</html>`

/** ReDoc at `/redoc`, over the same OpenAPI document. */
const RedocLive = HttpApiBuilder.Router.use((router) =>
  router.get("/redoc", Effect.succeed(HttpServerResponse.html(redocPage)))
)

/** Headers a browser client may read from our responses. */
const exposedHeaders = ["retry-after", "x-session-id", "x-project-id", "allow"]

/**
 * On shutdown, running turns are cancelled (and recorded) before the server waits for
 * open connections to close: a streaming answer then ends at once instead of holding
 * the process until its turn completes.
 */
const CancelTurnsOnShutdown = Layer.scopedDiscard(
  Effect.flatMap(SessionRunner, (runner) => Effect.addFinalizer(() => runner.shutdown))
)

/** The routes and middleware, served by whatever `HttpServer` is provided. */
export const HttpAppLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    HttpApiBuilder.serve((app) =>
      requestLog(
        HttpMiddleware.cors({
          allowedOrigins: originAllowed(config.corsOrigins),
          exposedHeaders,
          maxAge: 600
        })(app)
      )
    ).pipe(
      Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
      Layer.provide(RedocLive),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(EdgeMiddleware),
      Layer.provide(ApiLive),
      Layer.merge(CancelTurnsOnShutdown)
    ))
)

/** Listens on `HOST:PORT` (port 0 picks a free one). */
export const HttpLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    HttpAppLive.pipe(
      HttpServer.withLogAddress,
      Layer.provide(NodeHttpServer.layer(() => NodeHttp.createServer(), { port: config.port, host: config.host }))
    ))
)
