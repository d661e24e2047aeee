/**
 * Traps of hot code that used to pass silently: top-level timers and listeners that outlive their
 * version, long-lived unit calls that freeze every upgrade attempt, and unit state that "crosses"
 * versions as something else.
 */
import { EventEmitter } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { createSwapEngine, UpgradeError } from '../src/index.js'
import { counterModule, deferred, recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

async function failure(promise: Promise<unknown>): Promise<UpgradeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(UpgradeError)
  return error as UpgradeError
}

describe('timers and listeners a hot module starts at its top level', () => {
  const ticker = (version: string) => `
    import { EventEmitter } from 'node:events'
    const bus = globalThis.__relupTrapBus
    setInterval(() => bus.emit('tick', '${version}'), 5)
    const retry = () => setTimeout(() => { bus.emit('retry', '${version}'); retry() }, 5)
    retry()
    process.on('relup-trap-signal', () => bus.emit('signal', '${version}'))
    bus.on('ping', () => bus.emit('pong', '${version}'))
    export const version = '${version}'`

  it('belong to their version: after v1 → v2 no v1 interval, timeout chain or listener runs', async () => {
    const bus = new EventEmitter()
    ;(globalThis as Record<string, unknown>).__relupTrapBus = bus
    const seen: string[] = []
    for (const event of ['tick', 'retry', 'signal', 'pong'])
      bus.on(event, (v: string) => seen.push(`${event}:${v}`))
    const v1 = await release('v1', { 'ticker.mjs': ticker('v1') })
    const v2 = await release('v2', { 'ticker.mjs': ticker('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    await sleep(30)
    expect(seen).toContain('tick:v1')
    expect(seen).toContain('retry:v1')

    await engine.upgrade(v2, { version: 'v2' })
    seen.length = 0
    process.emit('relup-trap-signal' as 'exit', 0)
    bus.emit('ping')
    await sleep(30)
    expect(seen.filter((entry) => entry.endsWith(':v1'))).toEqual([])
    expect(seen).toEqual(expect.arrayContaining(['tick:v2', 'retry:v2', 'signal:v2', 'pong:v2']))
    expect(process.listenerCount('relup-trap-signal')).toBe(1)

    await engine.close()
    seen.length = 0
    await sleep(20)
    expect(seen).toEqual([])
    expect(process.listenerCount('relup-trap-signal')).toBe(0)
    expect(bus.listenerCount('ping')).toBe(0)
  })

  it('are cleared when a failed upgrade discards the version that started them', async () => {
    const bus = new EventEmitter()
    ;(globalThis as Record<string, unknown>).__relupTrapBus = bus
    const seen: string[] = []
    bus.on('tick', (v: string) => seen.push(v))
    const v1 = await release('v1', { 'ticker.mjs': ticker('v1') })
    const broken = await release('v2', { 'ticker.mjs': ticker('v2'), 'z.mjs': `throw new Error('late')` })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    await failure(engine.upgrade(broken, { version: 'v2' }))
    seen.length = 0
    await sleep(30)
    expect(seen).toContain('v1')
    expect(seen).not.toContain('v2')
    await engine.close()
  })

  it('keep a listener a host package adds while the hot module loads it', async () => {
    const emitter = new EventEmitter()
    ;(globalThis as Record<string, unknown>).__relupTrapEmitter = emitter
    const v1 = await release('v1', { 'app.cjs': `require(${JSON.stringify('HOST')}); exports.v = 1` })
    const host = join(dirname(v1), 'host-package.cjs')
    await writeFile(host, `globalThis.__relupTrapEmitter.on('host-event', () => {})`)
    await writeFile(join(v1, 'app.cjs'), `require(${JSON.stringify(host)}); exports.v = 1`)
    const v2 = await release('v2', { 'app.cjs': `require(${JSON.stringify(host)}); exports.v = 2` })
    const engine = await createSwapEngine({ releaseDir: v1 })
    await engine.upgrade(v2)
    expect(emitter.listenerCount('host-event')).toBe(1)
    await engine.close()
  })

  it('warn when a replaced module leaves an interval it started outside its top level, naming the line', async () => {
    const poller = (version: string) =>
      `export function start(): unknown {\n  const every: number = 5\n  return setInterval(() => globalThis.__relupTrapLoose.push('${version}'), every)\n}\n`
    const loose: string[] = []
    ;(globalThis as Record<string, unknown>).__relupTrapLoose = loose
    const logger = recordingLogger()
    const v1 = await release('v1', { 'poller.ts': poller('v1') })
    const v2 = await release('v2', { 'poller.ts': poller('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger })
    const interval = engine.module('poller.ts').start()
    const stats = await engine.upgrade(v2, { version: 'v2' })
    expect(stats.warnings).toEqual([expect.stringContaining('hot module poller.ts (v1) was replaced')])
    expect(stats.warnings[0]).toContain('started at poller.ts:3')
    expect(logger.entries).toContainEqual({ level: 'warn', message: stats.warnings[0] })
    // Not cleared: its work may still be in flight. The app owns it.
    loose.length = 0
    await sleep(20)
    expect(loose).toContain('v1')
    clearInterval(interval)
    await engine.close()
  })
})

describe('long-lived unit calls', () => {
  const chat = (version: string, marked: boolean) => `exports.units = { chat: {
    init: () => ({ connections: [] }),
    create: (ctx) => ({
      serve(id) {
        ctx.state.connections.push(id)
        const loop = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('${version} ended ' + id)))
        return ${marked ? 'ctx.longLived(loop)' : 'loop'}
      },
      async serveAsync(id) {
        ${marked ? 'ctx.longLived(ctx.deps.forever)' : ''}
        await ctx.deps.forever
      },
      version: () => '${version}',
      connections: () => ctx.state.connections,
    }) } }`

  it('marked with ctx.longLived() do not hold an upgrade back, and end when their instance is replaced', async () => {
    const forever = deferred()
    const v1 = await release('v1', { 'chat.js': chat('v1', true) })
    const v2 = await release('v2', { 'chat.js': chat('v2', true) })
    const engine = await createSwapEngine({
      releaseDir: v1,
      version: 'v1',
      deps: { forever: forever.promise },
    })
    const unit = engine.unit('chat')
    const connection = unit.serve('c1')
    void unit.serveAsync('c2')
    const stats = await engine.upgrade(v2, { version: 'v2', suspendTimeout: 5_000 })
    expect(stats.drainMs).toBeLessThan(1_000)
    expect(await connection).toBe('v1 ended c1')
    expect(await unit.version()).toBe('v2')
    expect(await unit.connections()).toEqual(['c1'])
    await engine.close()
  })

  it('not marked fail the upgrade naming the call and how to fix it, and a retry fails at once instead of freezing again', async () => {
    const v1 = await release('v1', { 'chat.js': chat('v1', false) })
    const v2 = await release('v2', { 'chat.js': chat('v2', false) })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    const unit = engine.unit('chat')
    void unit.serve('c1')
    const first = await failure(engine.upgrade(v2, { version: 'v2', suspendTimeout: 100 }))
    expect(first).toMatchObject({ code: 'ERR_RELUP_DRAIN_TIMEOUT', unit: 'chat' })
    expect(first.message).toMatch(/chat\.serve\(\) \(pending \d+\.\d s\)/)
    expect(first.message).toContain('ctx.longLived(promise)')

    let parkedFor = 0
    const off = engine.on('phase', ({ phase }) => {
      if (phase !== 'suspend') return
      const started = performance.now()
      void unit.version().then(() => (parkedFor = performance.now() - started))
    })
    const started = performance.now()
    const retry = await failure(engine.upgrade(v2, { version: 'v2', suspendTimeout: 5_000 }))
    expect(performance.now() - started).toBeLessThan(1_000)
    expect(retry.message).toMatch(/already held back an earlier upgrade/)
    expect(parkedFor).toBe(0)
    expect(await unit.version()).toBe('v1')
    off()
    await engine.close()
  })
})

describe('unit state that cannot cross versions faithfully', () => {
  it('fails the upgrade in migrate naming the unit and the path; the old code keeps serving', async () => {
    const v1 = await release('v1', {
      'counter.js': `
        class Counter { constructor() { this.n = 0 } inc() { return ++this.n } }
        exports.units = { counter: {
          init: () => ({ c: new Counter() }),
          create: (ctx) => ({ inc: () => 'v1:' + ctx.state.c.inc() }) } }`,
    })
    const v2 = await release('v2', {
      'counter.js': `exports.units = { counter: { create: (ctx) => ({ inc: () => 'v2:' + ctx.state.c.inc() }) } }`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    const counter = engine.unit('counter')
    expect(await counter.inc()).toBe('v1:1')
    const error = await failure(engine.upgrade(v2, { version: 'v2' }))
    expect(error).toMatchObject({ code: 'ERR_RELUP_MIGRATE_FAILED', phase: 'migrate', unit: 'counter' })
    expect(error.message).toContain(
      'unit counter: its state cannot cross versions: ctx.state.c is an instance of Counter',
    )
    expect(await counter.inc()).toBe('v1:2')
    await engine.close()
  })

  it.each([
    [
      'a value inside a Map',
      `new Map([['k', new (class Session {})()]])`,
      'ctx.state.value.get("k") is an instance of Session',
    ],
    ['a Buffer', `Buffer.from('x')`, 'ctx.state.value is a Buffer'],
    [
      'a custom error',
      `new (class NotFound extends Error {})('gone')`,
      'ctx.state.value is an instance of NotFound',
    ],
    [
      'a socket-like host object',
      `new (require('node:events').EventEmitter)()`,
      'ctx.state.value is an instance of EventEmitter',
    ],
    ['a function deep inside', `{ list: [{ onDone() {} }] }`, 'ctx.state.value.list[0].onDone is a function'],
  ])('names %s', async (_, value, path) => {
    const v1 = await release('v1', {
      'counter.js': counterModule('v1', {
        extra: `exports.units.counter.init = () => ({ count: 0, value: ${value} })`,
      }),
    })
    const v2 = await release('v2', { 'counter.js': counterModule('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    const error = await failure(engine.upgrade(v2, { version: 'v2' }))
    expect(error.message).toContain(path)
    expect(await engine.unit('counter').inc()).toBe('v1:1')
    await engine.close()
  })
})
