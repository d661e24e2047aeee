import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every test runs real supervisor and app processes; they need a little more than the default.
    testTimeout: 20_000,
  },
})
