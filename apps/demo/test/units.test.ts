/**
 * The hot releases' units, in-process on the real swap engine: what each upgrade migrates, and
 * what it leaves running.
 */
import { createSwapEngine, type SwapEngine } from '@relup/swap'
import { afterEach, describe, expect, it } from 'vitest'
import { EventHub } from '../src/eventHub.js'
import { type UnitDeps, unitDeps } from '../src/host.js'
import { hotDir } from '../src/paths.js'

const quiet = { warn: () => {}, error: () => {} }
let engine: SwapEngine<UnitDeps> | undefined
let hub: EventHub | undefined

afterEach(async () => {
  await engine?.close()
  hub?.closeAll()
})

async function start(version = 'v1') {
  hub = new EventHub()
  const broadcasts: Array<[string, unknown]> = []
  const deps: UnitDeps = { ...unitDeps(hub), broadcast: (event, data) => broadcasts.push([event, data]) }
  engine = await createSwapEngine<UnitDeps>({ releaseDir: hotDir(version), version, deps, logger: quiet })
  return { engine, hub, broadcasts, counter: engine.unit('counter'), clients: engine.unit('clients') }
}

describe('the counter unit', () => {
  it('counts and broadcasts each change in v1', async () => {
    const { counter, broadcasts } = await start()
    expect(await counter.increment()).toEqual({ count: 1 })
    expect(await counter.increment()).toEqual({ count: 2 })
    expect(broadcasts).toEqual([
      ['counter', { count: 1 }],
      ['counter', { count: 2 }],
    ])
  })

  it('is not even paused by v2, whose counter.js is unchanged', async () => {
    const { engine, counter } = await start()
    await counter.increment()
    const stats = await engine.upgrade(hotDir('v2'), { version: 'v2' })
    expect(stats.moduleNames).toEqual(['page.js', 'router.js'])
    expect(stats.unitNames).toEqual([])
    expect(await counter.get()).toEqual({ count: 1 })
  })

  it('changes shape in v3: codeChange turns { count } into { value, changedAt }, keeping the number', async () => {
    const { engine, counter, broadcasts } = await start()
    for (let i = 0; i < 3; i++) await counter.increment()
    await engine.upgrade(hotDir('v2'), { version: 'v2' })
    const stats = await engine.upgrade(hotDir('v3'), { version: 'v3' })
    expect(stats.unitNames).toEqual(['counter'])
    expect(stats.moduleNames).toEqual(['counter.js', 'page.js', 'router.js'])
    expect(await counter.state()).toEqual({ value: 3, changedAt: null })
    expect(await counter.get()).toEqual({ count: 3, changedAt: null })

    const after = await counter.increment()
    expect(after).toEqual({ count: 4, changedAt: expect.any(String) })
    expect(Date.parse(after.changedAt)).toBeGreaterThan(Date.now() - 5000)
    expect(broadcasts.at(-1)).toEqual(['counter', after])
  })

  it('goes back to { count } when v3 is rolled back to v2, keeping the number', async () => {
    const { engine, counter } = await start()
    await engine.upgrade(hotDir('v3'), { version: 'v3' })
    await counter.increment()
    await counter.increment()
    await engine.upgrade(hotDir('v2'), { version: 'v2' })
    expect(await counter.state()).toEqual({ count: 2 })
    expect(await counter.increment()).toEqual({ count: 3 })
  })
})

describe('the clients unit', () => {
  it('follows the host-owned streams across upgrades, without piling up listeners', async () => {
    const { engine, hub, clients } = await start()
    hub.emit('open', { id: 'c1', connectedAt: '2026-01-01T00:00:00.000Z' })
    hub.emit('open', { id: 'c2', connectedAt: '2026-01-01T00:00:01.000Z' })
    hub.emit('close', 'c1')
    expect(await clients.list()).toEqual([{ id: 'c2', connectedAt: '2026-01-01T00:00:01.000Z' }])

    await engine.upgrade(hotDir('v2'), { version: 'v2' })
    await engine.upgrade(hotDir('v3'), { version: 'v3' })
    hub.emit('open', { id: 'c3', connectedAt: '2026-01-01T00:00:02.000Z' })
    expect((await clients.list()).map((c: { id: string }) => c.id)).toEqual(['c2', 'c3'])
    expect(hub.listenerCount('open')).toBe(1)
    expect(hub.listenerCount('close')).toBe(1)
  })
})
