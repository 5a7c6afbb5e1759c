import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The end-to-end suites spawn real CLI processes; two cores do not like many at once.
    maxConcurrency: 4,
    fileParallelism: true,
    poolOptions: { forks: { maxForks: 2, minForks: 1, isolate: false } },
    pool: "forks",
    // The JSON report lets CI print a plain "N passed, N failed" closing line.
    reporters: ["default", "json"],
    outputFile: { json: ".tmp/vitest-report.json" }
  }
})
