// Item 4, the cases a restart meets besides a failing upgrade: the last good release (the marker
// and its verified directory, both local) also boots while storage is unreachable; a marker of
// another base, another build of this base or a directory that no longer matches is never booted;
// after a rollback to base, base code is the last good.
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  encodeDocument,
  type LocalMarker,
  type Logger,
  relupKeys,
  type Storage,
  withoutHotUpgrade,
  writeDocument,
} from '@relup/core'
import { faultyStorage } from '@relup/storage-conformance'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import { readMarker } from '../src/index.js'
import { resolveOptions } from '../src/options.js'
import { pruneReleases } from '../src/releaseStore.js'
import {
  APP,
  type Machine,
  publishDirect,
  readPointer,
  spyStorage,
  startMachine,
  stubEngine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'

const keys = relupKeys(APP)

/** What the default logger prints: the message, then the error's. */
const text = (obj: object | string, msg?: string) => {
  if (typeof obj === 'string') return obj
  const err = (obj as { err?: unknown }).err
  return `${msg ?? ''}${err instanceof Error ? `: ${err.message}` : ''}`
}

function logLines(): Logger & { lines: string[] } {
  const lines: string[] = []
  const say = (obj: object | string, msg?: string) => void lines.push(text(obj, msg))
  return { lines, debug() {}, info() {}, warn: say, error: say }
}

/** A machine that applied v2 and stopped, leaving its marker and release directory behind. */
async function machineThatRanV2(storage: Storage) {
  const baseDir = await writeRelease(await tempDir(), 'base')
  const first = await startMachine(storage, { baseDir })
  const extraFiles = { 'template.html': '<p>v2</p>\n' } // read at run time, not evaluated
  const v2 = await publishDirect(storage, await writeRelease(await tempDir(), 'v2', { extraFiles }), {
    version: 'v2',
  })
  await waitForApplied(first.relup, 'v2')
  await stopMachine(first)
  return { baseDir, stateDir: first.stateDir, v2 }
}

async function stopMachine(machine: Machine) {
  await machine.relup.stop()
  await machine.engine.close()
}

describe('the last good release', () => {
  it('boots from disk when storage is unreachable at startup; polls finish the startup once it answers', async () => {
    const storage = faultyStorage(memoryStorage())
    const { baseDir, stateDir, v2 } = await machineThatRanV2(storage)
    storage.faults.failRate = 1
    const logger = logLines()
    const downloadsBefore = storage.stats.byOperation.getStream
    const machine = await startMachine(storage, { baseDir, stateDir, startupTimeout: 300, logger })
    expect(machine.engine.version).toBe('v2')
    expect(await machine.counter()).toMatchObject({ version: 'v2' })
    expect(machine.relup.currentVsn()).toMatchObject({ version: 'v2', upgradeId: v2.upgradeId })
    expect(logger.lines).toContainEqual(expect.stringMatching(/booted the last good release v2/))
    expect(logger.lines).toContainEqual(expect.stringMatching(/booting on v2, its last good release/))

    storage.faults.failRate = 0
    await waitFor(() => machine.relup.getState().etag, 'a successful poll', 3000)
    const v3 = await publishDirect(storage, await writeRelease(await tempDir(), 'v3'), { version: 'v3' })
    await waitForApplied(machine.relup, 'v3')
    expect(await machine.counter()).toMatchObject({ version: 'v3', migratedFrom: ['base', 'v2'] })
    expect(machine.relup.currentVsn()?.upgradeId).toBe(v3.upgradeId)
    // Nothing was downloaded for v2: its directory on disk was verified and booted.
    expect(storage.stats.byOperation.getStream - downloadsBefore).toBe(1)
  })

  it('a corrupt pointer at startup: one error line, the last good release boots, and it keeps serving', async () => {
    const spy = spyStorage(memoryStorage())
    const { baseDir, stateDir } = await machineThatRanV2(spy.storage)
    const current = await readPointer(spy.storage)
    await spy.storage.put(keys.current, encodeDocument({ ...current!.pointer, seq: 'seven' }))
    const errors: string[] = []
    const logger = {
      ...logLines(),
      error: (obj: object | string, msg?: string) => void errors.push(text(obj, msg)),
    }
    const machine = await startMachine(spy.storage, { baseDir, stateDir, logger, pollInterval: 10 })
    expect(machine.engine.version).toBe('v2')
    const reads = spy.gets(keys.current).length
    await waitFor(() => spy.gets(keys.current).length >= reads + 10, 'ten polls')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/the pointer is malformed; keeping the running code: .*seq.*relup repair/)
    expect(await machine.counter()).toMatchObject({ version: 'v2' })
  })

  it('a marker written on another base is not booted', async () => {
    const storage = faultyStorage(memoryStorage())
    const { baseDir, stateDir } = await machineThatRanV2(storage)
    storage.faults.failRate = 1
    const logger = logLines()
    const machine = await startMachine(storage, {
      baseDir,
      stateDir,
      startupTimeout: 200,
      logger,
      baseRef: 'image-2',
    })
    expect(machine.engine.version).toBe('base')
    expect(logger.lines).toContainEqual(
      expect.stringMatching(/marker's v2 was applied on base image-1: not booting it/),
    )
  })

  it('a marker written on another build of the same base (another base digest) is not booted', async () => {
    const storage = faultyStorage(memoryStorage())
    const { stateDir } = await machineThatRanV2(storage)
    storage.faults.failRate = 1
    const logger = logLines()
    const rebuilt = await writeRelease(await tempDir(), 'base', { extraFiles: { 'build.txt': 'build 2' } })
    const machine = await startMachine(storage, { baseDir: rebuilt, stateDir, startupTimeout: 200, logger })
    expect(machine.engine.version).toBe('base')
    expect(logger.lines).toContainEqual(expect.stringMatching(/another build of base image-1/))
  })

  it('a release directory that no longer matches its manifest is not booted', async () => {
    const storage = faultyStorage(memoryStorage())
    const { baseDir, stateDir, v2 } = await machineThatRanV2(storage)
    // A file the engine does not evaluate (so it would not notice): only the runtime's check does.
    await writeFile(join(stateDir, 'releases', v2.upgradeId, 'template.html'), '<p>tampered</p>\n')
    storage.faults.failRate = 1
    const logger = logLines()
    const machine = await startMachine(storage, { baseDir, stateDir, startupTimeout: 200, logger })
    expect(machine.engine.version).toBe('base')
    expect(logger.lines).toContainEqual(
      expect.stringMatching(/could not boot the last good release v2; running the base code/),
    )
  })

  it('after a rollback to base, a restart runs base code, and so does the next one without storage', async () => {
    const storage = faultyStorage(memoryStorage())
    const { baseDir, stateDir } = await machineThatRanV2(storage)
    const current = await readPointer(storage)
    await writeDocument(storage, keys.current, withoutHotUpgrade(current!.pointer, { setBy: 'test' }), {
      ifMatch: current!.etag,
    })
    const afterRollback = await startMachine(storage, { baseDir, stateDir })
    expect(afterRollback.engine.version).toBe('base')
    expect(await readMarker(stateDir)).toBeNull()
    await stopMachine(afterRollback)

    storage.faults.failRate = 1
    const offline = await startMachine(storage, { baseDir, stateDir, startupTimeout: 200 })
    expect(offline.engine.version).toBe('base')
  })

  it('pruning keeps the release the marker on disk names, besides the running one and the one before', async () => {
    const stateDir = await tempDir('state')
    const options = resolveOptions({ app: APP, storage: memoryStorage(), engine: stubEngine(), stateDir })
    const ctx = {
      options,
      baseRef: 'image-1',
      baseDigest: null,
      baseRelease: null,
      keys,
      startedAt: new Date(),
      refused: new Set<string>(),
    }
    const marker = (upgradeId: string): LocalMarker => ({
      schema: 1,
      app: APP,
      baseRef: 'image-1',
      upgradeId,
      version: upgradeId,
      sourceRef: 'sha256:abc',
      artifactSha256: 'a'.repeat(64),
      releaseDir: join(stateDir, 'releases', upgradeId),
      appliedAt: new Date(0).toISOString(),
    })
    for (const id of ['U1', 'U2', 'U3', 'U4']) await writeRelease(join(stateDir, 'releases', id), id)
    await pruneReleases(ctx, { running: marker('U4'), previous: marker('U3'), onDisk: marker('U1') })
    expect((await readdir(join(stateDir, 'releases'))).sort()).toEqual(['U1', 'U3', 'U4'])
  })
})
