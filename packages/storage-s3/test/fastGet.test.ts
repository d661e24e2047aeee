// The poll path: get() signs its own request instead of going through the SDK middleware stack,
// and hands anything but a 200 or 304 back to the SDK.

import { type S3rverServer, s3rverEnv, startS3rver } from '@relup/testkit'
import { HttpResponse, http } from 'msw'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeKeyPath, sigV4Authorization } from '../src/fastGet.js'
import { s3Storage } from '../src/index.js'
import { BUCKET, CREDENTIALS, ENDPOINT, s3Error, useMockedS3 } from './fakeS3.js'

const s3 = useMockedS3('bypass')
const { server, storageFor, opened } = s3

const gets = () => s3.fake.requests.filter((r) => r.method === 'GET')

describe('the poll path (get)', () => {
  it('is one hand-signed request with If-None-Match, and a 304 is not-modified', async () => {
    const storage = storageFor()
    const put = await storage.put('current.json', '{"seq":1}')
    if (put.status !== 'ok') throw new Error('put failed')
    const before = gets().length
    expect(await storage.get('current.json', { ifNoneMatch: put.etag })).toEqual({ status: 'not-modified' })
    const [poll] = gets().slice(before)
    expect(gets().length - before).toBe(1)
    expect(poll!.headers.get('if-none-match')).toBe(put.etag)
    expect(poll!.headers.get('authorization')).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/\\d{8}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$`,
      ),
    )
    // Not the SDK: it would add its invocation id.
    expect(poll!.headers.get('amz-sdk-invocation-id')).toBeNull()
    expect(poll!.headers.get('x-tigris-consistent')).toBeNull()
  })

  it('returns the body and etag on a change, and signs x-tigris-consistent when asked', async () => {
    const storage = storageFor({ consistentReads: true })
    await storage.put('current.json', '{"seq":1}')
    const result = await storage.get('current.json', { ifNoneMatch: '"stale"' })
    expect(result).toMatchObject({ status: 'ok', body: new TextEncoder().encode('{"seq":1}') })
    const poll = gets().at(-1)!
    expect(poll.headers.get('x-tigris-consistent')).toBe('true')
    expect(poll.headers.get('authorization')).toContain(
      'SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-tigris-consistent',
    )
  })

  it('hands a 503 to the SDK, which retries it', async () => {
    let calls = 0
    server.use(
      http.get(`${ENDPOINT}/${BUCKET}/*`, ({ request }) => {
        s3.fake.record(request)
        calls++
        if (calls <= 2) return s3Error(503, 'SlowDown', 'Please reduce your request rate.')
        return new HttpResponse('{"seq":9}', { status: 200, headers: { etag: '"e9"' } })
      }),
    )
    const result = await storageFor().get('current.json')
    expect(result).toMatchObject({ status: 'ok', etag: '"e9"' })
    // fast path (503) → SDK (503, retried) → SDK (200)
    expect(calls).toBe(3)
    expect(gets()[1]!.headers.get('amz-sdk-invocation-id')).not.toBeNull()
  })

  it('hands a 404 to the SDK, which tells a missing key from a missing bucket', async () => {
    const storage = storageFor()
    expect(await storage.get('nothing.json')).toEqual({ status: 'not-found' })
    expect(gets()).toHaveLength(2)
  })

  it('fastGet: false goes through the SDK only', async () => {
    const storage = storageFor({ fastGet: false })
    await storage.put('current.json', '{"seq":1}')
    await storage.get('current.json')
    expect(gets().at(-1)!.headers.get('amz-sdk-invocation-id')).not.toBeNull()
  })

  it('signs exactly as the AWS SDK does (same canonical request, same key derivation)', async () => {
    // Let the SDK sign a GET, then sign the same request (same headers, same date) ourselves.
    const storage = storageFor({ fastGet: false })
    await storage.get('dir with space/ünï (1).json')
    const sdk = gets().at(-1)!
    const authorization = sdk.headers.get('authorization')!
    const signedNames = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(';')
    const headers = Object.fromEntries(
      signedNames.map((name) => [name, name === 'host' ? sdk.url.host : sdk.headers.get(name)!]),
    )
    const ours = sigV4Authorization({
      method: 'GET',
      url: sdk.url,
      headers,
      credentials: CREDENTIALS,
      region: 'us-east-1',
      payloadHash: sdk.headers.get('x-amz-content-sha256')!,
    })
    expect(ours).toBe(authorization)
  })

  it('encodes keys the way SigV4 and S3 expect', () => {
    expect(encodeKeyPath("relup/app/ünï côdé/it's (1)*!.json")).toBe(
      'relup/app/%C3%BCn%C3%AF%20c%C3%B4d%C3%A9/it%27s%20%281%29%2A%21.json',
    )
  })
})

describe('the poll path against a real S3-compatible server', () => {
  let s3: S3rverServer
  beforeAll(async () => {
    s3 = await startS3rver()
    await s3.createBucket('fast')
  }, 30_000)
  afterAll(() => s3?.stop())

  it('reads unicode keys and answers 304 through it', async () => {
    const storage = s3Storage({ env: s3rverEnv(s3, 'fast'), prefix: 'p' })
    opened.push(storage)
    const key = 'dir with space/ünïcødé (1).json'
    const put = await storage.put(key, '{"ok":true}')
    if (put.status !== 'ok') throw new Error('put failed')
    expect(await storage.get(key, { ifNoneMatch: put.etag })).toEqual({ status: 'not-modified' })
    expect(await storage.get(key)).toMatchObject({ status: 'ok', etag: put.etag })
  }, 30_000)
})
