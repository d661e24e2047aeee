import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { createSwapEngine, UpgradeError } from '../src/index.js'
import { counterModule, deferred, evaluationProbe, recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

/** Start v1, count to 2, and return what the tests need to prove v1 is untouched. */
async function servingV1(files: Record<string, string> = {}, deps?: unknown) {
  const v1 = await release('v1', { 'counter.js': counterModule('v1'), ...files })
  const v2 = await release('v2-ok', { 'counter.js': counterModule('v2'), ...files })
  const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger(), deps })
  const counter = engine.unit('counter')
  await counter.inc()
  await counter.inc()
  return { engine, counter, v1, v2 }
}

async function failure(promise: Promise<unknown>): Promise<UpgradeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(UpgradeError)
  return error as UpgradeError
}

describe('a failed upgrade leaves v1 serving with its state, and the next upgrade still works', () => {
  it('codeChange throws → migrate fails; instances created before it are discarded', async () => {
    const seen: string[] = []
    const alarm = (version: string) =>
      `exports.units = { alarm: { create: (ctx) => { ctx.setTimeout(() => ctx.deps.push('${version} alarm'), 10); return {} } } }`
    const { engine, counter, v2 } = await servingV1({ 'alarm.js': alarm('v1') }, seen)
    await sleep(20)
    seen.length = 0
    const broken = await release('v2-broken', {
      'counter.js': counterModule('v2', {
        codeChange: `(old) => { throw new Error('bad shape ' + old.count) }`,
      }),
      // Migrated before counter, then discarded when counter fails: its timer must never fire.
      'alarm.js': alarm('v2'),
    })
    const error = await failure(engine.upgrade(broken, { version: 'v2' }))
    expect(error).toMatchObject({ code: 'ERR_RELUP_MIGRATE_FAILED', phase: 'migrate', unit: 'counter' })
    expect(error.message).toMatch(/bad shape 2.*Nothing was changed: v1 keeps serving/)
    expect(engine.version).toBe('v1')
    expect(engine.unitNames).toEqual(['alarm', 'counter'])
    expect(await counter.inc()).toBe('v1:3')
    await sleep(30)
    expect(seen).toEqual([])

    await engine.upgrade(v2, { version: 'v2' })
    expect(await counter.inc()).toBe('v2:4')
    await engine.close()
  })

  it('a module throws at top level → prepare fails, naming the module', async () => {
    const { engine, counter, v2 } = await servingV1()
    const broken = await release('v2-broken', {
      'counter.js': `require('./config'); ${counterModule('v2')}`,
      'config.js': `throw new Error('PORT is not set')`,
    })
    const error = await failure(engine.upgrade(broken, { version: 'v2' }))
    expect(error).toMatchObject({ code: 'ERR_RELUP_PREPARE_FAILED', phase: 'prepare', module: 'config.js' })
    expect(error.message).toContain('PORT is not set')
    expect(await counter.inc()).toBe('v1:3')
    expect(engine.manifest.files['config.js']).toBeUndefined()

    await engine.upgrade(v2, { version: 'v2' })
    expect(await counter.inc()).toBe('v2:4')
    await engine.close()
  })

  it('a syntax error → prepare fails', async () => {
    const { engine, counter } = await servingV1()
    const broken = await release('v2-broken', { 'counter.js': `exports.units = { counter: {` })
    const error = await failure(engine.upgrade(broken, { version: 'v2' }))
    expect(error).toMatchObject({ phase: 'prepare', module: 'counter.js' })
    expect(error.message).toContain('SyntaxError')
    expect(await counter.inc()).toBe('v1:3')
    await engine.close()
  })

  it('in-flight calls outlast suspendTimeout → suspend fails; parked calls then run on v1', async () => {
    const hold = deferred()
    const slow = `exports.units = { counter: {
      init: () => ({ count: 0 }),
      create: (ctx) => ({
        inc() { ctx.state.count += 1; return 'v1:' + ctx.state.count },
        async stuck() { await ctx.deps.promise; return 'v1:stuck' },
      }) } }`
    const v1 = await release('v1', { 'counter.js': slow })
    const v2 = await release('v2', { 'counter.js': counterModule('v2') })
    const engine = await createSwapEngine({
      releaseDir: v1,
      version: 'v1',
      deps: hold,
      logger: recordingLogger(),
    })
    const counter = engine.unit('counter')
    await counter.inc()
    const stuck = counter.stuck()
    let parked: Promise<string> | undefined
    const off = engine.on('phase', ({ phase }) => {
      if (phase === 'suspend') parked = counter.inc()
    })

    const error = await failure(engine.upgrade(v2, { version: 'v2', suspendTimeout: 50 }))
    expect(error).toMatchObject({ code: 'ERR_RELUP_DRAIN_TIMEOUT', phase: 'suspend', unit: 'counter' })
    expect(error.message).toMatch(/did not finish within 50 ms/)
    expect(await parked).toBe('v1:2')
    expect(engine.version).toBe('v1')
    off()

    hold.resolve()
    expect(await stuck).toBe('v1:stuck')
    const stats = await engine.upgrade(v2, { version: 'v2', suspendTimeout: 50 })
    expect(stats.unitNames).toEqual(['counter'])
    expect(await counter.inc()).toBe('v2:3')
    await engine.close()
  })

  it('reports failures through the upgrade event as well', async () => {
    const { engine } = await servingV1()
    const events: unknown[] = []
    engine.on('upgrade', (event) => events.push(event))
    const broken = await release('v2-broken', { 'counter.js': 'throw 1' })
    await failure(engine.upgrade(broken, { version: 'v2' }))
    expect(events).toEqual([expect.objectContaining({ ok: false, fromVersion: 'v1', version: 'v2' })])
    expect(engine.status).toBe('idle')
    await engine.close()
  })

  it('keeps a module that prepare evaluated away from the live version when a later module fails', async () => {
    const probe = evaluationProbe('__relupAbortProbe')
    const { engine, counter } = await servingV1()
    const broken = await release('v2-broken', {
      'counter.js': `globalThis.__relupAbortProbe.push('counter v2'); ${counterModule('v2')}`,
      'z-last.js': `throw new Error('late failure')`,
    })
    await failure(engine.upgrade(broken, { version: 'v2' }))
    // counter.js v2 was evaluated in the new release's own cache, yet v1 serves.
    expect(probe).toEqual(['counter v2'])
    expect(await counter.inc()).toBe('v1:3')
    await engine.close()
  })

  it('state that is not plain data → migrate fails, v1 keeps its state', async () => {
    const v1 = await release('v1', {
      'counter.js': counterModule('v1', {
        extra: 'exports.units.counter.init = () => ({ count: 0, onTick: () => {} })',
      }),
    })
    const v2 = await release('v2', { 'counter.js': counterModule('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    const counter = engine.unit('counter')
    await counter.inc()
    const error = await failure(engine.upgrade(v2, { version: 'v2' }))
    expect(error).toMatchObject({ code: 'ERR_RELUP_MIGRATE_FAILED', unit: 'counter' })
    expect(error.message).toMatch(/state is not plain data: ctx\.state\.onTick is a function/)
    expect(await counter.inc()).toBe('v1:2')
    await engine.close()
  })
})
