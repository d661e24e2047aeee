#!/usr/bin/env node
import { run } from './main.js'

// The AWS SDK warns (nine lines on stderr) on Node < 22 when its client is created; a relup user
// cannot act on it. The SDK is loaded only for s3:// storage, after this line. A user's own
// setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(
      `relup: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    )
    process.exitCode = 1
  },
)
