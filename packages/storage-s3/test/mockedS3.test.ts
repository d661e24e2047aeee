import { Readable } from 'node:stream'
import { StorageTransportError, UnsupportedCapabilityError } from '@relup/core'
import { HttpResponse, http } from 'msw'
import { describe, expect, it } from 'vitest'
import { BUCKET, ENDPOINT, s3Error, useMockedS3 } from './fakeS3.js'

const s3 = useMockedS3()
const { server, storageFor } = s3

const objectUrl = `${ENDPOINT}/${BUCKET}/*`
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const requestsFor = (method: string) => s3.fake.requests.filter((r) => r.method === method)

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks).toString()
}

async function rejection(promise: Promise<unknown>): Promise<StorageTransportError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(StorageTransportError)
  return error as StorageTransportError
}

describe('reads', () => {
  it('get sends a SigV4-signed, path-style GetObject under the prefix and returns the body and ETag', async () => {
    const etag = s3.fake.seed('relup/chat/current.json', '{"seq":1}')
    const result = await storageFor().get('current.json')
    expect(result).toEqual({ status: 'ok', etag, body: new TextEncoder().encode('{"seq":1}') })

    const [request] = s3.fake.requests
    expect(request?.method).toBe('GET')
    expect(request?.url.pathname).toBe(`/${BUCKET}/relup/chat/current.json`)
    expect(request?.headers.get('authorization')).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIARELUPTESTKEY0001\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    )
    expect(request?.headers.has('if-none-match')).toBe(false)
  })

  it('ifNoneMatch is sent as If-None-Match, and a 304 with no body is not-modified', async () => {
    const etag = s3.fake.seed('relup/chat/current.json', '{"seq":1}')
    const storage = storageFor()
    expect(await storage.get('current.json', { ifNoneMatch: etag })).toEqual({ status: 'not-modified' })
    expect(await storage.getStream('current.json', { ifNoneMatch: etag })).toEqual({ status: 'not-modified' })
    expect(s3.fake.requests.map((r) => r.headers.get('if-none-match'))).toEqual([etag, etag])
  })

  it('a stale ifNoneMatch gets the current body and its new etag', async () => {
    const old = s3.fake.seed('relup/chat/current.json', '{"seq":1}')
    const current = s3.fake.seed('relup/chat/current.json', '{"seq":2}')
    const result = await storageFor().get('current.json', { ifNoneMatch: old })
    expect(result.status === 'ok' && [text(result.body), result.etag]).toEqual(['{"seq":2}', current])
  })

  it('a missing key (404 NoSuchKey) is not-found for get and getStream', async () => {
    const storage = storageFor()
    expect(await storage.get('nothing.json')).toEqual({ status: 'not-found' })
    expect(await storage.getStream('nothing.json')).toEqual({ status: 'not-found' })
  })

  it('getStream hands back a Node Readable of the body, with its size', async () => {
    const etag = s3.fake.seed('relup/chat/artifacts/v1.tgz', 'x'.repeat(100_000))
    const result = await storageFor().getStream('artifacts/v1.tgz')
    expect(result.status).toBe('ok')
    if (result.status !== 'ok') return
    expect(result.body).toBeInstanceOf(Readable)
    expect(result.etag).toBe(etag)
    expect(result.size).toBe(100_000)
    expect(await readAll(result.body)).toBe('x'.repeat(100_000))
  })

  it('a missing bucket is not "not-found" but an error that says to create the bucket', async () => {
    server.use(
      http.get(objectUrl, () =>
        s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: BUCKET }),
      ),
    )
    const error = await rejection(storageFor().get('current.json'))
    expect(error).toMatchObject({ status: 404, retryable: false, operation: 'get', key: 'current.json' })
    expect(error.message).toContain(`bucket "${BUCKET}" does not exist`)
    expect(error.message).toContain('create it')
  })
})

describe('conditional writes', () => {
  it('create-only sends If-None-Match: * and an existing key is precondition-failed (412), in one request', async () => {
    s3.fake.seed('relup/chat/lock.json', 'held')
    const storage = storageFor({ retry: { maxAttempts: 5 } })
    expect(await storage.put('lock.json', 'mine', { ifNoneMatch: '*' })).toEqual({
      status: 'precondition-failed',
    })
    const puts = requestsFor('PUT')
    expect(puts).toHaveLength(1)
    expect(puts[0]?.headers.get('if-none-match')).toBe('*')
    expect(text(s3.fake.objects.get('relup/chat/lock.json')!.body)).toBe('held')
  })

  it('create-only of a missing key succeeds and returns the new etag', async () => {
    const result = await storageFor().put('lock.json', 'mine', { ifNoneMatch: '*' })
    expect(result).toEqual({ status: 'ok', etag: s3.fake.objects.get('relup/chat/lock.json')?.etag })
  })

  it('compare-and-swap sends If-Match: the current etag swaps, a stale one is precondition-failed (412, one request)', async () => {
    const first = s3.fake.seed('relup/chat/current.json', 'v1')
    const storage = storageFor({ retry: { maxAttempts: 5 } })
    const swapped = await storage.put('current.json', 'v2', { ifMatch: first })
    expect(swapped.status).toBe('ok')
    expect(await storage.put('current.json', 'v3', { ifMatch: first })).toEqual({
      status: 'precondition-failed',
    })
    const puts = requestsFor('PUT')
    expect(puts.map((r) => r.headers.get('if-match'))).toEqual([first, first])
    expect(text(s3.fake.objects.get('relup/chat/current.json')!.body)).toBe('v2')
  })

  it('If-Match on a missing key (S3 answers 404 NoSuchKey) is precondition-failed', async () => {
    expect(await storageFor().put('current.json', 'v1', { ifMatch: '"0123"' })).toEqual({
      status: 'precondition-failed',
    })
    expect(s3.fake.objects.has('relup/chat/current.json')).toBe(false)
  })

  it('409 ConditionalRequestConflict is retried, and the retry decides', async () => {
    server.use(
      http.put(
        objectUrl,
        ({ request }) => {
          s3.fake.record(request)
          return s3Error(
            409,
            'ConditionalRequestConflict',
            'A conflicting conditional operation is currently in progress',
          )
        },
        { once: true },
      ),
    )
    const result = await storageFor().put('lock.json', 'mine', { ifNoneMatch: '*' })
    expect(result.status).toBe('ok')
    expect(requestsFor('PUT')).toHaveLength(2)
  })

  it('a 409 ConditionalRequestConflict that outlasts the retries is precondition-failed', async () => {
    server.use(
      http.put(objectUrl, ({ request }) => {
        s3.fake.record(request)
        return s3Error(
          409,
          'ConditionalRequestConflict',
          'A conflicting conditional operation is currently in progress',
        )
      }),
    )
    const result = await storageFor({ retry: { maxAttempts: 3 } }).put('lock.json', 'mine', {
      ifNoneMatch: '*',
    })
    expect(result).toEqual({ status: 'precondition-failed' })
    expect(requestsFor('PUT')).toHaveLength(3)
  })
  it('a store that does not implement conditional writes (501) is a final error, never a silent success', async () => {
    server.use(
      http.put(objectUrl, ({ request }) => {
        s3.fake.record(request)
        return s3Error(
          501,
          'NotImplemented',
          'A header you provided implies functionality that is not implemented',
        )
      }),
    )
    const error = await rejection(storageFor().put('lock.json', 'mine', { ifNoneMatch: '*' }))
    expect(error).toMatchObject({ status: 501, retryable: false })
    expect(error.message).toContain('conditional writes need If-None-Match/If-Match support')
    expect(requestsFor('PUT')).toHaveLength(1)
  })
})

describe('put bodies and checksums', () => {
  async function* chunks(count: number, size: number) {
    for (let i = 0; i < count; i++) yield new Uint8Array(size).fill(97 + i)
  }

  it('a streamed body with contentLength goes out as plain bytes: Content-Length, no aws-chunked framing, no checksum', async () => {
    const result = await storageFor().put('artifacts/a.tgz', chunks(4, 1000), { contentLength: 4000 })
    expect(result.status).toBe('ok')
    const [put] = requestsFor('PUT')
    expect(put?.headers.get('content-length')).toBe('4000')
    expect(put?.headers.get('content-encoding')).toBeNull()
    expect(
      [...put!.headers.keys()].filter((name) => name.includes('checksum') || name === 'x-amz-trailer'),
    ).toEqual([])
    expect(s3.fake.objects.get('relup/chat/artifacts/a.tgz')?.body.byteLength).toBe(4000)
  })

  it("checksums: 'when-supported' lets the SDK add its CRC32 (an aws-chunked trailer for streams)", async () => {
    const storage = storageFor({ checksums: 'when-supported' })
    await storage.put('doc.json', '{}')
    await storage.put('artifacts/a.tgz', chunks(2, 10), { contentLength: 20 })
    const [bytes, streamed] = requestsFor('PUT')
    expect(bytes?.headers.get('x-amz-sdk-checksum-algorithm')).toBe('CRC32')
    expect(bytes?.headers.has('x-amz-checksum-crc32')).toBe(true)
    expect(streamed?.headers.get('content-encoding')).toBe('aws-chunked')
    expect(streamed?.headers.get('x-amz-trailer')).toBe('x-amz-checksum-crc32')
  })

  it('a streamed body without contentLength is buffered and sent with its length', async () => {
    const result = await storageFor().put('artifacts/b.tgz', chunks(3, 500))
    expect(result.status).toBe('ok')
    expect(requestsFor('PUT')[0]?.headers.get('content-length')).toBe('1500')
  })

  it('a streamed body without contentLength larger than maxBufferBytes is refused before any request', async () => {
    await expect(storageFor({ maxBufferBytes: 1000 }).put('artifacts/c.tgz', chunks(3, 500))).rejects.toThrow(
      /pass contentLength to stream it/,
    )
    expect(s3.fake.requests).toHaveLength(0)
  })

  it('a stream shorter than its contentLength fails and stores nothing', async () => {
    await expect(storageFor().put('artifacts/d.tgz', chunks(2, 100), { contentLength: 300 })).rejects.toThrow(
      /ended after 200 bytes/,
    )
    expect(s3.fake.objects.has('relup/chat/artifacts/d.tgz')).toBe(false)
  })
})

describe('retries', () => {
  const slowDownOnce = () =>
    http.put(
      objectUrl,
      ({ request }) => {
        s3.fake.record(request)
        return s3Error(503, 'SlowDown', 'Please reduce your request rate.')
      },
      { once: true },
    )

  it('503 SlowDown then 200: the put is retried and succeeds (2 requests)', async () => {
    server.use(slowDownOnce())
    const result = await storageFor().put('current.json', '{"seq":1}')
    expect(result.status).toBe('ok')
    expect(requestsFor('PUT')).toHaveLength(2)
    expect(text(s3.fake.objects.get('relup/chat/current.json')!.body)).toBe('{"seq":1}')
  })

  it('with retries off (maxAttempts 1) the same 503 is a retryable StorageTransportError after exactly 1 request', async () => {
    server.use(slowDownOnce())
    const error = await rejection(storageFor({ retry: { maxAttempts: 1 } }).put('current.json', '{"seq":1}'))
    expect(error).toMatchObject({ retryable: true, status: 503, operation: 'put', key: 'current.json' })
    expect(error.message).toContain('SlowDown')
    expect(requestsFor('PUT')).toHaveLength(1)
  })

  it('a 500 on every attempt is a retryable StorageTransportError after maxAttempts requests', async () => {
    server.use(
      http.get(objectUrl, ({ request }) => {
        s3.fake.record(request)
        return s3Error(500, 'InternalError', 'We encountered an internal error. Please try again.')
      }),
    )
    // getStream: the SDK path alone (get() tries the fast path first, see "the poll path" below).
    const error = await rejection(storageFor({ retry: { maxAttempts: 3 } }).getStream('current.json'))
    expect(error).toMatchObject({ retryable: true, status: 500 })
    expect(error.message).toContain('after 3 attempts')
    expect(requestsFor('GET')).toHaveLength(3)
  })

  it('403 is final: not retried, not retryable, and the message says to check credentials and the bucket policy', async () => {
    server.use(
      http.get(objectUrl, ({ request }) => {
        s3.fake.record(request)
        return s3Error(403, 'AccessDenied', 'Access Denied')
      }),
    )
    const error = await rejection(
      storageFor({ retry: { maxAttempts: 5 }, fastGet: false }).get('current.json'),
    )
    expect(error).toMatchObject({ retryable: false, status: 403, operation: 'get', key: 'current.json' })
    expect(error.message).toContain('check the credentials')
    expect(error.message).toContain(`s3:GetObject on s3://${BUCKET}/relup/chat/*`)
    expect(requestsFor('GET')).toHaveLength(1)
  })
})

describe('timeouts and cancellation', () => {
  const hang = () =>
    http.get(objectUrl, async ({ request }) => {
      s3.fake.record(request)
      await new Promise((resolve) => request.signal.addEventListener('abort', resolve))
      return HttpResponse.error()
    })

  for (const operation of ['get', 'getStream'] as const) {
    it(`a hung connection fails ${operation} with a retryable StorageTransportError within timeoutMs`, async () => {
      server.use(hang())
      const started = performance.now()
      const error = await rejection(storageFor({ timeoutMs: 300 })[operation]('current.json'))
      const elapsed = performance.now() - started
      expect(error).toMatchObject({ retryable: true, operation, key: 'current.json' })
      expect(error.message).toContain('within 300 ms')
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(1500)
    })
  }

  it("the caller's AbortSignal cancels a request with the signal's reason", async () => {
    server.use(hang())
    const controller = new AbortController()
    const reason = new Error('shutting down')
    setTimeout(() => controller.abort(reason), 50)
    await expect(storageFor().get('current.json', { signal: controller.signal })).rejects.toBe(reason)
  })
})

describe('listing', () => {
  it('pages through ListObjectsV2 with continuation tokens, under the prefix, and strips it from the keys', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) s3.fake.seed(`relup/chat/results/u1/${name}.json`, name)
    s3.fake.seed('relup/chat/results/u10/x.json', 'not in the folder')
    s3.fake.seed('elsewhere/results/u1/z.json', 'outside the prefix')
    const storage = storageFor()

    const keys: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await storage.list('results/u1', { cursor, limit: 2 })
      keys.push(...page.items.map((item) => item.key))
      cursor = page.cursor
      pages++
    } while (cursor !== undefined)

    expect(keys).toEqual(['a', 'b', 'c', 'd', 'e'].map((name) => `results/u1/${name}.json`))
    expect(pages).toBe(3)
    const lists = requestsFor('GET').map((r) => r.url.searchParams)
    expect(lists.map((q) => [q.get('list-type'), q.get('prefix'), q.get('max-keys')])).toEqual(
      Array(3).fill(['2', 'relup/chat/results/u1/', '2']),
    )
    expect(lists.map((q) => q.get('continuation-token'))).toEqual([
      null,
      'relup/chat/results/u1/b.json',
      'relup/chat/results/u1/d.json',
    ])
  })

  it('sends a max-keys between 1 and 1000 for any limit: NaN is the default page, never MaxKeys NaN', async () => {
    const etag = s3.fake.seed('relup/chat/current.json', '{}')
    const storage = storageFor()
    const pages: unknown[] = []
    for (const limit of [Number.NaN, 0, 5000, 2.7]) {
      pages.push(await storage.list('', { limit }).catch((error: unknown) => error))
    }
    const sent = requestsFor('GET').map((r) => r.url.searchParams.get('max-keys'))
    expect(sent).toEqual(['1000', '1', '1000', '2'])
    expect(pages).toEqual(Array(4).fill({ items: [{ key: 'current.json', size: 2, etag }] }))
  })

  it('items carry size and etag, and "" lists the whole prefix', async () => {
    const etag = s3.fake.seed('relup/chat/current.json', '12345')
    s3.fake.seed('other-app/current.json', 'no')
    expect((await storageFor().list('')).items).toEqual([{ key: 'current.json', size: 5, etag }])
  })
})

describe('consistent reads (Tigris)', () => {
  it('consistentReads: true adds a signed x-tigris-consistent: true to every request', async () => {
    const storage = storageFor({ consistentReads: true })
    const { etag } = (await storage.put('current.json', 'v1')) as { etag: string }
    await storage.get('current.json', { ifNoneMatch: etag })
    await storage.list('')
    await storage.delete('current.json')
    expect(s3.fake.requests.map((r) => r.method)).toEqual(['PUT', 'GET', 'GET', 'DELETE'])
    for (const request of s3.fake.requests) {
      expect(request.headers.get('x-tigris-consistent')).toBe('true')
      expect(request.headers.get('authorization')).toMatch(/SignedHeaders=[^,]*x-tigris-consistent/)
    }
  })

  it('without consistentReads the header is absent', async () => {
    const storage = storageFor()
    await storage.put('current.json', 'v1')
    await storage.get('current.json')
    expect(s3.fake.requests.map((r) => r.headers.has('x-tigris-consistent'))).toEqual([false, false])
  })
})

describe('delete', () => {
  it('a conditional delete sends If-Match: stale is precondition-failed, current deletes, missing is ok', async () => {
    const first = s3.fake.seed('relup/chat/lock.json', 'mine')
    const second = s3.fake.seed('relup/chat/lock.json', 'theirs')
    const storage = storageFor({ conditionalDelete: true })
    expect(await storage.delete('lock.json', { ifMatch: first })).toEqual({ status: 'precondition-failed' })
    expect(await storage.delete('lock.json', { ifMatch: second })).toEqual({ status: 'ok' })
    expect(await storage.delete('lock.json', { ifMatch: second })).toEqual({ status: 'ok' })
    expect(requestsFor('DELETE').map((r) => r.headers.get('if-match'))).toEqual([first, second, second])
    expect(s3.fake.objects.has('relup/chat/lock.json')).toBe(false)
  })

  it('a custom endpoint does not declare conditional deletes, and refuses ifMatch without sending anything', async () => {
    const storage = storageFor()
    expect(storage.capabilities.conditionalDelete).toBe(false)
    await expect(storage.delete('lock.json', { ifMatch: '"abc"' })).rejects.toBeInstanceOf(
      UnsupportedCapabilityError,
    )
    expect(s3.fake.requests).toHaveLength(0)
  })
})

describe('close', () => {
  it('close() ends the storage: later calls fail clearly', async () => {
    const storage = storageFor()
    await storage.close()
    const error = await rejection(storage.get('current.json'))
    expect(error.message).toContain('closed')
    expect(s3.fake.requests).toHaveLength(0)
  })
})
