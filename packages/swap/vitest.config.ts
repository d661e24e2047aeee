import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The garbage-collection tests call gc(): run every file in a child process that exposes it.
    pool: 'forks',
    execArgv: ['--expose-gc'],
    testTimeout: 10_000,
  },
})
