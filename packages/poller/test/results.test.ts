// What the engine reports about an upgrade reaches the result, the machine record and the event as it is.
import {
  type MachineRecord,
  parseMachineRecord,
  parseMachineResult,
  readDocument,
  relupKeys,
  type UpgradeStats,
} from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it, vi } from 'vitest'
import {
  APP,
  engineStats,
  onCleanup,
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

    // The record follows the result within recordDelay (2 s by default).
    await expect
      .poll(async () => lastResultOf(await readDocument(storage, keys.machine('m1'), parseMachineRecord)), {
        timeout: 5000,
      })
      .toMatchObject({ upgradeId: hot.upgradeId, status: 'completed', degraded: true })
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
    await expect
      .poll(async () => lastResultOf(await readDocument(storage, keys.machine('m1'), parseMachineRecord)), {
        timeout: 5000,
      })
      .toMatchObject({ status: 'completed', degraded: false })
  })
})

function lastResultOf(read: Awaited<ReturnType<typeof readDocument<MachineRecord>>>) {
  return read.status === 'ok' ? read.document.lastResult : null
}

describe('the pending result', () => {
  /**
   * A store that logs puts of results and gets of artifacts; `pending` puts wait for `release`, and
   * with `holdDownload` so does the artifact's download.
   */
  function slowAcknowledgements({ holdDownload = false } = {}) {
    const inner = memoryStorage()
    const log: string[] = []
    let release!: () => void
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const storage: typeof inner = {
      ...inner,
      async put(key, body, options) {
        const text = (b: typeof body) =>
          typeof b === 'string' ? b : new TextDecoder().decode(b as Uint8Array)
        const status = key.includes('/results/') ? JSON.parse(text(body)).status : null
        if (status === 'pending') {
          log.push('pending put started')
          await held
        }
        const put = await inner.put(key, body, options)
        if (status) log.push(`${status} landed`)
        return put
      },
      async getStream(key, options) {
        if (key.includes('/artifacts/')) {
          log.push('artifact requested')
          if (holdDownload) await held
          log.push('artifact fetched')
        }
        return inner.getStream(key, options)
      },
    }
    return { storage, log, release }
  }

  it('is not written for a download quicker than pendingAfter: the completed result is the only write', async () => {
    const { storage, log } = slowAcknowledgements()
    const relup = await startRuntime(storage, { engine: stubEngine() })
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')
    expect(log).toEqual(['artifact requested', 'artifact fetched', 'completed landed'])
  })

  it('is written while a slow download runs, and lands before the swap and the completed result', async () => {
    const { storage, log, release } = slowAcknowledgements({ holdDownload: true })
    const engine = stubEngine(async () => {
      log.push('swap')
      return engineStats()
    })
    const relup = await startRuntime(storage, { engine, pendingAfter: 100 })
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await expect.poll(() => log.includes('pending put started'), { timeout: 5000 }).toBe(true)
    expect(log).toEqual(['artifact requested', 'pending put started'])
    release()
    await waitForApplied(relup, 'v2')
    expect(log).toEqual([
      'artifact requested',
      'pending put started',
      'artifact fetched',
      'pending landed',
      'swap',
      'completed landed',
    ])
  })

  it('with pendingAfter 0 it travels while the release downloads, and lands before the failed result of a failed download', async () => {
    const { storage, log, release } = slowAcknowledgements()
    const engine = stubEngine()
    const relup = await startRuntime(storage, { engine, pendingAfter: 0 })
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await storage.delete(hot.artifact.key) // the download fails: the artifact is gone
    await expect.poll(() => log.includes('pending put started'), { timeout: 5000 }).toBe(true)
    setTimeout(release, 100)
    await expect.poll(() => log.includes('failed landed'), { timeout: 5000 }).toBe(true)
    expect(log.filter((line) => line.endsWith('landed')).slice(0, 2)).toEqual([
      'pending landed',
      'failed landed',
    ])
    expect(engine.releaseDirs).toEqual([])
    await relup.stop()
  })
})

describe('the machine record after an upgrade', () => {
  /** Every put of the machine's record and results, in order, as `<kind> <status or version>`. */
  function loggedPuts() {
    const inner = memoryStorage()
    const log: string[] = []
    const storage: typeof inner = {
      ...inner,
      async put(key, body, options) {
        const put = await inner.put(key, body, options)
        if (!key.includes('/results/') && !key.includes('/machines/')) return put
        const doc = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body as Uint8Array))
        if (key.includes('/results/')) log.push(`result ${doc.status}`)
        else log.push(`record ${doc.version}${doc.stoppedAt ? ' stopped' : ''}`)
        return put
      },
    }
    return { storage, log }
  }

  it('follows the completed result within recordDelay, not before it', async () => {
    const { storage, log } = loggedPuts()
    // The record follows 297 ms after the result (the random moment pinned).
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.99)
    onCleanup(async () => random.mockRestore())
    const relup = await startRuntime(storage, { engine: stubEngine(), recordDelay: 300 })
    const atCompletion = new Promise<string[]>((resolve) =>
      relup.once('upgrade:completed', () => resolve([...log])),
    )
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')
    expect((await atCompletion).slice(-1)).toEqual(['result completed'])
    await expect.poll(() => log.at(-1), { timeout: 2000 }).toBe('record v2')
    expect(log.filter((line) => line === 'record v2')).toHaveLength(1)
  })

  it('with recordDelay 0 it is written first, so whoever sees the result finds the machine current', async () => {
    const { storage, log } = loggedPuts()
    const relup = await startRuntime(storage, { engine: stubEngine(), recordDelay: 0 })
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')
    expect(log.slice(-2)).toEqual(['record v2', 'result completed'])
  })

  it('a stop before the record followed writes the stopped record, and nothing lands after it', async () => {
    const { storage, log } = loggedPuts()
    // The record would follow 297 ms after the result: well after the stop below.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.99)
    onCleanup(async () => random.mockRestore())
    const relup = await startRuntime(storage, { engine: stubEngine(), recordDelay: 300 })
    const stopped = new Promise<void>((resolve) =>
      relup.once('upgrade:completed', () => resolve(relup.stop())),
    )
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await stopped
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(log.slice(-2)).toEqual(['result completed', 'record v2 stopped'])
    const record = await readDocument(storage, keys.machine('m1'), parseMachineRecord)
    expect(record.status === 'ok' && record.document).toMatchObject({
      version: 'v2',
      stoppedAt: expect.any(String),
    })
  })
})
