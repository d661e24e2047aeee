import { existsSync } from 'node:fs'
import { join } from 'node:path'
import {
  initialPointer,
  parseMachineRecord,
  parseMachineResult,
  readDocument,
  relupKeys,
  resetPointer,
  type Storage,
  writeDocument,
} from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { memoryStorage } from '@relup/storage-memory'
import { createSwapEngine } from '@relup/swap'
import { describe, expect, it } from 'vitest'
import { currentVsn, Relup, readMarker, silentLogger } from '../src/index.js'
import {
  APP,
  publishDirect,
  readPointer,
  startMachine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'

const keys = relupKeys(APP)

const backends: [string, () => Promise<Storage>][] = [
  ['memory', async () => memoryStorage()],
  ['fs', async () => fsStorage({ dir: await tempDir('storage') })],
]

async function result(storage: Storage, upgradeId: string, machineId = 'm1') {
  const read = await readDocument(storage, keys.result(upgradeId, machineId), parseMachineResult)
  return read.status === 'ok' ? read.document : null
}

describe.each(backends)('the runtime on %s storage', (_name, createStorage) => {
  it('first boot writes the initial pointer and runs base code', async () => {
    const storage = await createStorage()
    const baseDir = await writeRelease(await tempDir(), 'base')
    const { relup } = await startMachine(storage, { baseDir })
    const read = await readPointer(storage)
    expect(read?.pointer).toMatchObject({
      app: APP,
      baseRef: 'image-1',
      hot: null,
      previousBases: [],
      seq: 1,
    })
    expect(relup.currentVsn()).toMatchObject({ baseRef: 'image-1', hotRef: null, version: null })
    expect(currentVsn()?.fingerprint).toBe(relup.currentVsn()?.fingerprint)
    const record = await readDocument(storage, keys.machine('m1'), parseMachineRecord)
    expect(record.status === 'ok' && record.document).toMatchObject({
      machineId: 'm1',
      baseRef: 'image-1',
      version: null,
    })
  })

  it('startup replays a pending hot upgrade before startRelup resolves', async () => {
    const storage = await createStorage()
    await writeDocument(storage, keys.current, initialPointer(APP, 'image-1', { setBy: 'test' }))
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    const machine = await startMachine(storage, { baseDir: await writeRelease(await tempDir(), 'base') })
    // No waiting: the upgrade is live as soon as startRelup resolved.
    expect(machine.engine.version).toBe('v2')
    expect(await machine.counter()).toMatchObject({ version: 'v2', migratedFrom: ['base'] })
    expect(machine.relup.currentVsn()).toMatchObject({
      version: 'v2',
      hotRef: hot.sourceRef,
      upgradeId: hot.upgradeId,
    })
    expect(await result(storage, hot.upgradeId)).toMatchObject({
      status: 'completed',
      version: 'v2',
      error: null,
    })
    expect(await readMarker(machine.stateDir)).toMatchObject({ upgradeId: hot.upgradeId, version: 'v2' })
  })

  it('a cold deploy (a base new to the pointer) resets it, remembering the old base', async () => {
    const storage = await createStorage()
    await writeDocument(storage, keys.current, initialPointer(APP, 'image-1', { setBy: 'test' }))
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      baseRef: 'image-2',
    })
    expect(machine.engine.version).toBe('base')
    expect((await readPointer(storage))?.pointer).toMatchObject({
      baseRef: 'image-2',
      previousBases: ['image-1'],
      hot: null,
    })
  })

  it('an old machine restarting during a rolling cold deploy leaves the pointer alone', async () => {
    const storage = await createStorage()
    const start = initialPointer(APP, 'image-1', { setBy: 'test' })
    await writeDocument(storage, keys.current, resetPointer(start, 'image-2', { setBy: 'machine:new-1' }))
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2-for-image-2'), {
      version: 'v2',
    })
    const before = await readPointer(storage)
    const old = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      baseRef: 'image-1',
    })
    expect(old.engine.version).toBe('base')
    await old.relup.checkNow()
    const after = await readPointer(storage)
    expect(after?.etag).toBe(before?.etag)
    expect(after?.pointer).toMatchObject({ baseRef: 'image-2', hot: { upgradeId: hot.upgradeId } })
    expect(await result(storage, hot.upgradeId)).toBeNull()
  })

  it('applies an upgrade published while it runs, keeping state, and writes pending then completed', async () => {
    const storage = await createStorage()
    const machine = await startMachine(storage, { baseDir: await writeRelease(await tempDir(), 'base') })
    const counter = machine.engine.unit('counter')
    await counter.increment()
    await counter.increment()
    const statuses: string[] = []
    machine.relup.on('upgrade:started', () => statuses.push('started'))
    machine.relup.on('upgrade:completed', () => statuses.push('completed'))
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(machine.relup, 'v2')
    expect(machine.engine.version).toBe('v2')
    expect(await machine.counter()).toEqual({ count: 2, version: 'v2', migratedFrom: ['base'] })
    const completed = await waitFor(() => result(storage, hot.upgradeId), 'the result')
    expect(completed).toMatchObject({ status: 'completed', attempt: 1, machineId: 'm1' })
    expect(completed.stats?.modulesReloaded).toBeGreaterThan(0)
    expect(completed.stats?.unitNames).toEqual(['counter'])
    expect(statuses).toEqual(['started', 'completed'])
    expect(machine.relup.getState()).toMatchObject({
      upgradeCount: 1,
      lastUpgrade: { status: 'completed', version: 'v2' },
    })
  })

  it('skips a hot upgrade of another generation while running', async () => {
    const storage = await createStorage()
    const machine = await startMachine(storage, { baseDir: await writeRelease(await tempDir(), 'base') })
    // A newer base takes over the pointer and gets its own hot upgrade.
    const current = await readPointer(storage)
    await writeDocument(
      storage,
      keys.current,
      resetPointer(current!.pointer, 'image-2', { setBy: 'machine:new' }),
      { ifMatch: current!.etag },
    )
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v9'), { version: 'v9' })
    await machine.relup.checkNow()
    await machine.relup.checkNow()
    expect(machine.engine.version).toBe('base')
    expect(await result(storage, hot.upgradeId)).toBeNull()
    expect(machine.relup.getState().pointerSeq).toBe((await readPointer(storage))?.pointer.seq)
  })

  it('writes the marker only after success, and retries a failed upgrade with backoff', async () => {
    const storage = await createStorage()
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      retryBaseDelay: 300,
    })
    const failures: number[] = []
    machine.relup.on('upgrade:failed', ({ attempt }) => failures.push(attempt))
    const broken = await publishDirect(
      storage,
      await writeRelease(await tempDir(), 'v2', { breakAtTop: true }),
      { version: 'v2' },
    )
    const failed = await waitFor(
      () => result(storage, broken.upgradeId).then((r) => r?.status === 'failed' && r),
      'a failed result',
    )
    expect(failed.error?.message).toMatch(/top-level throw/)
    expect(failed.error?.phase).toBe('prepare')
    expect(machine.engine.version).toBe('base')
    expect(await readMarker(machine.stateDir)).toBeNull()
    // Polls keep running every 50 ms, but the retry waits for its backoff (≥ 150 ms after the first failure).
    await new Promise((resolve) => setTimeout(resolve, 120))
    expect(failures).toEqual([1])
    await waitFor(() => failures.length >= 2, 'the retry', 3000)
    expect(machine.relup.getState().upgradeFailures).toBeGreaterThanOrEqual(2)
    // A fixed release published next is applied at once.
    const fixed = await publishDirect(storage, await writeRelease(await tempDir(), 'v3'), { version: 'v3' })
    await waitForApplied(machine.relup, 'v3')
    expect(await readMarker(machine.stateDir)).toMatchObject({ upgradeId: fixed.upgradeId })
  })

  it('a machine restarted after an upgrade replays it at startup from its verified release on disk', async () => {
    const storage = await createStorage()
    const baseDir = await writeRelease(await tempDir(), 'base')
    const first = await startMachine(storage, { baseDir })
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(first.relup, 'v2')
    await first.relup.stop()
    await first.engine.close()
    const marker = await readMarker(first.stateDir)
    expect(existsSync(join(marker!.releaseDir, 'counter.js'))).toBe(true)
    // The "restarted process": a fresh engine on base code, the same state directory.
    const downloads: string[] = []
    const watched: Storage = {
      ...storage,
      getStream: (key, o) => {
        downloads.push(key)
        return storage.getStream(key, o)
      },
    }
    const second = await startMachine(watched, { baseDir, stateDir: first.stateDir })
    expect(second.engine.version).toBe('v2')
    expect(second.relup.currentVsn()?.upgradeId).toBe(hot.upgradeId)
    expect(downloads).toEqual([])
  })
})

describe('development mode', () => {
  it('without a baseRef it neither replays nor polls nor writes', async () => {
    const storage = memoryStorage()
    const previous = { RELUP_BASE_REF: process.env.RELUP_BASE_REF, FLY_IMAGE_REF: process.env.FLY_IMAGE_REF }
    delete process.env.RELUP_BASE_REF
    delete process.env.FLY_IMAGE_REF
    try {
      const { relup } = await startMachine(storage, {
        baseDir: await writeRelease(await tempDir(), 'base'),
        baseRef: null,
      })
      expect(relup.getState().mode).toBe('development')
      expect(relup.currentVsn()).toBeNull()
      expect(storage.size).toBe(0)
    } finally {
      Object.assign(process.env, previous)
    }
  })
})

describe('subscribing before the startup replay', () => {
  it('new Relup() + on() + start() sees the startup replay events that startRelup() hides', async () => {
    const storage = memoryStorage()
    await writeDocument(storage, keys.current, initialPointer(APP, 'image-1', { setBy: 'test' }))
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    const engine = await createSwapEngine({
      releaseDir: await writeRelease(await tempDir(), 'base'),
      logger: { warn() {}, error() {} },
    })
    const relup = new Relup({
      app: APP,
      storage,
      engine,
      baseRef: 'image-1',
      machineId: 'm1',
      stateDir: await tempDir('state'),
      logger: silentLogger,
    })
    const seen: string[] = []
    relup.on('upgrade:completed', ({ upgrade, startup }) => seen.push(`${upgrade.version}:${startup}`))
    await relup.start()
    expect(seen).toEqual(['v2:true'])
    await expect(relup.start()).rejects.toThrow(/already called/)
    await relup.stop()
    await engine.close()
  })
})
