import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real processes (servers, the relup CLI, Chromium): generous per-test limits, while the
    // whole suite stays well under a minute.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
