/**
 * The OpenAPI description of an endpoint that answers JSON, or with `stream: true` server-sent
 * events: the platform documents the JSON body; this adds the event stream beside it.
 */
import { OpenApi } from "@effect/platform"

/** Documents the `text/event-stream` variant of an endpoint's 200 answer, whose events follow `eventSchema`. */
export const documentStreaming = (options: {
  /** The 200 answer in both forms. */
  readonly description: string
  /** The stream's framing and order. */
  readonly streamDescription: string
  /** The component schema of one event. */
  readonly eventSchema: string
}) =>
  OpenApi.annotations({
    transform: (operation) => {
      const responses = (operation.responses ?? {}) as Record<string, { content?: Record<string, unknown> }>
      const ok = responses["200"] ?? { content: {} }
      return {
        ...operation,
        responses: {
          ...responses,
          "200": {
            ...ok,
            description: options.description,
            content: {
              ...ok.content,
              "text/event-stream": {
                schema: {
                  type: "string",
                  description: options.streamDescription,
                  "x-event-schema": { $ref: `#/components/schemas/${options.eventSchema}` }
                }
              }
            }
          }
        }
      }
    }
  })
