// What the engine reports about an upgrade reaches the result, the machine record and the event as it is.
import {
  parseMachineRecord,
  parseMachineResult,
  readDocument,
  relupKeys,
  type UpgradeStats,
} from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import {
  APP,
  engineStats,
  publishDirect,
  startRuntime,
  stubEngine,
  tempDir,
  waitForApplied,
  writeRelease,
} from './helpers.js'

const keys = relupKeys(APP)

describe('the stats of an upgrade', () => {
  it('an upgrade whose old instance failed to dispose is reported degraded, with the dispose error', async () => {
    const storage = memoryStorage()
    const disposeErrors = [{ unit: 'counter', version: 'base', message: 'dispose threw: socket still open' }]
    const engine = stubEngine(async () =>
      engineStats({ unitsFailed: 1, pauseMs: 4, drainMs: 3, totalMs: 0, degraded: true, disposeErrors }),
    )
    const relup = await startRuntime(storage, { engine })
    const events: UpgradeStats[] = []
    relup.on('upgrade:completed', ({ stats }) => events.push(stats))
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')

    const result = await readDocument(storage, keys.result(hot.upgradeId, 'm1'), parseMachineResult)
    const stats = result.status === 'ok' ? result.document.stats : null
    expect(result.status === 'ok' && result.document.status).toBe('completed')
    expect(stats).toMatchObject({ unitsFailed: 1, pauseMs: 4, drainMs: 3, degraded: true, disposeErrors })
    // The engine's totalMs is replaced by the whole apply's, which includes the download.
    expect(stats?.downloadMs).toEqual(expect.any(Number))
    expect(stats?.totalMs).toBeGreaterThanOrEqual(stats?.downloadMs ?? Number.POSITIVE_INFINITY)

    const record = await readDocument(storage, keys.machine('m1'), parseMachineRecord)
    expect(record.status === 'ok' && record.document.lastResult).toMatchObject({
      upgradeId: hot.upgradeId,
      status: 'completed',
      degraded: true,
    })
    expect(events).toEqual([expect.objectContaining({ drainMs: 3, degraded: true, disposeErrors })])
    expect(relup.getState().lastUpgrade?.stats).toMatchObject({ degraded: true })
  })

  it('hands the engine the published manifest, saying the files were verified (so it does not hash them again)', async () => {
    const storage = memoryStorage()
    const engine = stubEngine()
    const relup = await startRuntime(storage, { engine })
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')
    expect(engine.calls).toEqual([
      expect.objectContaining({ manifest: hot.manifest, version: 'v2', verified: true }),
    ])
  })

  it('a clean upgrade says it is not degraded', async () => {
    const storage = memoryStorage()
    const relup = await startRuntime(storage, { engine: stubEngine() })
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')
    const record = await readDocument(storage, keys.machine('m1'), parseMachineRecord)
    expect(record.status === 'ok' && record.document.lastResult).toMatchObject({
      status: 'completed',
      degraded: false,
    })
  })
})
