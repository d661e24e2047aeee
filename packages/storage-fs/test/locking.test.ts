import { existsSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { StorageTransportError } from '@relup/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FsStorage, type FsStorageOptions, fsStorage } from '../src/index.js'
import { type LockHolder, lockFileName, self } from '../src/keyLock.js'
import { deadPid } from './fixtures/processes.js'
import { tempDir } from './fixtures/tempDir.js'

const KEY = 'relup/chat/current.json'
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe('lock files: held across processes, recovered after a crash', () => {
  let dir: ReturnType<typeof tempDir>
  const opened: FsStorage[] = []
  const open = (options: Partial<FsStorageOptions> = {}) => {
    const storage = fsStorage({ dir: dir.path, ...options })
    opened.push(storage)
    return storage
  }
  const lockPath = () => join(dir.path, '.relup', 'locks', lockFileName(KEY))

  /** A lock file as another process would leave it; `ageMs` backdates it. */
  function plantLock(holder: Partial<LockHolder> | string, ageMs = 0): void {
    const content =
      typeof holder === 'string' ? holder : JSON.stringify({ ...self, token: 'planted', key: KEY, ...holder })
    writeFileSync(lockPath(), content)
    const time = new Date(Date.now() - ageMs)
    utimesSync(lockPath(), time, time)
  }

  beforeEach(() => {
    dir = tempDir('locking')
  })

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((storage) => storage.close()))
    dir.remove()
  })

  it('a lock whose process is gone is broken at once, however young', async () => {
    const storage = open({ staleLockMs: 60_000, lockTimeoutMs: 3_000 })
    plantLock({ pid: deadPid() })
    // Judged by age it would still block for a minute: the put would time out after 3 s.
    expect((await storage.put(KEY, 'v1', { ifNoneMatch: '*' })).status).toBe('ok')
    expect(existsSync(lockPath())).toBe(false)
  })

  it('a lock older than staleLockMs is broken even if its pid is alive (a reused pid, a hung holder)', async () => {
    const storage = open({ staleLockMs: 1_000, lockTimeoutMs: 3_000 })
    plantLock({ pid: process.ppid }, 5_000)
    expect((await storage.put(KEY, 'v1')).status).toBe('ok')
  })

  it('a young lock of a live process is waited for, then the write fails with a retryable error', async () => {
    const storage = open({ staleLockMs: 60_000, lockTimeoutMs: 300 })
    await storage.put(KEY, 'v1')
    plantLock({ pid: process.ppid })
    const failure = await storage.put(KEY, 'v2').catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(StorageTransportError)
    expect(failure).toMatchObject({ retryable: true, operation: 'put', key: KEY })
    expect((failure as Error).message).toContain(`held by pid ${process.ppid}`)
    rmSync(lockPath())
    const current = await storage.get(KEY)
    expect(current.status === 'ok' && decode(current.body)).toBe('v1')
    expect(readdirSync(join(dir.path, '.relup', 'tmp'))).toEqual([])
  })

  it('a writer waiting on a live lock proceeds as soon as it is released', async () => {
    const storage = open({ staleLockMs: 60_000, lockTimeoutMs: 5_000 })
    plantLock({ pid: process.ppid })
    const put = storage.put(KEY, 'v1', { ifNoneMatch: '*' })
    await sleep(200)
    expect((await storage.get(KEY)).status).toBe('not-found')
    rmSync(lockPath())
    expect((await put).status).toBe('ok')
  })

  it('a young lock from another host is never judged by pid (it cannot be checked from here)', async () => {
    const storage = open({ staleLockMs: 60_000, lockTimeoutMs: 300 })
    plantLock({ pid: deadPid(), host: 'another-machine' })
    await expect(storage.put(KEY, 'v1')).rejects.toBeInstanceOf(StorageTransportError)
  })

  it('an unreadable lock file is waited for while young and broken once older than staleLockMs', async () => {
    const storage = open({ staleLockMs: 1_000, lockTimeoutMs: 300 })
    plantLock('')
    await expect(storage.put(KEY, 'v1')).rejects.toBeInstanceOf(StorageTransportError)
    plantLock('', 5_000)
    expect((await storage.put(KEY, 'v1')).status).toBe('ok')
  })

  it('two instances on one directory (as two processes would) exclude each other', async () => {
    const [a, b] = [open(), open()]
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).put(KEY, `writer-${i}`, { ifNoneMatch: '*' })),
    )
    expect(results.filter((result) => result.status === 'ok')).toHaveLength(1)
    expect(readdirSync(join(dir.path, '.relup', 'locks'))).toEqual([])
  })
})
