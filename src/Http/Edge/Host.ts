/**
 * Which `Host` a request may be addressed to. A web page can make a browser send requests
 * to the gateway under the page's own name (DNS rebinding), and then read the answers; the
 * name in `Host` gives that away. Ports do not matter, names are compared case-insensitively.
 */
import { isLoopbackHost } from "../../AppConfig.js"

/** `Example.COM:8000` → `example.com`, `[::1]:8000` → `::1`. */
export const hostName = (host: string): string => {
  const value = host.trim().toLowerCase()
  if (value.startsWith("[")) {
    const end = value.indexOf("]")
    return end === -1 ? value : value.slice(1, end)
  }
  const colon = value.indexOf(":")
  // One colon is a port; more is a bare IPv6 address.
  const name = colon !== -1 && colon === value.lastIndexOf(":") ? value.slice(0, colon) : value
  return name.endsWith(".") ? name.slice(0, -1) : name
}

/**
 * Whether a request's `Host` header is acceptable: with auth off, loopback names, the bound
 * host and the `ALLOWED_HOSTS` entries; with auth on, any name unless `ALLOWED_HOSTS` lists
 * some (then those, as with auth off). `*` allows any name. A request without `Host` (no
 * browser sends one) is not refused.
 */
export const hostAllowed = (options: {
  readonly requireAuth: boolean
  readonly boundHost: string
  readonly allowedHosts: ReadonlyArray<string>
}) => {
  const allowed = new Set([options.boundHost, ...options.allowedHosts].map(hostName))
  const anyName = options.allowedHosts.includes("*") || (options.requireAuth && options.allowedHosts.length === 0)
  return (host: string | undefined): boolean => {
    if (anyName || host === undefined) return true
    const name = hostName(host)
    return isLoopbackHost(name) || allowed.has(name)
  }
}
