import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The end-to-end suites spawn real CLI processes; two cores do not like many at once.
    maxConcurrency: 4,
    fileParallelism: true,
    poolOptions: { forks: { maxForks: 2, minForks: 1, isolate: false } },
    pool: "forks",
    // The JSON report lets CI print a plain "N passed, N failed" closing line.
    reporters: ["default", "json"],
    outputFile: { json: ".tmp/vitest-report.json" },
    projects: [
      // Every suite, each gateway on a SQLite file of its own.
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts"] } },
      // The HTTP suites that start a gateway, again, each gateway on a database of its own on one
      // Postgres server for the run (test/support/SuitePostgres.ts). Not again: the pure ones
      // (projections, parsing), what is SQLite's by nature (StoreFailure: its pragmas, its file)
      // and the suites with a server of their own (Postgres.test.ts, test/Cluster). A new HTTP
      // suite that starts a gateway goes here.
      {
        extends: true,
        test: {
          name: "postgres",
          include: [
            "Auth",
            "ChatCompletions",
            "Edge/Limits",
            "Models",
            "Operations",
            "ProjectOwnership",
            "Projects",
            "Responses/Responses",
            "SeedParity",
            "Sessions"
          ].map((suite) => `test/Http/${suite}.test.ts`).concat("test/e2e/KeyIsolation.test.ts"),
          globalSetup: ["test/support/SuitePostgres.ts"]
        }
      }
    ]
  }
})
