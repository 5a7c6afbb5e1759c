/**
 * Regenerates the checked-in contracts under `schemas/` (`npm run schemas`).
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { contracts, renderContract } from "../src/Contracts.js"

const directory = NodePath.resolve(import.meta.dirname, "..", "schemas")
NodeFs.mkdirSync(directory, { recursive: true })
for (const [name, content] of Object.entries(contracts())) {
  NodeFs.writeFileSync(NodePath.join(directory, name), renderContract(content))
  console.log(`wrote schemas/${name}`)
}
