import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createSwapEngine, type EngineEvents, type SwapEngine } from '../src/index.js'
import { counterModule, type Deferred, deferred, useReleases } from './helpers.js'

const { release } = useReleases()

/**
 * `orders.place(id)` awaits `deps.hold(id)` on v1 and logs start/end into its state (and into the
 * host-owned `deps.events`, which the test can read without going through the gate); v2 is synchronous.
 */
const ordersV1 = `exports.units = { orders: {
  init: () => ({ log: [] }),
  create: (ctx) => ({
    async place(id) {
      ctx.state.log.push('v1:' + id + ':start')
      ctx.deps.events.push('v1:' + id + ':start')
      await ctx.deps.hold(id)
      ctx.state.log.push('v1:' + id + ':end')
      ctx.deps.events.push('v1:' + id + ':end')
      return 'v1:' + id
    },
    log() { return ctx.state.log },
  }) } }`
const ordersV2 = `exports.units = { orders: {
  create: (ctx) => ({
    place(id) { ctx.state.log.push('v2:' + id); ctx.deps.events.push('v2:' + id); return 'v2:' + id },
    log() { return ctx.state.log },
  }) } }`
const clock = `exports.units = { clock: {
  init: () => ({ ticks: 0 }),
  create: (ctx) => ({ tick() { return 'clock:' + ++ctx.state.ticks } }) } }`

function holds() {
  const pending = new Map<string, Deferred>()
  const hold = (id: string) => {
    const d = deferred()
    pending.set(id, d)
    return d.promise
  }
  return { hold, release: (id: string) => pending.get(id)!.resolve(), events: [] as string[] }
}

/** Resolves once the upgrade has closed the gates (the `suspend` phase event fires after that). */
function whenSuspended(engine: SwapEngine<any>, during?: () => void): Promise<void> {
  return new Promise((resolve) => {
    const off = engine.on('phase', ({ phase }) => {
      if (phase !== 'suspend') return
      off()
      during?.()
      resolve()
    })
  })
}

describe('upgrade transaction', () => {
  it('lets a call in flight finish on v1, parks calls that arrive during the pause and runs them on v2, once each', async () => {
    const v1 = await release('v1', { 'orders.js': ordersV1 })
    const v2 = await release('v2', { 'orders.js': ordersV2 })
    const control = holds()
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', deps: control })
    const orders = engine.unit('orders')

    const a = orders.place('a')
    const parked: Promise<string>[] = []
    const suspended = whenSuspended(engine, () => {
      parked.push(orders.place('b'), orders.place('c'))
    })
    const upgrading = engine.upgrade(v2, { version: 'v2' })
    await suspended
    // b and c wait at the gate: nothing of them ran yet, and a is still running on v1.
    expect(control.events).toEqual(['v1:a:start'])
    control.release('a')

    expect(await a).toBe('v1:a')
    expect(await Promise.all(parked)).toEqual(['v2:b', 'v2:c'])
    const stats = await upgrading
    expect(await orders.log()).toEqual(['v1:a:start', 'v1:a:end', 'v2:b', 'v2:c'])
    expect(stats.pauseMs).toBeGreaterThanOrEqual(stats.drainMs)
    expect(stats.drainMs).toBeGreaterThan(0)
    await engine.close()
  })

  it('keeps serving units whose modules did not change while another unit is suspended', async () => {
    const v1 = await release('v1', { 'orders.js': ordersV1, 'clock.js': clock })
    const v2 = await release('v2', { 'orders.js': ordersV2, 'clock.js': clock })
    const control = holds()
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', deps: control })
    const inFlight = engine.unit('orders').place('a')
    let upgraded = false
    const suspended = whenSuspended(engine)
    const upgrading = engine.upgrade(v2, { version: 'v2' }).then((stats) => {
      upgraded = true
      return stats
    })
    await suspended
    expect(await engine.unit('clock').tick()).toBe('clock:1')
    expect(upgraded).toBe(false)
    expect(engine.status).toBe('upgrading')
    control.release('a')
    await inFlight
    expect((await upgrading).unitNames).toEqual(['orders'])
    await engine.close()
  })

  it('returns the stats the poller records', async () => {
    const v1 = await release('v1', { 'counter.js': counterModule('v1'), 'lib.js': 'exports.v = 1' })
    const v2 = await release('v2', { 'counter.js': counterModule('v2'), 'lib.js': 'exports.v = 1' })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const stats = await engine.upgrade(v2, { version: 'v2' })
    expect(stats).toEqual({
      modulesReloaded: 1,
      moduleNames: ['counter.js'],
      unitsMigrated: 1,
      unitNames: ['counter'],
      unitsFailed: 0,
      pauseMs: expect.any(Number),
      totalMs: expect.any(Number),
      fromVersion: 'v1',
      version: 'v2',
      unitsStarted: [],
      unitsStopped: [],
      drainMs: expect.any(Number),
      disposeErrors: [],
      degraded: false,
      warnings: [],
      transform: { ms: expect.any(Number), transformed: 0, cached: 0 },
    })
    expect(stats.totalMs).toBeGreaterThanOrEqual(stats.pauseMs)
    expect(engine.version).toBe('v2')
    expect(engine.releaseDir).toBe(v2)
    expect(engine.status).toBe('idle')
    await engine.close()
  })

  it('reloads changed modules and their dependents, and shares the modules nothing changed under', async () => {
    const files = {
      'lib/format.js': `exports.format = (n) => 'v1 #' + n`,
      'handler.js': `const { format } = require('./lib/format'); module.exports = (n) => format(n)`,
      'cache.js': 'exports.identity = Math.random()',
      'feature-check.js': `try { exports.feature = require('./feature').name } catch { exports.feature = null }`,
    }
    const v1 = await release('v1', files)
    const v2 = await release('v2', { ...files, 'lib/format.js': `exports.format = (n) => 'v2 #' + n` })
    const v3 = await release('v3', {
      ...files,
      'lib/format.js': `exports.format = (n) => 'v2 #' + n`,
      'feature.js': `exports.name = 'on'`,
    })
    const engine = await createSwapEngine({ releaseDir: v1 })
    const handler = engine.module<(n: number) => string>('handler.js')
    const identity = engine.module('cache.js').identity
    expect(handler(1)).toBe('v1 #1')

    const stats = await engine.upgrade(v2)
    expect(stats.moduleNames).toEqual(['handler.js', 'lib/format.js'])
    expect(handler(2)).toBe('v2 #2')
    expect(engine.module('cache.js').identity).toBe(identity)

    // A file that a module looked for and did not find appears: that module reloads.
    const next = await engine.upgrade(v3)
    expect(next.moduleNames).toEqual(['feature-check.js', 'feature.js'])
    expect(engine.module('feature-check.js').feature).toBe('on')
    await engine.close()
  })

  it('routes every call through the handle to the current version; a captured export keeps its version', async () => {
    const v1 = await release('v1', { 'greet.js': `exports.greet = () => 'v1'` })
    const v2 = await release('v2', { 'greet.js': `exports.greet = () => 'v2'` })
    const engine = await createSwapEngine({ releaseDir: v1 })
    const handle = engine.module('greet.js')
    const { greet: captured } = handle
    await engine.upgrade(v2)
    expect(handle.greet()).toBe('v2')
    expect(captured()).toBe('v1')
    await engine.close()
  })

  it('serializes upgrades: a second call waits for the first and applies on top of it', async () => {
    const v1 = await release('v1', { 'counter.js': counterModule('v1') })
    const v2 = await release('v2', { 'counter.js': counterModule('v2') })
    const v3 = await release('v3', { 'counter.js': counterModule('v3') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const statuses: string[] = []
    engine.on('status', (status) => statuses.push(status))
    const first = engine.upgrade(v2, { version: 'v2' })
    const second = engine.upgrade(v3, { version: 'v3' })
    expect(engine.status).toBe('upgrading')
    const [a, b] = await Promise.all([first, second])
    expect([a.fromVersion, a.version, b.fromVersion, b.version]).toEqual(['v1', 'v2', 'v2', 'v3'])
    expect(statuses).toEqual(['upgrading', 'idle'])
    expect(await engine.unit('counter').inc()).toBe('v3:1')
    await engine.close()
  })

  it('switches the assets directory at commit, without copying', async () => {
    const v1 = await release('v1', { 'a.js': '', 'public/app.css': 'body{}' })
    const v2 = await release('v2', { 'a.js': '', 'public/app.css': 'body{color:red}' })
    const engine = await createSwapEngine({ releaseDir: v1 })
    expect(engine.assetsDir).toBe(join(v1, 'public'))
    const stats = await engine.upgrade(v2)
    expect(engine.assetsDir).toBe(join(v2, 'public'))
    expect(stats.moduleNames).toEqual([])
    await engine.close()
  })

  it('rejects upgrades after close()', async () => {
    const v1 = await release('v1', { 'a.js': '' })
    const engine = await createSwapEngine({ releaseDir: v1 })
    await engine.close()
    await expect(engine.upgrade(v1)).rejects.toMatchObject({
      code: 'ERR_RELUP_ENGINE_CLOSED',
      phase: 'refuse',
    })
  })

  it('resolves require.resolve() in the live release, even from a module shared since an older one', async () => {
    const files = {
      'paths.js': `exports.template = () => require.resolve('./views/page.html'); exports.dir = __dirname`,
    }
    const v1 = await release('v1', { ...files, 'views/page.html': 'v1' })
    const v2 = await release('v2', { ...files, 'views/page.html': 'v2' })
    const engine = await createSwapEngine({ releaseDir: v1 })
    await engine.upgrade(v2)
    expect(engine.module('paths.js').template()).toBe(join(v2, 'views/page.html'))
    // The caveat: a shared module keeps the __dirname of the release that evaluated it.
    expect(engine.module('paths.js').dir).toBe(v1)
    await engine.close()
  })

  it('fires the commit phase as the commit starts: the old version is live and suspended units still wait', async () => {
    const log = (version: string) =>
      `exports.units = { log: { create: (ctx) => ({ write(m) { ctx.deps.push('${version}:' + m) } }) } }`
    const v1 = await release('v1', { 'log.js': log('v1') })
    const v2 = await release('v2', { 'log.js': log('v2') })
    const written: string[] = []
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', deps: written })
    const phases: EngineEvents['phase']['phase'][] = []
    let atCommit: { version: string; ranAtOnce: boolean } | undefined
    let parked: Promise<void> | undefined
    engine.on('phase', ({ phase }) => {
      phases.push(phase)
      if (phase !== 'commit') return
      parked = engine.unit('log').write('called during commit')
      atCommit = { version: engine.version, ranAtOnce: written.length > 0 }
    })
    await engine.upgrade(v2, { version: 'v2' })
    expect(phases).toEqual(['refuse', 'prepare', 'suspend', 'migrate', 'commit', 'dispose'])
    expect(atCommit).toEqual({ version: 'v1', ranAtOnce: false })
    await parked
    expect(written).toEqual(['v2:called during commit'])
    await engine.close()
  })

  it('keeps one module handle callable whenever the current version exports a function (object → function)', async () => {
    const v1 = await release('v1', { 'greet.js': `exports.greet = () => 'v1 object'` })
    const v2 = await release('v2', { 'greet.js': `module.exports = () => 'v2 function'` })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const greet = engine.module('greet.js')
    expect(greet.greet()).toBe('v1 object')
    expect(() => greet()).toThrow(TypeError)
    expect(() => greet()).toThrow(/module greet\.js of release v1 exports an object, not a function/)
    await engine.upgrade(v2, { version: 'v2' })
    expect(greet()).toBe('v2 function')
    expect(greet.greet).toBeUndefined()
    await engine.close()
  })

  it('reads the current exports through a handle that was callable (function → object), and a call says why it fails', async () => {
    const v1 = await release('v1', { 'greet.js': `module.exports = () => 'v1 function'` })
    const v2 = await release('v2', { 'greet.js': `exports.greet = () => 'v2 object'` })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const greet = engine.module('greet.js')
    expect(greet()).toBe('v1 function')
    await engine.upgrade(v2, { version: 'v2' })
    expect(greet.greet()).toBe('v2 object')
    expect(Object.keys(greet)).toEqual(['greet'])
    expect(() => greet()).toThrow(TypeError)
    expect(() => greet()).toThrow(/module greet\.js of release v2 exports an object, not a function/)
    await engine.close()
  })

  it('lists the release directories live modules come from, so the runtime keeps them when pruning', async () => {
    // views.js reads a file next to it: it needs the directory it was first evaluated from.
    const views = `const fs = require('node:fs'); const path = require('node:path')
      exports.page = () => fs.readFileSync(path.join(__dirname, 'views/page.html'), 'utf8')`
    const app = (version: string) => ({
      'views/page.html': '<h1>page</h1>',
      'app.js': `exports.v = '${version}'`,
    })
    const v1 = await release('v1', { ...app('v1'), 'views.js': views })
    const v2 = await release('v2', { ...app('v2'), 'views.js': views })
    const v3 = await release('v3', { ...app('v3'), 'views.js': views })
    const v4 = await release('v4', { ...app('v4'), 'views.js': `${views}\nexports.changed = true` })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    expect(engine.releaseDirsInUse()).toEqual([v1])

    await engine.upgrade(v2)
    await engine.upgrade(v3)
    // views.js is unchanged since v1 and still runs from there; nothing live comes from v2 any more.
    expect(engine.releaseDirsInUse().sort()).toEqual([v1, v3].sort())
    expect(engine.module('views.js').page()).toBe('<h1>page</h1>')

    // v4 changes views.js: nothing live comes from v1 any more.
    await engine.upgrade(v4)
    expect(engine.releaseDirsInUse()).toEqual([v4])
    await engine.close()
  })

  it('lets a new instance reach a unit its own upgrade starts, through ctx.unit()', async () => {
    const v1 = await release('v1', { 'counter.js': counterModule('v1') })
    const v2 = await release('v2', {
      'counter.js': counterModule('v2', {
        extra: `exports.units.counter.create = (ctx) => {
          const audit = ctx.unit('audit')
          return { async inc() { ctx.state.count += 1; return audit.record(ctx.state.count) } }
        }`,
      }),
      'audit.js': `exports.units = { audit: { create: () => ({ record: (n) => 'audited ' + n }) } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1 })
    await engine.upgrade(v2)
    expect(await engine.unit('counter').inc()).toBe('audited 1')
    await engine.close()
  })
})
