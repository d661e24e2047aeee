import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The memory test calls gc() to tell retained memory from garbage not yet collected.
    pool: 'forks',
    execArgv: ['--expose-gc'],
    testTimeout: 15_000,
  },
})
