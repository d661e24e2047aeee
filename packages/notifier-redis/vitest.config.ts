import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // The tests start, kill and restart a real server.
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
})
