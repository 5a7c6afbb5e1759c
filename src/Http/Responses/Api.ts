/**
 * The responses group's endpoints: OpenAI's Responses API (JSON or SSE), and reading and
 * deleting a stored response.
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { documentStreaming } from "../StreamingDocs.js"
import { DeletedResponse, ResponseObject, ResponsesRequest } from "./Wire.js"

export const ResponsePath = Schema.Struct({ response_id: Schema.String })

/** Adds the SSE variant of the answer to the generated document. */
const streamingDocs = documentStreaming({
  description: "A response (JSON), or with `stream: true` a text/event-stream of response events",
  streamDescription:
    "Server-sent events, each `event: <type>` and `data: <ResponseStreamEvent JSON>`, numbered by `sequence_number` from 0: response.created, response.in_progress, each output item from output_item.added to output_item.done, then response.completed, response.incomplete or response.failed, and `data: [DONE]`. Silent stretches carry `keepalive` events.",
  eventSchema: "ResponseStreamEvent"
})

export class ResponsesApi extends HttpApiGroup.make("responses")
  .add(
    HttpApiEndpoint.post("createResponse", "/v1/responses")
      .setPayload(ResponsesRequest)
      .addSuccess(ResponseObject)
      .annotate(OpenApi.Summary, "Create a response (JSON or SSE)")
      .annotate(
        OpenApi.Description,
        "OpenAI's Responses API, on the same sessions as chat completions. Extension fields: `session_id`, `project_id` in the request and the response; `usage.cost_usd`; `X-Session-ID` and `X-Project-ID` headers."
      )
      .annotateContext(streamingDocs)
  )
  .add(
    HttpApiEndpoint.get("getResponse", "/v1/responses/:response_id")
      .setPath(ResponsePath)
      .addSuccess(ResponseObject)
      .annotate(OpenApi.Summary, "A stored response")
      .annotate(
        OpenApi.Description,
        "Projected from the event log. 404 for an unknown or deleted response, one created with `store: false`, or another key's."
      )
  )
  .add(
    HttpApiEndpoint.del("deleteResponse", "/v1/responses/:response_id")
      .setPath(ResponsePath)
      .addSuccess(DeletedResponse)
      .annotate(OpenApi.Summary, "Delete a stored response")
      .annotate(
        OpenApi.Description,
        "Recorded as a ResponseDeleted event; the response is no longer read back or referred to. Its turn stays in the session's conversation. A response whose turn still runs is cancelled first; while another turn of its session runs, the deletion waits up to 2 s for it, then answers 409 `session_busy`."
      )
  )
{}
