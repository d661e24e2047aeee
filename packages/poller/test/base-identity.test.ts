// Item 6: what identifies the base a machine booted from. A base rebuilt under the same baseRef
// (a constant RELUP_BASE_REF) is told apart by its content digest: it runs its fresh code, says
// so once, and fails the fleet's upgrades so publishers do not wait for it. No base at all is
// development mode, said once.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Logger, manifestDigest, type Storage } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import {
  publishDirect,
  readPointer,
  startMachine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'
import { machineResult } from './processes.js'

function logLines(): Logger & { warnings: string[]; errors: string[] } {
  const warnings: string[] = []
  const errors: string[] = []
  const text = (obj: object | string, msg?: string) => (typeof obj === 'string' ? obj : (msg ?? ''))
  return {
    warnings,
    errors,
    debug() {},
    info() {},
    warn: (obj, msg) => warnings.push(text(obj, msg)),
    error: (obj, msg) => errors.push(text(obj, msg)),
  }
}

const backends: [string, () => Promise<Storage>][] = [
  ['memory', async () => memoryStorage()],
  ['fs', async () => fsStorage({ dir: await tempDir('storage') })],
]

describe.each(backends)('a base rebuilt under the same baseRef, on %s storage', (_name, createStorage) => {
  it('runs its fresh base code, says what to set once, and fails the fleet’s upgrades instead of waiting', async () => {
    const storage = await createStorage()
    const hotDir = await writeRelease(await tempDir('dist-hot'), 'build-1')
    const first = await startMachine(storage, { baseDir: hotDir })
    const fleetBase = manifestDigest(first.engine.manifest)
    const v2 = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(first.relup, 'v2')
    await first.relup.stop()
    await first.engine.close()

    // `dist/hot` rebuilt in place; RELUP_BASE_REF stays what it was.
    await writeRelease(hotDir, 'build-2')
    await writeFile(join(hotDir, 'built-at.txt'), 'a later build\n')
    const logger = logLines()
    const again = await startMachine(storage, { baseDir: hotDir, stateDir: first.stateDir, logger })
    expect(again.engine.version).toBe('base')
    expect(await again.counter()).toMatchObject({ version: 'build-2' })
    expect(again.relup.currentVsn()).toMatchObject({ version: null })

    // The fleet publishes again: this machine answers at once, with a failure that says why.
    const v3 = await publishDirect(storage, await writeRelease(await tempDir(), 'v3'), { version: 'v3' })
    const refused = await waitFor(() => machineResult(storage, v3.upgradeId, 'm1'), 'its answer to v3')
    expect(refused).toMatchObject({
      status: 'failed',
      error: { code: 'ERR_RELUP_BASE_REBUILT', phase: 'base' },
    })
    expect(refused.error?.message).toMatch(/RELUP_BASE_REF/)
    expect(await machineResult(storage, v2.upgradeId, 'm1')).toMatchObject({ status: 'failed' })
    await again.relup.checkNow()
    expect(again.engine.version).toBe('base')
    expect(logger.errors).toHaveLength(1)
    expect(logger.errors[0]).toMatch(
      /base was rebuilt under the same baseRef "image-1" .* Set a new RELUP_BASE_REF .* for every build, e\.g\. the image digest or the git sha/,
    )
    // It leaves the pointer to the fleet.
    expect((await readPointer(storage))?.pointer.baseDigest).toBe(fleetBase)
  })
})

describe('base identity in the pointer', () => {
  it('machines write the digest of their base into the pointers they create and reset', async () => {
    const storage = memoryStorage()
    const first = await startMachine(storage, { baseDir: await writeRelease(await tempDir(), 'build-1') })
    expect((await readPointer(storage))?.pointer).toMatchObject({
      baseRef: 'image-1',
      baseDigest: manifestDigest(first.engine.manifest),
      lineage: expect.any(String),
    })
    const next = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'build-2'),
      baseRef: 'image-2',
      machineId: 'm2',
    })
    expect((await readPointer(storage))?.pointer).toMatchObject({
      baseRef: 'image-2',
      baseDigest: manifestDigest(next.engine.manifest),
    })
  })
})

describe('development mode', () => {
  it('is said once, as a warning, with how to give each build a base', async () => {
    const previous = { RELUP_BASE_REF: process.env.RELUP_BASE_REF, FLY_IMAGE_REF: process.env.FLY_IMAGE_REF }
    delete process.env.RELUP_BASE_REF
    delete process.env.FLY_IMAGE_REF
    try {
      const logger = logLines()
      const storage = memoryStorage()
      const { relup } = await startMachine(storage, {
        baseDir: await writeRelease(await tempDir(), 'base'),
        baseRef: null,
        logger,
      })
      await relup.checkNow()
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(logger.errors).toEqual([])
      expect(logger.warnings).toHaveLength(1)
      expect(logger.warnings[0]).toMatch(
        /^development mode: no baseRef, so hot upgrades are neither replayed nor polled/,
      )
      expect(logger.warnings[0]).toMatch(
        /the baseRef option, RELUP_BASE_REF \(e\.g\. the image digest or git sha\) or FLY_IMAGE_REF/,
      )
      await relup.stop()
      expect(logger.warnings).toHaveLength(1)
      expect(storage.size).toBe(0)
    } finally {
      for (const [name, value] of Object.entries(previous))
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
    }
  })
})
