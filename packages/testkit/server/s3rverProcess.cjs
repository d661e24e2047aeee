'use strict'
/**
 * The s3rver child process started by `startS3rver()`. It must run under
 * `node --openssl-legacy-provider`: s3rver encrypts ListObjectsV2 continuation tokens with DES,
 * which Node 20's OpenSSL 3 refuses otherwise (every paginated listing would answer 500).
 *
 * Protocol (IPC): the parent sends `{ type: 'create-bucket', id, name }`,
 * `{ type: 'stats', id, resetPeak }` and `{ type: 'stop' }`; this process answers
 * `{ type: 'ready', port, root }`, `{ type: 'done', id, error?, value? }` and sends
 * `{ type: 'request' }` as each request arrives.
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

// What the server received, counted here rather than by a proxy in front of it (a proxy would
// take CPU from the clients and add a hop): requests by the class a bucket bills them as,
// response bytes, and the most requests in progress at once.
const stats = {
  requests: { GET: 0, PUT: 0, LIST: 0, DELETE: 0 },
  bytesOut: 0,
  inFlight: 0,
  peakConcurrent: 0,
}

/** PUT covers PUT and POST (uploads, multipart, batch delete); LIST is a GET of the bucket itself. */
function requestClass(method, path, query) {
  if (method === 'DELETE') return 'DELETE'
  if (method === 'PUT' || method === 'POST') return 'PUT'
  const isBucket = path.split('/').filter(Boolean).length <= 1
  return isBucket || 'list-type' in query ? 'LIST' : 'GET' // GET and HEAD of an object
}

function countRequest(ctx) {
  stats.requests[requestClass(ctx.method, ctx.path, ctx.query)]++
  stats.inFlight++
  stats.peakConcurrent = Math.max(stats.peakConcurrent, stats.inFlight)
  const res = ctx.res
  const write = res.write
  const end = res.end
  const add = (chunk, encoding) => {
    if (chunk && typeof chunk !== 'function')
      stats.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : chunk.length
  }
  res.write = function (chunk, encoding, callback) {
    add(chunk, encoding)
    return write.call(this, chunk, encoding, callback)
  }
  res.end = function (chunk, encoding, callback) {
    add(chunk, encoding)
    return end.call(this, chunk, encoding, callback)
  }
  res.once('close', () => stats.inFlight--)
}

function snapshot(resetPeak) {
  const { user, system } = process.cpuUsage()
  const value = {
    requests: { ...stats.requests },
    bytesOut: stats.bytesOut,
    peakConcurrent: stats.peakConcurrent,
    cpuMs: (user + system) / 1000,
  }
  if (resetPeak) stats.peakConcurrent = stats.inFlight
  return value
}

async function main() {
  const app = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true })
  if (enforce) enforceConditionalWrites({ store: app.store, stagingDirectory: path.join(root, 'staging') })
  // First in the stack: count every request, including the ones that end in an error.
  app.middleware.unshift((ctx, next) => {
    send({ type: 'request' })
    countRequest(ctx)
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
    if (message?.type === 'stats') send({ type: 'done', id: message.id, value: snapshot(message.resetPeak) })
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
