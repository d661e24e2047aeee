'use strict'
/**
 * Makes s3rver honour S3's conditional writes, which it otherwise ignores:
 *
 * - PutObject `If-None-Match: *` → 412 PreconditionFailed when the key exists;
 * - PutObject `If-Match: <etag>` → 404 NoSuchKey when the key is missing, 412 when the etag differs;
 * - DeleteObject `If-Match: <etag>` → the same answers (AWS S3's conditional deletes);
 * - any other precondition on a write (`If-None-Match: <etag>`, conditional copies or multipart
 *   completions, `x-amz-if-match-*`) → 501 NotImplemented, never silently ignored.
 *
 * It wraps s3rver's object controllers, so requests have passed routing, authentication and the
 * bucket check by then. Every read and write of one bucket/key runs under a per-key lock, and a
 * PUT streams its body to a staging file first and renames it into place only when the upload is
 * complete: the check and the write are one atomic step (20 concurrent create-only PUTs have
 * exactly one winner), an aborted upload leaves nothing behind, and a GET never sees half an
 * object or an etag that belongs to other content.
 */
const crypto = require('node:crypto')
const fs = require('node:fs')
const fsp = require('node:fs/promises')
const path = require('node:path')
const { pipeline } = require('node:stream/promises')
const objectController = require('s3rver/lib/controllers/object')
const S3Error = require('s3rver/lib/models/error')
const S3Object = require('s3rver/lib/models/object')

const UNSUPPORTED_WRITE_HEADERS = [
  'x-amz-if-match-size',
  'x-amz-if-match-last-modified-time',
  'if-modified-since',
  'if-unmodified-since',
  'x-amz-copy-source-if-match',
  'x-amz-copy-source-if-none-match',
  'x-amz-copy-source-if-modified-since',
  'x-amz-copy-source-if-unmodified-since',
]

/** A FIFO mutex per key: each holder runs after the previous one settled. */
function keyedMutex() {
  const tails = new Map()
  return async function withLock(id, fn) {
    const previous = tails.get(id) ?? Promise.resolve()
    let release
    const current = new Promise((resolve) => {
      release = resolve
    })
    const tail = previous.then(() => current)
    tails.set(id, tail)
    await previous
    try {
      return await fn()
    } finally {
      release()
      if (tails.get(id) === tail) tails.delete(id)
    }
  }
}

const unquote = (etag) =>
  etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1')

function preconditionFailed(condition) {
  return new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
    Condition: condition,
  })
}

function notImplemented(header) {
  return new S3Error(
    'NotImplemented',
    'A header you provided implies functionality that is not implemented',
    {
      Header: header,
    },
  )
}

function noSuchKey(key) {
  return new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key })
}

async function currentEtag(store, bucket, key) {
  if (!(await store.existsObject(bucket, key))) return undefined
  try {
    return unquote((await store.getMetadata(bucket, key)).etag)
  } catch (error) {
    if (error.code === 'ENOENT') return undefined
    throw error
  }
}

/** Throws the S3 error the request's preconditions call for, given the key's current etag. */
function checkIfMatch(headers, etag, key) {
  const ifMatch = headers['if-match']
  if (ifMatch === undefined) return
  if (etag === undefined) throw noSuchKey(key)
  const accepted = ifMatch.split(',').map(unquote)
  if (!accepted.includes('*') && !accepted.includes(etag)) throw preconditionFailed('If-Match')
}

function refuseUnsupported(headers, allowed) {
  for (const header of ['if-match', 'if-none-match', ...UNSUPPORTED_WRITE_HEADERS]) {
    if (headers[header] !== undefined && !allowed.includes(header)) throw notImplemented(header)
  }
}

/**
 * @param {{ store: any, stagingDirectory: string }} options
 * @returns {() => void} restores the original controllers
 */
function enforceConditionalWrites({ store, stagingDirectory }) {
  const withLock = keyedMutex()
  const original = { ...objectController }
  let staged = 0
  fs.mkdirSync(stagingDirectory, { recursive: true })

  /** Receive the whole body into a staging file: nothing is visible until it is complete. */
  async function receive(ctx) {
    const file = path.join(stagingDirectory, `${process.pid}-${++staged}.part`)
    const md5 = crypto.createHash('md5')
    let size = 0
    try {
      await pipeline(
        ctx.req,
        async function* (chunks) {
          for await (const chunk of chunks) {
            md5.update(chunk)
            size += chunk.length
            yield chunk
          }
        },
        fs.createWriteStream(file),
      )
      const declared = ctx.headers['content-length']
      if (declared !== undefined && Number(declared) !== size) {
        throw new S3Error(
          'IncompleteBody',
          'You did not provide the number of bytes specified by the Content-Length HTTP header',
        )
      }
      return { file, size, md5: md5.digest('hex') }
    } catch (error) {
      await fsp.rm(file, { force: true })
      throw error
    }
  }

  /** Move a received body into place; a concurrent delete may remove an emptied parent directory. */
  async function commit(bucket, key, received, headers) {
    const objectPath = store.getResourcePath(bucket, key, 'object')
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.mkdir(path.dirname(objectPath), { recursive: true })
        await fsp.rename(received.file, objectPath)
        break
      } catch (error) {
        if (error.code !== 'ENOENT' || attempt >= 5) throw error
      }
    }
    await store.putMetadata(bucket, key, new S3Object(bucket, key, null, headers).metadata, received.md5)
  }

  objectController.putObject = async function putObject(ctx) {
    const { bucket, key } = ctx.params
    refuseUnsupported(ctx.headers, ['if-match', 'if-none-match'])
    const ifNoneMatch = ctx.headers['if-none-match']
    if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw notImplemented('If-None-Match')
    const received = await receive(ctx)
    try {
      await withLock(`${bucket}/${key}`, async () => {
        const etag = await currentEtag(store, bucket, key)
        if (ifNoneMatch !== undefined && etag !== undefined) throw preconditionFailed('If-None-Match')
        checkIfMatch(ctx.headers, etag, key)
        await commit(bucket, key, received, ctx.headers)
      })
    } finally {
      await fsp.rm(received.file, { force: true })
    }
    ctx.etag = received.md5
    ctx.body = ''
  }

  objectController.deleteObject = async function deleteObject(ctx) {
    const { bucket, key } = ctx.params
    refuseUnsupported(ctx.headers, ['if-match'])
    await withLock(`${bucket}/${key}`, async () => {
      checkIfMatch(ctx.headers, await currentEtag(store, bucket, key), key)
      await original.deleteObject(ctx)
    })
  }

  // Reads take the lock too, so the metadata and the opened file belong to the same write. A
  // matching If-None-Match is answered here: s3rver opens the file before it compares etags and
  // never closes it on a 304, which would leak a descriptor per poll.
  objectController.getObject = async function getObject(ctx) {
    const { bucket, key } = ctx.params
    await withLock(`${bucket}/${key}`, async () => {
      const ifNoneMatch = ctx.headers['if-none-match']
      if (ifNoneMatch !== undefined && ctx.headers.range === undefined) {
        const etag = await currentEtag(store, bucket, key)
        const candidates = ifNoneMatch.split(',').map(unquote)
        if (etag !== undefined && (candidates.includes('*') || candidates.includes(etag))) {
          ctx.set('ETag', `"${etag}"`)
          ctx.status = 304
          return
        }
      }
      await original.getObject(ctx)
    })
  }

  objectController.putObjectCopy = async function putObjectCopy(ctx) {
    refuseUnsupported(ctx.headers, [])
    const { bucket, key } = ctx.params
    await withLock(`${bucket}/${key}`, () => original.putObjectCopy(ctx))
  }

  objectController.completeMultipartUpload = async function completeMultipartUpload(ctx) {
    refuseUnsupported(ctx.headers, [])
    const { bucket, key } = ctx.params
    await withLock(`${bucket}/${key}`, () => original.completeMultipartUpload(ctx))
  }

  return () => Object.assign(objectController, original)
}

module.exports = { enforceConditionalWrites }
