'use strict'
/**
 * The s3rver child process started by `startS3rver()`. It must run under
 * `node --openssl-legacy-provider`: s3rver encrypts ListObjectsV2 continuation tokens with DES,
 * which Node 20's OpenSSL 3 refuses otherwise (every paginated listing would answer 500).
 *
 * Protocol (IPC): the parent sends `{ type: 'create-bucket', id, name }` and
 * `{ type: 'stop' }`; this process answers `{ type: 'ready', port, root }`,
 * `{ type: 'done', id, error? }` and sends `{ type: 'request' }` as each request arrives.
 * It exits when told to stop, on SIGTERM, or as soon as the parent goes away.
 */
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const S3rver = require('s3rver')
const { enforceConditionalWrites } = require('./conditionalWrites.cjs')

const enforce = process.env.RELUP_S3RVER_ENFORCE !== '0'
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'relup-s3rver-'))
const directory = path.join(root, 'data')
fs.mkdirSync(directory)

let cleanedUp = false
function cleanUp() {
  if (cleanedUp) return
  cleanedUp = true
  try {
    // s3rver answers some writes before their files are flushed: retry while they land.
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 })
  } catch {
    // A temp directory left behind must not turn a clean stop into a crash.
  }
}
process.on('exit', cleanUp)

function send(message) {
  if (process.connected) process.send(message)
}

async function main() {
  const app = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true })
  if (enforce) enforceConditionalWrites({ store: app.store, stagingDirectory: path.join(root, 'staging') })
  // First in the stack: count every request, including the ones that end in an error.
  app.middleware.unshift((_ctx, next) => {
    send({ type: 'request' })
    return next()
  })

  const { port } = await app.run()

  let stopping
  const stop = () => {
    stopping ??= (async () => {
      // Keep-alive sockets from clients would hold close() open: end them.
      app.httpServer.closeAllConnections?.()
      await app.close().catch(() => {})
      cleanUp()
      process.exit(0)
    })()
    return stopping
  }

  process.on('message', async (message) => {
    if (message?.type === 'stop') return stop()
    if (message?.type === 'create-bucket') {
      try {
        await app.store.putBucket(message.name)
        send({ type: 'done', id: message.id })
      } catch (error) {
        send({ type: 'done', id: message.id, error: String(error?.message ?? error) })
      }
    }
  })
  process.on('disconnect', stop)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)

  send({ type: 'ready', port, root })
}

main().catch((error) => {
  send({ type: 'failed', error: String(error?.stack ?? error) })
  cleanUp()
  process.exit(1)
})
