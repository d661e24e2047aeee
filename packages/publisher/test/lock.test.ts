import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { type LockDocument, parseLock, readDocument, writeDocument } from '@relup/core'
import { describe, expect, it } from 'vitest'
import {
  acquireLock,
  breakLock,
  LockHeldError,
  LockUnreadableError,
  publish,
  releaseLock,
} from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  freshStorage,
  hotDir,
  keys,
  pointerOf,
  recordingReporter,
  simulateMachines,
} from './helpers.js'

const lockOptions = { app: APP, purpose: 'publish v2', ttlMs: 60_000, force: false }

function someoneElsesLock(fields: Partial<LockDocument> = {}): LockDocument {
  const now = new Date()
  return {
    schema: 1,
    owner: 'alice@laptop',
    token: 'aaaaaaaaaaaaaaaaaaaa',
    purpose: 'publish v7',
    acquiredAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 600_000).toISOString(),
    ...fields,
  }
}

describe('the deploy lock', () => {
  it('is taken create-only with the owner, purpose and expiry, and released by its owner', async () => {
    const storage = freshStorage()
    const held = await acquireLock(storage, keys, { ...lockOptions, owner: 'ci@runner' })
    expect(held.replaced).toBeNull()
    const read = await readDocument(storage, keys.lock, parseLock)
    expect(read.status === 'ok' && read.document).toMatchObject({ owner: 'ci@runner', purpose: 'publish v2' })
    expect(await releaseLock(storage, keys, held)).toEqual({ status: 'released' })
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })

  it('a held lock says who holds it, since when, and how to override; force takes it over', async () => {
    const storage = freshStorage()
    const alice = someoneElsesLock()
    await writeDocument(storage, keys.lock, alice)
    const error = await acquireLock(storage, keys, lockOptions).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockHeldError)
    expect((error as LockHeldError).lock).toEqual(alice)
    expect((error as Error).message).toMatch(
      /held by alice@laptop since .* \(publish v7\).*relup unlock --app chat.*--force/,
    )
    const forced = await acquireLock(storage, keys, { ...lockOptions, force: true })
    const { token: _, schema: __, ...visible } = alice
    expect(forced.replaced).toEqual({ ...visible, reason: 'forced' })
  })

  it('an expired lock is taken over without force', async () => {
    const storage = freshStorage()
    const crashed = someoneElsesLock({
      owner: 'crashed@ci',
      acquiredAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T00:10:00.000Z',
    })
    await writeDocument(storage, keys.lock, crashed)
    expect((await acquireLock(storage, keys, lockOptions)).replaced).toMatchObject({
      owner: 'crashed@ci',
      expiresAt: crashed.expiresAt,
      reason: 'expired',
    })
  })

  it('is not released by a publisher whose lock was taken over meanwhile', async () => {
    const storage = freshStorage()
    const first = await acquireLock(storage, keys, lockOptions)
    const second = await acquireLock(storage, keys, { ...lockOptions, force: true })
    expect(await releaseLock(storage, keys, first)).toEqual({ status: 'taken-over', by: second.document })
    const read = await readDocument(storage, keys.lock, parseLock)
    expect(read.status === 'ok' && read.document.token).toBe(second.document.token)
  })

  it('of two takers at the same moment exactly one wins', async () => {
    const storage = freshStorage()
    const attempts = await Promise.allSettled([
      acquireLock(storage, keys, lockOptions),
      acquireLock(storage, keys, lockOptions),
    ])
    expect(attempts.map((a) => a.status).sort()).toEqual(['fulfilled', 'rejected'])
    const lost = attempts.find((a) => a.status === 'rejected') as PromiseRejectedResult
    expect(lost.reason).toBeInstanceOf(LockHeldError)
  })

  it('breakLock removes whoever’s lock is there and says whose it was', async () => {
    const storage = freshStorage()
    const bob = someoneElsesLock({ owner: 'bob@ci', expiresAt: '2099-01-01T00:00:00.000Z' })
    await writeDocument(storage, keys.lock, bob)
    expect(await breakLock(storage, keys)).toEqual({ status: 'removed', lock: bob })
    expect(await breakLock(storage, keys)).toEqual({ status: 'free' })
    await storage.put(keys.lock, 'not json')
    expect(await breakLock(storage, keys)).toEqual({ status: 'removed-unreadable' })
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })
})

/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!

describe('locks left by dead processes, unreadable locks', () => {
  it('records the process and host that hold it', async () => {
    const storage = freshStorage()
    const held = await acquireLock(storage, keys, lockOptions)
    expect(held.document).toMatchObject({ pid: process.pid, host: hostname() })
  })

  it('a lock whose process on this host is dead is taken over (reason dead-process); a live one is not', async () => {
    const storage = freshStorage()
    const dead = someoneElsesLock({ host: hostname(), pid: deadPid() })
    await writeDocument(storage, keys.lock, dead)
    expect((await acquireLock(storage, keys, lockOptions)).replaced).toMatchObject({
      owner: 'alice@laptop',
      pid: dead.pid,
      reason: 'dead-process',
    })
    const other = freshStorage()
    await writeDocument(other, keys.lock, someoneElsesLock({ host: hostname(), pid: process.ppid }))
    await expect(acquireLock(other, keys, lockOptions)).rejects.toThrow(LockHeldError)
    // Another host's pid says nothing about this host's processes.
    const elsewhere = freshStorage()
    await writeDocument(elsewhere, keys.lock, someoneElsesLock({ host: 'another-host', pid: dead.pid }))
    await expect(acquireLock(elsewhere, keys, lockOptions)).rejects.toThrow(LockHeldError)
  })

  it('an unreadable lock says to run relup unlock', async () => {
    const storage = freshStorage()
    await storage.put(keys.lock, '{"schema":1,"owner":')
    const error = await acquireLock(storage, keys, lockOptions).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockUnreadableError)
    expect((error as Error).message).toMatch(
      /^the lock is unreadable: run `relup unlock --app chat` \(if no publish is running\) and try again\. relup\/chat\/lock\.json \(lock\) is malformed/,
    )
  })
})

describe('publishing under the lock', () => {
  it('a publish refuses to run while another publisher holds the lock, and force takes over', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await writeDocument(storage, keys.lock, someoneElsesLock())
    await expect(publish({ storage, app: APP, dir: await hotDir('v2'), wait: false })).rejects.toThrow(
      LockHeldError,
    )
    expect((await pointerOf(storage)).hot).toBeNull()
    const { reporter, warnings } = recordingReporter()
    const forced = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      wait: false,
      force: true,
      reporter,
    })
    expect(forced.replacedLock).toMatchObject({ owner: 'alice@laptop', reason: 'forced' })
    expect(warnings).toEqual([expect.stringMatching(/^took over the lock held by alice@laptop.*: --force$/)])
    expect(forced.warnings).toEqual(warnings)
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })

  it('two publishes started at the same moment: exactly one proceeds, and the lock is released after', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    simulateMachines(storage, { m1: 'complete' })
    const [dirA, dirB] = [await hotDir('va'), await hotDir('vb')]
    const settled = await Promise.allSettled([
      publish({ storage, app: APP, dir: dirA, version: 'va', timeoutMs: 3000 }),
      publish({ storage, app: APP, dir: dirB, version: 'vb', timeoutMs: 3000 }),
    ])
    expect(settled.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected'])
    const won = settled.find((s) => s.status === 'fulfilled') as PromiseFulfilledResult<{ ok: boolean }>
    expect(won.value.ok).toBe(true)
    const lost = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult
    expect(lost.reason).toBeInstanceOf(LockHeldError)
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })
})
