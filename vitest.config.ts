import { configDefaults, defineConfig } from "vitest/config"

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
      // The HTTP suites again, each gateway on a database of its own on one Postgres server for
      // the run (test/support/SuitePostgres.ts). Left out: what is SQLite's by nature (its pragmas,
      // its file) and suites that bring their own Postgres server.
      {
        extends: true,
        test: {
          name: "postgres",
          include: ["test/Http/**/*.test.ts", "test/e2e/KeyIsolation.test.ts"],
          exclude: [...configDefaults.exclude, "test/Http/StoreFailure.test.ts", "test/Http/Postgres.test.ts"],
          globalSetup: ["test/support/SuitePostgres.ts"]
        }
      }
    ]
  }
})
