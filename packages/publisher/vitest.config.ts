import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The doctor probes a real S3-compatible server started by the test.
    testTimeout: 30_000,
  },
})
