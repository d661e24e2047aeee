import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { StorageTransportError } from '@relup/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

describe('close', () => {
  let dir: ReturnType<typeof tempDir>
  let storage: FsStorage

  beforeEach(() => {
    dir = tempDir('close')
    storage = fsStorage({ dir: dir.path })
  })

  afterEach(() => dir.remove())

  it('waits for writes in flight, which finish and release their lock and temp file', async () => {
    const writes = Array.from({ length: 5 }, (_, i) =>
      storage.put(`doc-${i}.json`, `${i}`, { ifNoneMatch: '*' }),
    )
    await storage.close()
    expect((await Promise.all(writes)).map((result) => result.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    expect(readdirSync(join(dir.path, '.relup', 'locks'))).toEqual([])
    expect(readdirSync(join(dir.path, '.relup', 'tmp'))).toEqual([])
  })

  it('ends the read streams it handed out, releasing their files', async () => {
    await storage.put('artifact.bin', new Uint8Array(4 * 1024 * 1024))
    const result = await storage.getStream('artifact.bin')
    if (result.status !== 'ok') throw new Error(result.status)
    await storage.close()
    expect(result.body.destroyed).toBe(true)
  })

  it('refuses calls afterwards with a non-retryable error', async () => {
    await storage.close()
    await expect(storage.get('x')).rejects.toSatisfy(
      (error: unknown) =>
        error instanceof StorageTransportError && !error.retryable && /is closed/.test(error.message),
    )
    await expect(storage.put('x', 'y')).rejects.toBeInstanceOf(StorageTransportError)
  })
})
