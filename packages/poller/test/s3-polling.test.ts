// Polling against S3 (mocked with MSW, backed by the memory adapter): every poll after the first
// carries If-None-Match, and an unchanged pointer costs a 304 with no body.
import { memoryStorage } from '@relup/storage-memory'
import { s3Storage } from '@relup/storage-s3'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP, publishDirect, startMachine, tempDir, waitForApplied, writeRelease } from './helpers.js'

const backing = memoryStorage()
interface Seen {
  method: string
  key: string
  ifNoneMatch: string | null
  status: number
  bodyBytes: number
  authorization: string | null
}
const seen: Seen[] = []

const server = setupServer(
  http.get('http://s3.test/:bucket/*', async ({ request, params }) => {
    const key = decodeURIComponent(String(params[0]))
    const ifNoneMatch = request.headers.get('if-none-match')
    const result = await backing.get(key, ifNoneMatch ? { ifNoneMatch } : {})
    const record = (status: number, bodyBytes = 0) =>
      seen.push({
        method: 'GET',
        key,
        ifNoneMatch,
        status,
        bodyBytes,
        authorization: request.headers.get('authorization'),
      })
    if (result.status === 'not-found') {
      record(404)
      return new HttpResponse('<Error><Code>NoSuchKey</Code></Error>', {
        status: 404,
        headers: { 'content-type': 'application/xml' },
      })
    }
    if (result.status === 'not-modified') {
      record(304)
      return new HttpResponse(null, { status: 304 })
    }
    record(200, result.body.byteLength)
    return new HttpResponse(result.body, {
      status: 200,
      headers: { etag: result.etag, 'content-length': String(result.body.byteLength) },
    })
  }),
  http.put('http://s3.test/:bucket/*', async ({ request, params }) => {
    const key = decodeURIComponent(String(params[0]))
    const body = new Uint8Array(await request.arrayBuffer())
    const ifMatch = request.headers.get('if-match') ?? undefined
    const ifNoneMatch = request.headers.get('if-none-match') === '*' ? ('*' as const) : undefined
    const result = await backing.put(key, body, { ifMatch, ifNoneMatch })
    seen.push({
      method: 'PUT',
      key,
      ifNoneMatch: ifNoneMatch ?? null,
      status: result.status === 'ok' ? 200 : 412,
      bodyBytes: 0,
      authorization: null,
    })
    if (result.status !== 'ok') {
      return new HttpResponse('<Error><Code>PreconditionFailed</Code></Error>', {
        status: 412,
        headers: { 'content-type': 'application/xml' },
      })
    }
    return new HttpResponse(null, { status: 200, headers: { etag: result.etag } })
  }),
)

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

describe('polling S3', () => {
  it('sends If-None-Match with the last ETag, and a 304 is handled without a body', async () => {
    const storage = s3Storage({
      bucket: 'fleet',
      endpoint: 'http://s3.test',
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-test-key' },
      retry: { maxAttempts: 1 },
    })
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      pollInterval: 30,
    })
    const pointerKey = `relup/${APP}/current.json`
    const pointerGets = () => seen.filter((r) => r.method === 'GET' && r.key === pointerKey)
    await new Promise((resolve) => setTimeout(resolve, 400))

    // First boot: the machine found no pointer and wrote one; every poll after that is conditional.
    const written = seen.findIndex((r) => r.method === 'PUT' && r.key === pointerKey)
    expect(written).toBeGreaterThan(-1)
    const idle = seen.slice(written + 1).filter((r) => r.method === 'GET' && r.key === pointerKey)
    expect(idle.length).toBeGreaterThan(5)
    const stored = await backing.get(pointerKey)
    const etag = stored.status === 'ok' ? stored.etag : 'missing'
    for (const poll of idle) {
      expect(poll.ifNoneMatch).toBe(etag)
      expect(poll.status).toBe(304)
      expect(poll.bodyBytes).toBe(0)
      expect(poll.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\//)
    }
    expect(machine.relup.getState().etag).toBe(etag)

    // A publish changes the pointer: the next poll gets a 200 and the upgrade is applied.
    await publishDirect(backing, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(machine.relup, 'v2')
    expect(pointerGets().some((r) => r.status === 200 && r.ifNoneMatch === etag)).toBe(true)
    expect(seen.some((r) => r.method === 'GET' && r.key.includes('/artifacts/') && r.status === 200)).toBe(
      true,
    )
    await machine.relup.stop()
    await storage.close?.()
  })
})
