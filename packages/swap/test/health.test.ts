/**
 * What a runtime's health gate reads from the engine: calls, errors and HTTP 5xx answers per
 * version, seen through the handles; which release an error was thrown from; and a revert that
 * migrates unit state back with the newer code's `downgrade`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createSwapEngine } from '../src/index.js'
import { useReleases } from './helpers.js'

const { release } = useReleases()

describe('call stats per version', () => {
  it('count calls, throws and rejections of module handles and unit methods for the version that served them', async () => {
    const module = (version: string, failEvery: number) => `
      let n = 0
      module.exports = function handle(x) { n++; if (n % ${failEvery} === 0) throw new Error('${version} fails'); return x }
      module.exports.later = 1
      module.exports.units = { jobs: { create: () => ({
        run: async (ok) => { if (!ok) throw new Error('${version} rejects'); return 'done' },
      }) } }`
    const v1 = await release('v1', { 'app.js': module('v1', 100) })
    const v2 = await release('v2', { 'app.js': module('v2', 2) })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const app = engine.module('app.js')
    const jobs = engine.unit('jobs')
    for (let i = 0; i < 10; i++) app(i)
    await jobs.run(true)
    await expect(jobs.run(false)).rejects.toThrow('v1 rejects')
    expect(engine.callStats('v1')).toEqual({ calls: 12, errors: 1, responses: 0, serverErrors: 0 })

    await engine.upgrade(v2, { version: 'v2' })
    let thrown = 0
    for (let i = 0; i < 10; i++) {
      try {
        app(i)
      } catch {
        thrown++
      }
    }
    expect(thrown).toBe(5)
    expect(engine.callStats()).toEqual({ calls: 10, errors: 5, responses: 0, serverErrors: 0 })
    expect(engine.callStats('v1').calls).toBe(12)
    expect(engine.callStats('never')).toEqual({ calls: 0, errors: 0, responses: 0, serverErrors: 0 })
    await engine.close()
  })

  it('count the 5xx answers of HTTP responses handed to a version, though no call threw', async () => {
    // A framework inside the hot code catches the error and answers 500: the handle never sees a throw.
    const v1 = await release('v1', {
      'router.js': `module.exports = (req, res) => {
        try { if (req.url === '/bad') throw new Error('boom'); res.end('ok') }
        catch { res.statusCode = 500; res.end('internal error') }
      }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const router = engine.module('router.js')
    const server = createServer((req: IncomingMessage, res: ServerResponse) => router(req, res))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const statuses: number[] = []
    for (const path of ['/a', '/bad', '/b', '/bad', '/c'])
      statuses.push((await fetch(`http://127.0.0.1:${port}${path}`)).status)
    await new Promise((resolve) => server.close(resolve))
    expect(statuses).toEqual([200, 500, 200, 500, 200])
    expect(engine.callStats('v1')).toEqual({ calls: 5, errors: 0, responses: 5, serverErrors: 2 })
    await engine.close()
  })
})

describe('threwFrom', () => {
  it('tells an error thrown by a release’s code (CommonJS or source-mapped TypeScript) from one of another release or of the cold code', async () => {
    const v1 = await release('v1', { 'a.js': `exports.fail = () => { throw new Error('v1') }` })
    const v2 = await release('v2', {
      'a.js': `exports.fail = () => require('./b.ts').fail()`,
      'b.ts': `interface Why { text: string }\nexport function fail(): never { const why: Why = { text: 'v2' }; throw new Error(why.text) }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const a = engine.module('a.js')
    const caught = (fn: () => unknown) => {
      try {
        fn()
      } catch (error) {
        return error
      }
      throw new Error('did not throw')
    }
    const fromV1 = caught(() => a.fail())
    expect(engine.threwFrom(fromV1)).toBe(true)
    await engine.upgrade(v2, { version: 'v2' })
    const fromV2 = caught(() => a.fail())
    expect((fromV2 as Error).stack).toMatch(/b\.ts:2:\d+/) // mapped to the source, still attributed
    expect(engine.threwFrom(fromV2)).toBe(true)
    expect(engine.threwFrom(fromV2, v1)).toBe(false)
    expect(engine.threwFrom(fromV1, v2)).toBe(false)
    expect(engine.threwFrom(new Error('cold code'))).toBe(false)
    expect(engine.threwFrom('not an error')).toBe(false)
    await engine.close()
  })
})

describe('revert', () => {
  const counter = (version: string, extra = '') => `
    exports.units = { counter: {
      init: () => ({ count: 0 }),
      ${extra}
      create: (ctx) => ({ inc: () => ++ctx.state.count, state: () => ({ ...ctx.state }), version: () => '${version}' }),
    } }`

  it('migrates state back with the newer code’s downgrade(state, toVersion); the older codeChange is not called', async () => {
    const v1 = await release('v1', {
      'counter.js': counter('v1', `codeChange: (s, from) => ({ count: -1, from }),`),
    })
    const v2 = await release('v2', {
      'counter.js': `
        exports.units = { counter: {
          codeChange: (s) => ({ total: s.count, seen: ['v1'] }),
          downgrade: (s, to) => ({ count: s.total, downgradedTo: to }),
          create: (ctx) => ({ inc: () => ++ctx.state.total, state: () => ({ ...ctx.state }) }),
        } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const unit = engine.unit('counter')
    await unit.inc()
    await unit.inc()
    await engine.upgrade(v2, { version: 'v2' })
    expect(await unit.inc()).toBe(3)
    await engine.upgrade(v1, { version: 'v1', revert: true })
    expect(await unit.state()).toEqual({ count: 3, downgradedTo: 'v1' })
    expect(await unit.inc()).toBe(4)
    await engine.close()
  })

  it('without downgrade, the older code’s codeChange receives the newer state and version, as on any upgrade', async () => {
    const v1 = await release('v1', {
      'counter.js': counter('v1', `codeChange: (s, from) => ({ count: s.total ?? s.count, from }),`),
    })
    const v2 = await release('v2', {
      'counter.js': `exports.units = { counter: {
        codeChange: (s) => ({ total: s.count }),
        create: (ctx) => ({ inc: () => ++ctx.state.total }),
      } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const unit = engine.unit('counter')
    await unit.inc()
    await engine.upgrade(v2, { version: 'v2' })
    await unit.inc()
    await engine.upgrade(v1, { version: 'v1', revert: true })
    expect(await unit.state()).toEqual({ count: 2, from: 'v2' })
    await engine.close()
  })

  it('a downgrade that throws leaves the newer version serving', async () => {
    const v1 = await release('v1', { 'counter.js': counter('v1') })
    const v2 = await release('v2', {
      'counter.js': `exports.units = { counter: {
        downgrade: () => { throw new Error('cannot go back') },
        create: (ctx) => ({ inc: () => ++ctx.state.count, version: () => 'v2' }),
      } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const unit = engine.unit('counter')
    await engine.upgrade(v2, { version: 'v2' })
    await expect(engine.upgrade(v1, { version: 'v1', revert: true })).rejects.toThrow(
      /downgrade\(state, 'v1'\) of v2 threw.*cannot go back/,
    )
    expect(await unit.version()).toBe('v2')
    await engine.close()
  })
})
