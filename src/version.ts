/**
 * The gateway's version, as `package.json` says (read once, from next to `src/` or `dist/`).
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

export const gatewayVersion: string = (JSON.parse(
  NodeFs.readFileSync(NodePath.resolve(import.meta.dirname, "..", "package.json"), "utf8")
) as { readonly version: string }).version
