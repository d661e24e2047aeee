/**
 * The adapter against a real S3-compatible server (s3rver, from @relup/testkit), beyond the
 * conformance suite: why the fixture's conditional-write enforcement exists, configuration from
 * the environment alone, and what real failures look like.
 */
import { inspect } from 'node:util'
import { listAll, type Storage, StorageTransportError } from '@relup/core'
import { type S3rverServer, s3rverEnv, startS3rver } from '@relup/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type S3StorageOptions, s3Storage } from '../src/index.js'

const BUCKET = 'relup-s3rver'
let enforcing: S3rverServer
let plain: S3rverServer
const opened: Storage[] = []

beforeAll(async () => {
  ;[enforcing, plain] = await Promise.all([startS3rver(), startS3rver({ enforceConditionalWrites: false })])
  await Promise.all([enforcing.createBucket(BUCKET), plain.createBucket(BUCKET)])
})
afterAll(async () => {
  await Promise.all([enforcing?.stop(), plain?.stop()])
})
afterEach(async () => {
  await Promise.all(opened.splice(0).map((storage) => storage.close?.()))
})

let prefixes = 0
function storageOn(server: S3rverServer, options: S3StorageOptions = {}) {
  const storage = s3Storage({
    prefix: `s3rver-test/${++prefixes}`,
    env: s3rverEnv(server, BUCKET),
    ...options,
  })
  opened.push(storage)
  return storage
}

const race = (storage: Storage, writers: number) =>
  Promise.all(
    Array.from({ length: writers }, (_, i) => storage.put('race.json', `writer-${i}`, { ifNoneMatch: '*' })),
  )

describe('the fixture is what makes conditional writes real', () => {
  it('s3rver alone ignores If-None-Match: two create-only puts of one key both succeed', async () => {
    const storage = storageOn(plain)
    expect((await storage.put('lock.json', 'first', { ifNoneMatch: '*' })).status).toBe('ok')
    expect((await storage.put('lock.json', 'second', { ifNoneMatch: '*' })).status).toBe('ok')
  })

  it('with enforcement the second create-only put is precondition-failed', async () => {
    const storage = storageOn(enforcing)
    expect((await storage.put('lock.json', 'first', { ifNoneMatch: '*' })).status).toBe('ok')
    expect(await storage.put('lock.json', 'second', { ifNoneMatch: '*' })).toEqual({
      status: 'precondition-failed',
    })
  })

  it('20 concurrent create-only puts: several "winners" on s3rver alone, exactly one with enforcement', async () => {
    const unenforced = await race(storageOn(plain), 20)
    const enforced = await race(storageOn(enforcing), 20)
    expect(unenforced.filter((r) => r.status === 'ok').length).toBeGreaterThan(1)
    expect(enforced.filter((r) => r.status === 'ok')).toHaveLength(1)
  })

  it('s3rver alone ignores If-Match on DELETE; the fixture enforces it', async () => {
    for (const [server, survives] of [
      [plain, false],
      [enforcing, true],
    ] as const) {
      const storage = storageOn(server, { conditionalDelete: true })
      const first = await storage.put('lock.json', 'mine')
      await storage.put('lock.json', 'theirs')
      if (first.status !== 'ok') throw new Error('put failed')
      await storage.delete('lock.json', { ifMatch: first.etag })
      expect((await storage.get('lock.json')).status).toBe(survives ? 'ok' : 'not-found')
    }
  })
})

describe('checksums', () => {
  async function* chunks() {
    for (let i = 0; i < 4; i++) yield new Uint8Array(1000).fill(65 + i)
  }

  it("the default ('when-required') streams plain bytes: the object comes back intact", async () => {
    const storage = storageOn(enforcing)
    await storage.put('artifacts/a.bin', chunks(), { contentLength: 4000 })
    const read = await storage.get('artifacts/a.bin')
    expect(read.status === 'ok' && read.body.byteLength).toBe(4000)
  })

  it("with 'when-supported' the SDK frames the stream as aws-chunked, and s3rver stores the framing as data", async () => {
    const storage = storageOn(enforcing, { checksums: 'when-supported' })
    await storage.put('artifacts/a.bin', chunks(), { contentLength: 4000 })
    const read = await storage.get('artifacts/a.bin')
    if (read.status !== 'ok') throw new Error('expected the object')
    expect(read.body.byteLength).not.toBe(4000)
    expect(new TextDecoder().decode(read.body)).toContain('x-amz-checksum-crc32')
  })
})

describe('on a real server', () => {
  it('the variables Fly.io sets are all it takes (path-style to a custom endpoint)', async () => {
    const storage = s3Storage({ env: s3rverEnv(enforcing, BUCKET), prefix: 'env-only' })
    opened.push(storage)
    const put = await storage.put('current.json', '{"seq":1}', { ifNoneMatch: '*' })
    expect(put.status).toBe('ok')
    const read = await storage.get('current.json')
    expect(read.status === 'ok' && new TextDecoder().decode(read.body)).toBe('{"seq":1}')
    if (put.status === 'ok')
      expect(await storage.get('current.json', { ifNoneMatch: put.etag })).toEqual({ status: 'not-modified' })
    const keys: string[] = []
    for await (const item of listAll(storage, '')) keys.push(item.key)
    expect(keys).toEqual(['current.json'])
  })

  it('a bucket that does not exist: an error that says to create it', async () => {
    const storage = storageOn(enforcing, { bucket: 'no-such-bucket' })
    const error = await storage.get('current.json').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageTransportError)
    expect(error).toMatchObject({ status: 404, retryable: false })
    expect((error as Error).message).toContain('bucket "no-such-bucket" does not exist')
  })

  it('an unknown access key: a 403 that says to check the credentials, and never shows the key', async () => {
    const accessKeyId = 'AKIAUNKNOWNRELUPKEY1'
    const secretAccessKey = 'unknown/relup+secret/key'
    const storage = storageOn(enforcing, { credentials: { accessKeyId, secretAccessKey } })
    const error = await storage.put('current.json', '{}').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageTransportError)
    expect(error).toMatchObject({ status: 403, retryable: false })
    expect((error as Error).message).toContain('InvalidAccessKeyId')
    expect((error as Error).message).toContain('check the credentials')
    for (const text of [
      String(error),
      (error as Error).stack,
      JSON.stringify(error),
      inspect(error, { depth: 10 }),
    ]) {
      expect(text).not.toContain(accessKeyId)
      expect(text).not.toContain(secretAccessKey)
    }
  })

  it('an abandoned download stream can be destroyed without hanging', async () => {
    const storage = storageOn(enforcing)
    await storage.put('artifacts/big.bin', new Uint8Array(4 * 1024 * 1024))
    const result = await storage.getStream('artifacts/big.bin')
    if (result.status !== 'ok') throw new Error('expected the object')
    const first = await new Promise<Buffer>((resolve) => result.body.once('data', resolve))
    expect(first.byteLength).toBeGreaterThan(0)
    result.body.destroy()
    await new Promise((resolve) => result.body.once('close', resolve))
    // The storage still works afterwards.
    expect((await storage.get('artifacts/big.bin')).status).toBe('ok')
  })
})
