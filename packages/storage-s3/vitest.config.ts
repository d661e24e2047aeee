import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Tests against s3rver start a child process and move real bytes.
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // The SDK warns once per process that its 2027 releases need Node 22; not news to a test run.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
})
