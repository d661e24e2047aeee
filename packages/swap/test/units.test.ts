import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { createSwapEngine } from '../src/index.js'
import { counterModule, recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

describe('stateful units', () => {
  it('keeps state across v1 → v2 → v3 and migrates its shape with codeChange(state, fromVersion)', async () => {
    const v1 = await release('v1', { 'counter.js': counterModule('v1') })
    const v2 = await release('v2', {
      'counter.js': `
        exports.units = {
          counter: {
            init: () => ({ total: 0, history: [] }),
            codeChange: (old, from) => ({ total: old.count, history: ['from ' + from + ' with ' + old.count] }),
            create: (ctx) => ({
              inc() { ctx.state.total += 1; return 'v2:' + ctx.state.total },
              state() { return ctx.state },
            }),
          },
        }`,
    })
    const v3 = await release('v3', {
      'counter.js': `
        exports.units = {
          counter: {
            codeChange: (old, from) => ({ value: old.total, history: [...old.history, 'from ' + from + ' with ' + old.total] }),
            create: (ctx) => ({
              inc() { ctx.state.value += 1; return 'v3:' + ctx.state.value },
              state() { return ctx.state },
            }),
          },
        }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const counter = engine.unit('counter')
    expect([await counter.inc(), await counter.inc()]).toEqual(['v1:1', 'v1:2'])

    const first = await engine.upgrade(v2, { version: 'v2' })
    expect(first).toMatchObject({
      unitsMigrated: 1,
      unitNames: ['counter'],
      fromVersion: 'v1',
      version: 'v2',
    })
    expect(await counter.inc()).toBe('v2:3')

    await engine.upgrade(v3, { version: 'v3' })
    expect(await counter.inc()).toBe('v3:4')
    expect(await counter.state()).toEqual({ value: 4, history: ['from v1 with 2', 'from v2 with 3'] })
    await engine.close()
  })

  it('hands the new version a structured clone: Maps, Sets, Dates, typed arrays and plain data cross as they are', async () => {
    const v1 = await release('v1', {
      'store.js': `exports.units = { store: {
        init: () => ({
          items: new Map([['a', { v: 1, tags: new Set(['x']) }]]),
          since: new Date(0),
          bytes: new Uint8Array([1, 2, 3]),
          list: [1, 'two', null, { three: 3n }],
          pattern: /ab+c/i,
          bare: Object.create(null),
        }),
        create: (ctx) => ({ state: () => ctx.state }) } }`,
    })
    const v2 = await release('v2', {
      'store.js': `exports.units = { store: { create: (ctx) => ({
        state: () => ctx.state,
        summary: () => [ctx.state.items.get('a').tags.has('x'), ctx.state.since.getTime(), ctx.state.bytes[2]],
      }) } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const store = engine.unit('store')
    const before = await store.state()
    await engine.upgrade(v2)
    const after = await store.state()
    expect(after).toEqual(before)
    expect(after).not.toBe(before)
    expect(await store.summary()).toEqual([true, 0, 3])
    await engine.close()
  })

  it('keeps the instance of a unit whose module did not change (no codeChange, no new instance)', async () => {
    const clock = `exports.units = { clock: {
      init: () => ({ ticks: 0 }),
      codeChange: () => { throw new Error('must not run') },
      create: (ctx) => ({ tick() { return ++ctx.state.ticks }, self() { return this } }) } }`
    const v1 = await release('v1', { 'clock.js': clock, 'counter.js': counterModule('v1') })
    const v2 = await release('v2', { 'clock.js': clock, 'counter.js': counterModule('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const before = await engine.unit('clock').self()
    await engine.unit('clock').tick()
    const stats = await engine.upgrade(v2, { version: 'v2' })
    expect(stats.unitNames).toEqual(['counter'])
    expect(await engine.unit('clock').self()).toBe(before)
    expect(await engine.unit('clock').tick()).toBe(2)
    await engine.close()
  })

  it('starts units a release adds and disposes units it removes', async () => {
    const disposed: string[] = []
    const v1 = await release('v1', {
      'old.js': `exports.units = { legacy: { create: (ctx) => { ctx.onDispose(() => ctx.deps.push('legacy')); return { ping: () => 'pong' } } } }`,
    })
    const v2 = await release('v2', {
      'new.js': `exports.units = { fresh: { init: () => ({ n: 7 }), create: (ctx) => ({ n: () => ctx.state.n }) } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, deps: disposed })
    const legacy = engine.unit('legacy')
    const stats = await engine.upgrade(v2)
    expect(stats).toMatchObject({ unitsStarted: ['fresh'], unitsStopped: ['legacy'], unitsMigrated: 0 })
    expect(disposed).toEqual(['legacy'])
    expect(await engine.unit('fresh').n()).toBe(7)
    await expect(legacy.ping()).rejects.toMatchObject({ code: 'ERR_RELUP_UNKNOWN_UNIT' })
    expect(engine.unitNames).toEqual(['fresh'])
    await engine.close()
  })

  it('clears the timers and listeners an instance registered through ctx when it is replaced or closed', async () => {
    const emitter = new EventEmitter()
    const seen: string[] = []
    const unit = (version: string) => `exports.units = { poller: {
      create: (ctx) => {
        ctx.setInterval(() => ctx.deps.seen.push('${version}:tick'), 5)
        ctx.setTimeout(() => ctx.deps.seen.push('${version}:late'), 60_000)
        ctx.listen(ctx.deps.emitter, 'message', (m) => ctx.deps.seen.push('${version}:' + m))
        return {}
      } } }`
    const v1 = await release('v1', { 'poller.js': unit('v1') })
    const v2 = await release('v2', { 'poller.js': unit('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', deps: { emitter, seen } })
    await sleep(20)
    expect(seen).toContain('v1:tick')
    await engine.upgrade(v2, { version: 'v2' })
    expect(emitter.listenerCount('message')).toBe(1)
    seen.length = 0
    emitter.emit('message', 'hello')
    await sleep(20)
    expect(seen).toContain('v2:hello')
    expect(seen).toContain('v2:tick')
    expect(seen.filter((entry) => entry.startsWith('v1:'))).toEqual([])

    await engine.close()
    seen.length = 0
    emitter.emit('message', 'after close')
    await sleep(20)
    expect(seen).toEqual([])
    expect(emitter.listenerCount('message')).toBe(0)
    expect(engine.status).toBe('closed')
  })

  it('counts the replaced and stopped units whose old instance failed to dispose in unitsFailed', async () => {
    const v1 = await release('v1', {
      // Two failures of one unit (an onDispose callback and dispose itself) count as one unit.
      'counter.js': counterModule('v1', {
        extra: `exports.units.counter.create = (ctx) => {
          ctx.onDispose(() => { throw new Error('timer already gone') })
          return { inc: () => 'v1' }
        }
        exports.units.counter.dispose = () => { throw new Error('socket already closed') }`,
      }),
      'legacy.js': `exports.units = { legacy: { create: () => ({}), dispose: async () => { throw new Error('flush failed') } } }`,
      'clean.js': `exports.units = { clean: { create: () => ({}), dispose: () => {} } }`,
    })
    const v2 = await release('v2', {
      'counter.js': counterModule('v2'),
      'clean.js': `exports.units = { clean: { create: () => ({ changed: true }) } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    const stats = await engine.upgrade(v2, { version: 'v2' })
    expect(stats).toMatchObject({
      unitNames: ['clean', 'counter'],
      unitsStopped: ['legacy'],
      unitsFailed: 2,
      degraded: true,
    })
    expect(stats.disposeErrors.map(({ unit, message }) => `${unit}: ${message}`).sort()).toEqual([
      'counter: Error: socket already closed',
      'counter: Error: timer already gone',
      'legacy: Error: flush failed',
    ])
    expect(engine.status).toBe('degraded')
    await engine.close()
  })

  it('reports a failing dispose, marks the engine degraded, and keeps the upgrade', async () => {
    const logger = recordingLogger()
    const v1 = await release('v1', {
      'counter.js': counterModule('v1', {
        extra: `exports.units.counter.dispose = () => { throw new Error('socket already closed') }`,
      }),
    })
    const v2 = await release('v2', { 'counter.js': counterModule('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger })
    const stats = await engine.upgrade(v2, { version: 'v2' })
    expect(stats.degraded).toBe(true)
    expect(stats.unitsFailed).toBe(1)
    expect(stats.disposeErrors).toEqual([
      { unit: 'counter', version: 'v1', message: 'Error: socket already closed' },
    ])
    expect(engine.status).toBe('degraded')
    expect(engine.version).toBe('v2')
    expect(await engine.unit('counter').inc()).toBe('v2:1')
    expect(logger.entries.some((entry) => entry.level === 'error' && /degraded/.test(entry.message))).toBe(
      true,
    )
    await engine.close()
  })
})
