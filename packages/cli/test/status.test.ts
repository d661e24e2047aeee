import { join } from 'node:path'
import { initialPointer, resetPointer, writeDocument } from '@relup/core'
import { openStorage } from '@relup/publisher'
import { describe, expect, it } from 'vitest'
import {
  APP,
  announceMachine,
  bootPointer,
  cli,
  freshMemoryUrl,
  hotDir,
  keys,
  pointerOf,
  tempDir,
} from './helpers.js'
import { spawnRelup } from './processes.js'

const at = () => new Date().toISOString()

describe('relup status exit codes (so it can gate CI)', () => {
  it('0 when machines run the pointer (degraded included), 1 when one FAILED', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const argv = [
      'publish',
      await hotDir('v2'),
      '--version',
      'v2',
      '--app',
      APP,
      '--storage',
      url,
      '--no-wait',
    ]
    expect((await cli(argv)).code).toBe(0)
    const hot = (await pointerOf(storage)).hot!
    const runsV2 = { version: hot.version, upgradeId: hot.upgradeId, hotRef: hot.sourceRef }
    const done = {
      upgradeId: hot.upgradeId,
      version: hot.version,
      status: 'completed' as const,
      at: at(),
      error: null,
    }
    await announceMachine(storage, 'ok', 'image-1', { ...runsV2, lastResult: done })
    await announceMachine(storage, 'leaky', 'image-1', { ...runsV2, lastResult: { ...done, degraded: true } })
    await announceMachine(storage, 'gone', 'image-1', { updatedAt: '2026-01-01T00:00:00.000Z' })
    const healthy = await cli(['status', '--app', APP, '--storage', url, '--json'])
    expect(healthy.code).toBe(0)
    expect(JSON.parse(healthy.stdout)).toMatchObject({
      ok: true,
      problems: [],
      warnings: [],
      replacedLock: null,
    })
    await announceMachine(storage, 'broken', 'image-1', {
      lastResult: { ...done, status: 'failed', error: 'boom' },
    })
    const failing = await cli(['status', '--app', APP, '--storage', url])
    expect(failing.code).toBe(1)
    expect(failing.stdout).toMatch(/broken\s+ams\s+base.*failed v2: boom.*<< FAILED/)
    expect(failing.stdout).toMatch(/needs attention: 1 machine\(s\) failed \(exit code 1\)/)
  })

  it('names live machines on another base than the pointer’s (a mistyped RELUP_BASE_REF took it)', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    const first = initialPointer(APP, 'image-1', { setBy: 'machine:m1' })
    await writeDocument(storage, keys.current, resetPointer(first, 'image-1-typo', { setBy: 'machine:typo' }))
    for (const id of ['m1', 'm2']) await announceMachine(storage, id, 'image-1')
    await announceMachine(storage, 'typo', 'image-1-typo')
    const status = await cli(['status', '--app', APP, '--storage', url])
    expect(status.stdout).toMatch(/set by machine:typo/)
    expect(status.stdout).toMatch(
      /2 live machine\(s\) run another base than the pointer's \(image-1-typo\): m1 \(image-1\), m2 \(image-1\); hot upgrades for image-1-typo reach at most half of the live machines\..*relup repair --app chat --base-ref <base> --force/,
    )
    // Once most machines run the pointer's base, the others are an older generation.
    for (const id of ['n2', 'n3']) await announceMachine(storage, id, 'image-1-typo')
    expect((await cli(['status', '--app', APP, '--storage', url])).stdout).toMatch(
      /2 live machine\(s\) run another base than the pointer's \(image-1-typo\): m1 \(image-1\), m2 \(image-1\); an older generation, not reached by hot upgrades/,
    )
  })
})

describe('an unreadable lock', () => {
  it('publish says to run relup unlock (exit 1), status shows it (exit 1), unlock fixes it', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    await storage.put(keys.lock, '{"schema":1,"owner":')
    const publish = await cli(['publish', await hotDir('v2'), '--app', APP, '--storage', url, '--no-wait'])
    expect(publish.code).toBe(1)
    expect(publish.stderr).toMatch(/^error: the lock is unreadable: run `relup unlock --app chat`/)
    expect(publish.stderr).not.toMatch(/relup repair/)
    const status = await cli(['status', '--app', APP, '--storage', url])
    expect(status.code).toBe(1)
    expect(status.stdout).toMatch(/lock {5}UNREADABLE: the lock is unreadable: run `relup unlock --app chat`/)
    expect((await cli(['unlock', '--app', APP, '--storage', url])).stdout).toMatch(
      /removed an unreadable lock/,
    )
    expect(
      (await cli(['publish', await hotDir('v2'), '--app', APP, '--storage', url, '--no-wait'])).code,
    ).toBe(0)
  })
})

describe('a closed stdout (relup status | head -5)', () => {
  it('is not a crash: the command ends quietly with its own exit code (real process)', async () => {
    const dir = join(await tempDir('epipe'), 'store')
    const storage = await openStorage(`file://${dir}`)
    await bootPointer(storage)
    for (let i = 0; i < 200; i++) await announceMachine(storage, `machine-${String(i).padStart(3, '0')}`)
    await storage.close?.()
    const relup = spawnRelup(['status', '--app', APP, '--storage', `file://${dir}`])
    // The reader goes away before relup writes: every write meets EPIPE.
    relup.child.stdout!.destroy()
    const { code, signal } = await relup.exited
    expect(relup.stderr()).not.toMatch(/EPIPE|unexpected error|Unhandled/)
    expect([code, signal]).toEqual([0, null])
  })
})
