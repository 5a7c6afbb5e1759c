/**
 * The `Host` check's rules: the name a header carries (ports, brackets, case, a trailing dot)
 * and which names pass with auth off and on.
 */
import { describe, expect, it } from "vitest"
import { hostAllowed, hostName } from "../../../src/Http/Edge/Host.js"

describe("hostName", () => {
  it.each([
    ["localhost", "localhost"],
    ["LocalHost:8000", "localhost"],
    ["127.0.0.1:41234", "127.0.0.1"],
    ["[::1]:8000", "::1"],
    ["[::1]", "::1"],
    ["example.com.", "example.com"],
    ["example.com.:80", "example.com"]
  ])("reads %s as %s", (header, name) => {
    expect(hostName(header)).toBe(name)
  })
})

describe("hostAllowed", () => {
  const authOff = hostAllowed({ requireAuth: false, boundHost: "127.0.0.1", allowedHosts: [] })

  it("with auth off, takes loopback names and refuses others", () => {
    for (const host of ["localhost:8000", "127.0.0.1", "127.255.0.9:1", "[::1]:8000", "LOCALHOST"]) {
      expect(authOff(host), host).toBe(true)
    }
    for (
      const host of ["attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io", "10.0.0.5:8000", "0.0.0.0"]
    ) {
      expect(authOff(host), host).toBe(false)
    }
  })

  it("takes a request without Host (no browser sends one)", () => {
    expect(authOff(undefined)).toBe(true)
  })

  it("takes the bound host and the configured names, ports ignored", () => {
    const check = hostAllowed({ requireAuth: false, boundHost: "192.168.1.5", allowedHosts: ["Gateway.lan:9000"] })
    expect(check("192.168.1.5:8000")).toBe(true)
    expect(check("gateway.lan")).toBe(true)
    expect(check("other.lan")).toBe(false)
  })

  it("takes any name with *", () => {
    expect(hostAllowed({ requireAuth: false, boundHost: "127.0.0.1", allowedHosts: ["*"] })("anything.example")).toBe(
      true
    )
  })

  it("with auth on, takes any name unless ALLOWED_HOSTS lists some", () => {
    expect(hostAllowed({ requireAuth: true, boundHost: "0.0.0.0", allowedHosts: [] })("api.example.com")).toBe(true)
    const listed = hostAllowed({ requireAuth: true, boundHost: "0.0.0.0", allowedHosts: ["api.example.com"] })
    expect(listed("api.example.com:443")).toBe(true)
    expect(listed("localhost")).toBe(true)
    expect(listed("other.example.com")).toBe(false)
  })
})
