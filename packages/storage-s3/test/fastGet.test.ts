// The poll path: get() sends its own request, signed by the SDK's signer, instead of going
// through the SDK middleware stack, and hands anything but a 200 or 304 back to the SDK.

import { type S3rverServer, s3rverEnv, startS3rver } from '@relup/testkit'
import { HttpResponse, http } from 'msw'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { encodeKeyPath } from '../src/fastGet.js'
import { type S3Storage, s3Storage } from '../src/index.js'
import { createPollSigner } from '../src/pollSigner.js'
import { BUCKET, CREDENTIALS, ENDPOINT, type RecordedRequest, s3Error, useMockedS3 } from './fakeS3.js'

const s3 = useMockedS3('bypass')
const { server, storageFor, opened } = s3

const gets = () => s3.fake.requests.filter((r) => r.method === 'GET')

/** `20261127T003237Z` as a Date. */
const fromAmzDate = (amzDate: string) =>
  new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'))

/** The SigV4 `SignedHeaders` of a recorded request. */
const signedHeaders = (request: RecordedRequest) =>
  /SignedHeaders=([^,]+)/.exec(request.headers.get('authorization') ?? '')![1]!.split(';')

/** The `Authorization` the S3 client's own signer gives a request as it went over the wire. */
async function sdkAuthorization(storage: S3Storage, sent: RecordedRequest): Promise<string> {
  const signer = await storage.client.config.signer()
  const { authorization: _, ...headers } = Object.fromEntries(sent.headers)
  const signed = await signer.sign(
    {
      method: 'GET',
      protocol: sent.url.protocol,
      hostname: sent.url.hostname,
      path: sent.url.pathname,
      query: Object.fromEntries(sent.url.searchParams),
      headers: { ...headers, host: sent.url.host },
    },
    { signingDate: fromAmzDate(sent.headers.get('x-amz-date')!) },
  )
  return signed.headers.authorization!
}

describe('the poll path (get)', () => {
  it('is one signed request with If-None-Match, outside the SDK, and a 304 is not-modified', async () => {
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
        `^AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/\\d{8}/us-east-1/s3/aws4_request, SignedHeaders=host;if-none-match;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$`,
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
      'SignedHeaders=host;if-none-match;x-amz-content-sha256;x-amz-date;x-tigris-consistent',
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

  it("signs the request it sends exactly as the S3 client's own signer does", async () => {
    const credentials = { ...CREDENTIALS, sessionToken: 'session/token+1' }
    const storage = storageFor({ consistentReads: true, credentials })
    s3.fake.seed('relup/chat/dir with space/ünï (1).json', '{"seq":1}')
    await storage.get('dir with space/ünï (1).json', { ifNoneMatch: '"stale"' })
    const sent = gets().at(-1)!
    expect(sent.headers.get('amz-sdk-invocation-id')).toBeNull()
    expect(signedHeaders(sent)).toEqual([
      'host',
      'if-none-match',
      'x-amz-content-sha256',
      'x-amz-date',
      'x-amz-security-token',
      'x-tigris-consistent',
    ])
    expect(sent.headers.get('authorization')).toBe(await sdkAuthorization(storage, sent))
    expect(sent.headers.get('x-amz-security-token')).toBe(credentials.sessionToken)
  })

  it("signs polls on either side of midnight UTC as the S3 client does (the day's key changes)", async () => {
    const etag = s3.fake.seed('relup/chat/current.json', '{"seq":1}')
    const storage = storageFor()
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      for (const at of ['2026-12-01T23:59:59.500Z', '2026-12-02T00:00:00.200Z', '2026-12-02T00:00:01.900Z']) {
        vi.setSystemTime(new Date(at))
        expect(await storage.get('current.json', { ifNoneMatch: etag })).toEqual({ status: 'not-modified' })
      }
    } finally {
      vi.useRealTimers()
    }
    expect(gets().map((r) => r.headers.get('x-amz-date'))).toEqual([
      '20261201T235959Z',
      '20261202T000000Z',
      '20261202T000001Z',
    ])
    for (const sent of gets())
      expect(sent.headers.get('authorization')).toBe(await sdkAuthorization(storage, sent))
  })

  it("gives the SDK's own GetObject the SDK's signature, byte for byte", async () => {
    // Let the SDK sign a GET, then sign the same request (its headers, its date) with the poll signer.
    const storage = storageFor({ fastGet: false, consistentReads: true })
    await storage.get("dir with space/ünï (1)'*!.json", { ifNoneMatch: '"e1"' })
    const sdk = gets().at(-1)!
    // What the signer adds itself is left out: host, the date, the payload hash.
    const generated = ['host', 'x-amz-date', 'x-amz-content-sha256']
    const headers = Object.fromEntries(
      signedHeaders(sdk)
        .filter((name) => !generated.includes(name))
        .map((name) => [name, sdk.headers.get(name)!]),
    )
    expect(Object.keys(headers)).toEqual(expect.arrayContaining(['if-none-match', 'x-tigris-consistent']))
    const signed = await createPollSigner(storage.client)(
      { url: sdk.url, headers },
      fromAmzDate(sdk.headers.get('x-amz-date')!),
    )
    expect(signed.authorization).toBe(sdk.headers.get('authorization'))
  })

  it('refreshes credentials that are about to expire, and signs with the new session token', async () => {
    const etag = s3.fake.seed('relup/chat/current.json', '{"seq":1}')
    const issued: string[] = []
    const storage = storageFor({
      credentials: async () => {
        const sessionToken = `token-${issued.length + 1}`
        issued.push(sessionToken)
        return { ...CREDENTIALS, sessionToken, expiration: new Date(Date.now() + 10 * 60_000) }
      },
    })
    const poll = async () =>
      expect(await storage.get('current.json', { ifNoneMatch: etag })).toEqual({ status: 'not-modified' })
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      await poll()
      await poll()
      // Six minutes on, the first credentials expire in four: inside the refresh margin.
      vi.setSystemTime(Date.now() + 6 * 60_000)
      await poll()
      await poll()
    } finally {
      vi.useRealTimers()
    }
    expect(gets().map((r) => r.headers.get('x-amz-security-token'))).toEqual([
      'token-1',
      'token-1',
      'token-2',
      'token-2',
    ])
    expect(issued).toEqual(['token-1', 'token-2'])
    expect(gets().every((r) => r.headers.get('amz-sdk-invocation-id') === null)).toBe(true)
  })

  it("signs with the clock correction the SDK learned from the store's Date header", async () => {
    const etag = s3.fake.seed('relup/chat/current.json', '{"seq":1}')
    const storage = storageFor()
    storage.client.config.systemClockOffset = -3_600_000
    await storage.get('current.json', { ifNoneMatch: etag })
    const signedAt = fromAmzDate(gets().at(-1)!.headers.get('x-amz-date')!).getTime()
    expect(Math.abs(signedAt - (Date.now() - 3_600_000))).toBeLessThan(5_000)
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
