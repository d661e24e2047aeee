import * as fsPromises from 'node:fs/promises'
import { StorageTransportError } from '@relup/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

// Every rename, and every directory opened to be flushed, goes through these spies: the tests
// decide how many fail, and with what.
const failures: string[] = []
const directoryFailures: string[] = []
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof fsPromises>()
  const { statSync } = await import('node:fs')
  return {
    ...actual,
    open: vi.fn(async (path: string, flags?: string | number, mode?: number) => {
      const code = flags === 'r' && statSync(path).isDirectory() ? directoryFailures.shift() : undefined
      if (code) throw Object.assign(new Error(`${code}: injected, open`), { code, syscall: 'open' })
      return actual.open(path, flags, mode)
    }),
    rename: vi.fn(async (from: string, to: string) => {
      const code = failures.shift()
      if (code) throw Object.assign(new Error(`${code}: injected, rename`), { code, syscall: 'rename' })
      return actual.rename(from, to)
    }),
  }
})

describe('transient failures are retried in place', () => {
  let dir: ReturnType<typeof tempDir>
  let storage: FsStorage

  beforeEach(() => {
    dir = tempDir('transient')
    storage = fsStorage({ dir: dir.path })
    failures.length = 0
    directoryFailures.length = 0
  })

  afterEach(async () => {
    await storage.close()
    dir.remove()
  })

  it('a rename that fails twice with EBUSY (an antivirus, a busy NFS server) still succeeds', async () => {
    failures.push('EBUSY', 'EBUSY')
    expect((await storage.put('doc.json', 'v1', { ifNoneMatch: '*' })).status).toBe('ok')
    expect(vi.mocked(fsPromises.rename)).toHaveBeenCalledTimes(3)
    expect(failures).toEqual([])
  })

  it('a failure that persists ends in a retryable StorageTransportError, with nothing written', async () => {
    failures.push('EMFILE', 'EMFILE', 'EMFILE', 'EMFILE', 'EMFILE')
    await expect(storage.put('doc.json', 'v1')).rejects.toMatchObject({ retryable: true, operation: 'put' })
    expect((await storage.get('doc.json')).status).toBe('not-found')
  })

  it('a failure that cannot pass by itself is not retried', async () => {
    failures.push('EACCES', 'EACCES')
    const failure = await storage.put('doc.json', 'v1').catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(StorageTransportError)
    expect(failure).toMatchObject({ retryable: false })
    expect(failures).toEqual(['EACCES'])
  })

  it('a failure after the rename is reported, never retried into a false precondition-failed', async () => {
    const base = await storage.put('pointer.json', 'v1')
    if (base.status !== 'ok') throw new Error(base.status)
    directoryFailures.push('EBUSY')
    // The new version is in place; only flushing its folder failed. A retry of the check would
    // find our own object and answer precondition-failed, hiding that the swap happened.
    await expect(storage.put('pointer.json', 'v2', { ifMatch: base.etag })).rejects.toMatchObject({
      retryable: true,
      operation: 'put',
    })
    const current = await storage.get('pointer.json')
    expect(current.status === 'ok' && new TextDecoder().decode(current.body)).toBe('v2')
  })
})
