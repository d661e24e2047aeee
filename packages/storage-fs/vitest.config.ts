import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // The cross-process tests fork workers that import the built package: rebuild it when stale.
    globalSetup: ['./test/fixtures/buildDist.ts'],
    testTimeout: 30_000,
  },
})
