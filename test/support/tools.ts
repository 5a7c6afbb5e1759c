/**
 * A client's tool as the OpenAI wire carries it, shared by the suites and benchmarks that drive
 * function calling.
 */
export const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
} as const
