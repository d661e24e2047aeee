import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type S3rverServer, s3rverEnv, startS3rver } from '../src/index.js'

// Unsigned requests are enough here: s3rver serves requests without an Authorization header.
let server: S3rverServer
let bucketCount = 0

beforeAll(async () => {
  server = await startS3rver()
})
afterAll(async () => {
  await server?.stop()
})

async function freshBucket(on = server): Promise<(key?: string) => string> {
  const bucket = `bucket-${++bucketCount}`
  await on.createBucket(bucket)
  return (key = '') => `${on.endpoint}/${bucket}${key === '' ? '' : `/${key}`}`
}

const put = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'PUT', body, headers })

async function errorCode(response: Response): Promise<string | undefined> {
  return /<Code>([^<]+)<\/Code>/.exec(await response.text())?.[1]
}

async function refusesConnections(endpoint: string, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs
  while (Date.now() < deadline) {
    const refused = await fetch(endpoint).then(
      () => false,
      () => true,
    )
    if (refused) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

describe('startS3rver', () => {
  it('serves S3 on a free loopback port with the fixed test credentials', () => {
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`)
    expect(server.port).toBeGreaterThan(0)
    expect([server.region, server.accessKeyId, server.secretAccessKey]).toEqual([
      'us-east-1',
      'S3RVER',
      'S3RVER',
    ])
  })

  it('stores and serves objects in a created bucket, and counts the requests it served', async () => {
    const url = await freshBucket()
    const before = server.requests()
    const created = await put(url('a/b.json'), '{"v":1}')
    expect(created.status).toBe(200)
    const read = await fetch(url('a/b.json'))
    expect(await read.text()).toBe('{"v":1}')
    expect(read.headers.get('etag')).toBe(created.headers.get('etag'))
    expect(server.requests() - before).toBe(2)
  })

  it('counts what it received by request class, the bytes it sent, its peak concurrency and CPU', async () => {
    const url = await freshBucket()
    const before = await server.stats({ resetPeak: true })
    const body = 'x'.repeat(10_000)
    await put(url('big'), body)
    // Three object reads at once: GET, GET and HEAD (a HEAD sends no body).
    const reads = await Promise.all([
      fetch(url('big')).then((r) => r.text()),
      fetch(url('big')).then((r) => r.text()),
      fetch(url('big'), { method: 'HEAD' }).then((r) => r.text()),
    ])
    expect(reads).toEqual([body, body, ''])
    expect((await fetch(`${url()}?list-type=2`)).status).toBe(200)
    expect((await fetch(url('big'), { method: 'DELETE' })).status).toBe(204)
    const after = await server.stats()
    expect({
      GET: after.requests.GET - before.requests.GET,
      PUT: after.requests.PUT - before.requests.PUT,
      LIST: after.requests.LIST - before.requests.LIST,
      DELETE: after.requests.DELETE - before.requests.DELETE,
    }).toEqual({ GET: 3, PUT: 1, LIST: 1, DELETE: 1 })
    // Two bodies of 10,000 bytes, plus the listing's XML and the small answers.
    expect(after.bytesOut - before.bytesOut).toBeGreaterThanOrEqual(20_000)
    expect(after.bytesOut - before.bytesOut).toBeLessThan(25_000)
    expect(after.peakConcurrent).toBeGreaterThanOrEqual(1)
    expect(after.peakConcurrent).toBeLessThanOrEqual(3)
    expect(after.cpuMs).toBeGreaterThan(before.cpuMs)
  })

  it('answers a conditional GET on the current etag with 304', async () => {
    const url = await freshBucket()
    const etag = (await put(url('doc'), 'x')).headers.get('etag')!
    const response = await fetch(url('doc'), { headers: { 'if-none-match': etag } })
    expect(response.status).toBe(304)
    expect(response.headers.get('etag')).toBe(etag)
  })

  it('lists past one page: continuation tokens work (the child runs with --openssl-legacy-provider)', async () => {
    const url = await freshBucket()
    for (const key of ['k1', 'k2', 'k3']) await put(url(key), key)
    const first = await (await fetch(`${url()}?list-type=2&max-keys=2`)).text()
    const token = /<NextContinuationToken>([^<]+)</.exec(first)?.[1]
    expect(token).toBeDefined()
    const second = await fetch(
      `${url()}?list-type=2&max-keys=2&continuation-token=${encodeURIComponent(token!)}`,
    )
    expect(second.status).toBe(200)
    expect(await second.text()).toContain('<Key>k3</Key>')
  })

  it('createBucket refuses names S3 would refuse', async () => {
    await expect(server.createBucket('../escape')).rejects.toThrow(/invalid bucket name/)
  })
})

describe('conditional writes (enforced by default)', () => {
  it('If-None-Match: * creates a missing key and refuses an existing one with 412 PreconditionFailed', async () => {
    const url = await freshBucket()
    expect((await put(url('lock'), 'first', { 'if-none-match': '*' })).status).toBe(200)
    const refused = await put(url('lock'), 'second', { 'if-none-match': '*' })
    expect(refused.status).toBe(412)
    expect(await errorCode(refused)).toBe('PreconditionFailed')
    expect(await (await fetch(url('lock'))).text()).toBe('first')
  })

  it('If-Match replaces on the current etag; a stale etag is 412, a missing key 404 NoSuchKey (as on AWS)', async () => {
    const url = await freshBucket()
    const first = (await put(url('ptr'), 'v1')).headers.get('etag')!
    expect((await put(url('ptr'), 'v2', { 'if-match': first })).status).toBe(200)
    const stale = await put(url('ptr'), 'v3', { 'if-match': first })
    expect([stale.status, await errorCode(stale)]).toEqual([412, 'PreconditionFailed'])
    const missing = await put(url('absent'), 'v1', { 'if-match': first })
    expect([missing.status, await errorCode(missing)]).toEqual([404, 'NoSuchKey'])
    expect(await (await fetch(url('ptr'))).text()).toBe('v2')
  })

  it('DELETE with If-Match deletes only the expected version', async () => {
    const url = await freshBucket()
    const first = (await put(url('lock'), 'mine')).headers.get('etag')!
    const second = (await put(url('lock'), 'theirs')).headers.get('etag')!
    expect((await fetch(url('lock'), { method: 'DELETE', headers: { 'if-match': first } })).status).toBe(412)
    expect((await fetch(url('lock'))).status).toBe(200)
    expect((await fetch(url('lock'), { method: 'DELETE', headers: { 'if-match': second } })).status).toBe(204)
    expect((await fetch(url('lock'))).status).toBe(404)
  })

  it('20 concurrent create-only PUTs of one key: exactly one wins, and its body is stored', async () => {
    const url = await freshBucket()
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => put(url('race'), `writer-${i}`, { 'if-none-match': '*' })),
    )
    const winners = responses.flatMap((r, i) => (r.status === 200 ? [i] : []))
    expect(winners).toHaveLength(1)
    expect(responses.filter((r) => r.status === 412)).toHaveLength(19)
    expect(await (await fetch(url('race'))).text()).toBe(`writer-${winners[0]}`)
  })

  it('20 concurrent PUTs with the same If-Match: exactly one wins', async () => {
    const url = await freshBucket()
    const etag = (await put(url('ptr'), 'base')).headers.get('etag')!
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => put(url('ptr'), `w${i}`, { 'if-match': etag })),
    )
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1)
  })

  it('a precondition it cannot honour is refused with 501, never ignored', async () => {
    const url = await freshBucket()
    const refused = await put(url('x'), 'x', { 'if-none-match': '"some-etag"' })
    expect([refused.status, await errorCode(refused)]).toEqual([501, 'NotImplemented'])
    expect((await fetch(url('x'))).status).toBe(404)
  })

  it('an upload cut off mid-body leaves no object behind', async () => {
    const url = new URL((await freshBucket())('partial'))
    await new Promise<void>((resolve) => {
      const req = request(url, { method: 'PUT', headers: { 'content-length': 1000 } })
      req.on('error', () => resolve())
      req.write('x'.repeat(100), () => setTimeout(() => req.destroy(), 50))
      req.on('close', () => resolve())
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await fetch(url)).status).toBe(404)
  })

  it('with enforceConditionalWrites: false, s3rver is itself: create-only PUTs both succeed', async () => {
    const plain = await startS3rver({ enforceConditionalWrites: false })
    try {
      const url = await freshBucket(plain)
      expect((await put(url('lock'), 'first', { 'if-none-match': '*' })).status).toBe(200)
      expect((await put(url('lock'), 'second', { 'if-none-match': '*' })).status).toBe(200)
    } finally {
      await plain.stop()
    }
  })
})

describe('lifetime', () => {
  it('stop() ends the server (and is idempotent)', async () => {
    const temporary = await startS3rver()
    await temporary.stop()
    await temporary.stop()
    expect(await refusesConnections(temporary.endpoint, 1000)).toBe(true)
    await expect(temporary.createBucket('late')).rejects.toThrow()
  })

  it('the server dies with the process that started it, even one killed with SIGKILL', async () => {
    // A separate parent process (using the built package), so it can be killed outright.
    const built = new URL('../dist/index.js', import.meta.url).href
    const script = `
      const { startS3rver } = await import(${JSON.stringify(built)})
      const server = await startS3rver()
      console.log(server.endpoint)
      setInterval(() => {}, 1000)
    `
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const endpoint = await new Promise<string>((resolve, reject) => {
      parent.stdout.once('data', (data: Buffer) => resolve(data.toString().trim()))
      parent.once('exit', (code) =>
        reject(new Error(`parent exited early (${code}); build @relup/testkit first`)),
      )
    })
    expect((await fetch(endpoint)).status).toBe(200)
    parent.kill('SIGKILL')
    expect(await refusesConnections(endpoint, 3000)).toBe(true)
  })

  it('s3rverEnv gives a child process what Fly.io gives an app', () => {
    expect(s3rverEnv(server, 'releases')).toEqual({
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: 'us-east-1',
      BUCKET_NAME: 'releases',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    })
  })
})
