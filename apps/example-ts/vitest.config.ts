import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real processes (the server, the relup CLI): generous per-test limits.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
