/**
 * Waiting for a gateway started as a process of its own to answer `/health`.
 */

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Resolves once `${url}/health` answers 200; fails, with the server's `output`, when the
 * deadline passes or the process has `exited` first.
 */
export const waitForHealthy = async (
  url: string,
  server: { readonly output: () => string; readonly exited?: () => boolean },
  timeoutMs = 15_000
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (server.exited?.() === true) throw new Error(`server exited early: ${server.output()}`)
    try {
      const response = await fetch(`${url}/health`)
      await response.arrayBuffer()
      if (response.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(`server did not become healthy: ${server.output()}`)
}
