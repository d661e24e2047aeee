import { cp, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { DemoServer } from '../src/demoProcess.js'
import { hotDir } from '../src/paths.js'
import { describeRun, getJson, increment, Workspace } from './helpers.js'

let work: Workspace
beforeEach(async () => {
  work = await Workspace.create()
})
afterEach(async () => {
  await work.cleanUp()
})

/** A raw GET, so that the path reaches the server exactly as written (fetch normalizes `..`). */
function rawGet(server: DemoServer, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.ready.port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the demo server', () => {
  it('prints one JSON ready line, then serves v1: the page, health, counter, version, and 404 on /api/hello', async () => {
    const server = await work.startServer('m-ready')
    expect(server.ready).toEqual({
      ready: true,
      port: expect.any(Number),
      version: 'v1',
      machineId: 'm-ready',
      fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
    })
    expect(server.ready.port).toBeGreaterThan(0)

    const page = await fetch(`${server.url}/`)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await page.text()
    expect(html).toContain('data-version="v1"')
    expect(html).toContain(server.ready.fingerprint)

    const health = await fetch(`${server.url}/healthz`)
    expect([health.status, await health.text()]).toEqual([200, 'ok'])
    expect(await increment(server)).toEqual({ count: 1 })
    expect((await getJson(server, '/api/counter')).body).toEqual({ count: 1, version: 'v1' })
    expect((await getJson(server, '/api/version')).body).toEqual({
      version: 'v1',
      fingerprint: server.ready.fingerprint,
      baseRef: 'demo-image-1',
      hotRef: null,
      upgradeId: null,
      machineId: 'm-ready',
      history: [],
      clients: 0,
    })
    expect((await getJson(server, '/api/hello')).status).toBe(404)
    const wrongMethod = await fetch(`${server.url}/api/increment`)
    expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'POST'])
  })

  it('keeps the counter and the open SSE stream while the relup CLI publishes v2, then v3', async () => {
    const server = await work.startServer('m-upgrade')
    const stream = await work.openStream(server)
    const hello = await stream.waitFor((e) => e.event === 'hello', 5000)
    expect(hello.data).toMatchObject({ version: 'v1', count: 0, clients: 1 })
    for (let i = 0; i < 3; i++) await increment(server)
    await stream.waitFor((e) => e.event === 'counter' && e.data.count === 3, 5000)

    const v2 = await work.publish('v2')
    expect(v2.code, describeRun(v2)).toBe(0)
    expect(v2.json.machines).toEqual([
      expect.objectContaining({ machineId: 'm-upgrade', status: 'completed' }),
    ])
    const version2 = await stream.waitFor((e) => e.event === 'version' && e.data.version === 'v2', 10_000)
    expect(version2.data).toEqual({
      version: 'v2',
      fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
      history: [{ version: 'v2', at: expect.any(String), pauseMs: expect.any(Number) }],
    })
    expect(version2.data.fingerprint).not.toBe(server.ready.fingerprint)
    expect((await getJson(server, '/api/hello')).body).toEqual({ hello: 'from v2' })
    expect((await getJson(server, '/api/counter')).body).toEqual({ count: 3, version: 'v2' })
    expect(await increment(server)).toEqual({ count: 4, countedBy: 'v2' })
    expect((await getJson(server, '/api/state')).body.units.counter).toEqual({ count: 4 })

    const v3 = await work.publish('v3')
    expect(v3.code, describeRun(v3)).toBe(0)
    await stream.waitFor((e) => e.event === 'version' && e.data.version === 'v3', 10_000)
    // The counter's state has v3's shape, and the number survived the migration.
    expect((await getJson(server, '/api/state')).body.units.counter).toEqual({ value: 4, changedAt: null })
    expect((await getJson(server, '/api/counter')).body).toEqual({ count: 4, changedAt: null, version: 'v3' })
    const inc = await increment(server)
    expect(inc).toEqual({ count: 5, changedAt: expect.any(String), countedBy: 'v3' })
    expect((await getJson(server, '/api/hello')).body).toEqual({ hello: 'from v2' })
    expect((await fetch(`${server.url}/`).then((r) => r.text())).includes('data-version="v3"')).toBe(true)

    // One connection saw it all, in order, without reconnecting.
    await stream.waitFor((e) => e.event === 'counter' && e.data.count === 5, 5000)
    expect(stream.closed).toBe(false)
    expect(stream.named('hello')).toHaveLength(1)
    expect(stream.named('version').map((e) => e.data.version)).toEqual(['v2', 'v3'])
    expect(stream.named('counter').map((e) => e.data.count)).toEqual([1, 2, 3, 4, 5])
    const version = (await getJson(server, '/api/version')).body
    expect(version).toMatchObject({ version: 'v3', clients: 1, upgradeId: v3.json.upgradeId })
    expect(version.history.map((h: { version: string }) => h.version)).toEqual(['v2', 'v3'])
    expect(version.hotRef).toMatch(/^sha256:/)
  })

  it('a broken release is stopped by the checks before anything is published; forced past them, the machine refuses it, and v1 keeps serving with its state and its stream', async () => {
    const server = await work.startServer('m-broken')
    const stream = await work.openStream(server)
    await increment(server)
    const broken = join(work.dir, 'broken-v2')
    await cp(hotDir('v2'), broken, { recursive: true })
    await writeFile(join(broken, 'router.js'), 'module.exports = function route(req, res, host) {\n')

    const checked = await work.publish('v2-broken', { dir: broken })
    expect(checked.code, describeRun(checked)).toBe(2)
    expect(checked.json.problems).toEqual([
      expect.objectContaining({ kind: 'syntax', file: 'router.js', line: 2 }),
    ])

    const published = await work.publish('v2-broken', { dir: broken, args: ['--skip-checks'] })
    expect(published.code, describeRun(published)).toBe(1)
    expect(published.json.machines).toEqual([
      expect.objectContaining({
        machineId: 'm-broken',
        status: 'failed',
        error: expect.stringContaining('router.js'),
      }),
    ])
    expect((await getJson(server, '/api/version')).body).toMatchObject({ version: 'v1', history: [] })
    expect((await getJson(server, '/api/hello')).status).toBe(404)
    expect(await increment(server)).toEqual({ count: 2 })
    await stream.waitFor((e) => e.event === 'counter' && e.data.count === 2, 5000)
    expect(stream.named('version')).toEqual([])
    expect(stream.closed).toBe(false)
  })

  it('replays a published upgrade before it serves: a machine started afterwards is ready on it', async () => {
    const first = await work.startServer('m-first')
    const published = await work.publish('v2')
    expect(published.code, describeRun(published)).toBe(0)

    const late = await work.startServer('m-late')
    expect(late.ready.version).toBe('v2')
    // Its very first answers come from v2: the replay happened before listen.
    expect((await getJson(late, '/api/hello')).body).toEqual({ hello: 'from v2' })
    const version = (await getJson(late, '/api/version')).body
    expect(version).toMatchObject({ version: 'v2', upgradeId: published.json.upgradeId })
    expect(version.fingerprint).toBe(late.ready.fingerprint)
    expect((await getJson(first, '/api/version')).body.fingerprint).toBe(late.ready.fingerprint)
  })

  it('exits 0 on SIGTERM, ending its open SSE streams', async () => {
    const server = await work.startServer('m-stop')
    const stream = await work.openStream(server)
    await stream.waitFor((e) => e.event === 'hello', 5000)
    const code = await server.stop(8000)
    expect(code).toBe(0)
    await stream.ended
    expect(stream.closed).toBe(true)
  })

  it("serves the live release's public/ files and nothing outside it", async () => {
    const server = await work.startServer('m-assets')
    const css = await fetch(`${server.url}/public/style.css`)
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toMatch(/^text\/css/)
    expect(await css.text()).toContain('#2563eb')

    for (const path of [
      '/public/..%2frouter.js',
      '/public/%2e%2e%2frouter.js',
      '/public/..%5crouter.js',
      '/public/%2fetc%2fpasswd',
      '/public/style.css%00.txt',
      '/public/',
      '/public/missing.css',
    ]) {
      const { status, body } = await rawGet(server, path)
      expect({ path, status }).toEqual({ path, status: 404 })
      expect(body).not.toContain('module.exports')
    }

    const published = await work.publish('v2')
    expect(published.code, describeRun(published)).toBe(0)
    // Same URL, the new release's file (engine.assetsDir switched at the commit).
    expect(await fetch(`${server.url}/public/style.css`).then((r) => r.text())).toContain('#7c3aed')
  })
})
