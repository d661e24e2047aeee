import { randomBytes } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseLock, readDocument, type Storage } from '@relup/core'
import { publish } from '@relup/publisher'
import { fsStorage } from '@relup/storage-fs'
import { describe, expect, it } from 'vitest'
import {
  APP,
  announceMachine,
  bootPointer,
  hotDir,
  keys,
  onCleanup,
  simulateMachines,
  tempDir,
} from './helpers.js'
import { type RelupProcess, spawnRelup, until } from './processes.js'

/** A file:// store shared with the child, a TMPDIR of its own, and a machine that acknowledges and never finishes. */
async function stuckFleet() {
  const dir = await tempDir('signals')
  const tmp = await tempDir('signals-tmp')
  const storage = fsStorage({ dir: join(dir, 'store') })
  onCleanup(() => storage.close())
  await bootPointer(storage)
  await announceMachine(storage, 'stuck')
  simulateMachines(storage, { stuck: 'stuck' })
  const env = { RELUP_STORAGE: `file://${join(dir, 'store')}`, RELUP_APP: APP, TMPDIR: tmp }
  return { storage, tmp, env }
}

const tempArtifacts = async (tmp: string) => (await readdir(tmp)).filter((n) => n.includes('relup-publish-'))

const hotOf = async (storage: Storage) => {
  const pointer = await storage.get(keys.current)
  return pointer.status === 'ok' ? JSON.parse(new TextDecoder().decode(pointer.body)).hot : null
}

/** Resolves once the publisher moved the pointer (away from `before`) and the machine acknowledged: it is waiting. */
async function waiting(storage: Storage, before: string | null = null): Promise<void> {
  await until(async () => {
    const hot = await hotOf(storage)
    if (!hot || hot.upgradeId === before) return false
    return (await storage.get(keys.result(hot.upgradeId, 'stuck'))).status === 'ok'
  }, 'the publisher to wait for the machine')
}

const lockOf = async (storage: Storage) => {
  const read = await readDocument(storage, keys.lock, parseLock)
  return read.status === 'ok' ? read.document : null
}

/** A hot directory that takes a moment to pack: 48 MB that do not compress. */
async function bigHotDir() {
  const dir = await hotDir('big')
  for (let i = 0; i < 3; i++) await writeFile(join(dir, `data-${i}.bin`), randomBytes(16 * 1024 * 1024))
  return dir
}

function publishing(dir: string, env: NodeJS.ProcessEnv, ...extra: string[]): RelupProcess {
  return spawnRelup(['publish', dir, '--version', 'v2', '--timeout', '60s', ...extra], { env })
}

describe('a publish cancelled by a signal (real processes, file:// storage)', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    '%s while it waits for machines: exit %i, the lock released, nothing left in TMPDIR',
    async (signal, code) => {
      const { storage, tmp, env } = await stuckFleet()
      const relup = publishing(await hotDir('v2'), env)
      await waiting(storage)
      expect(await lockOf(storage)).toMatchObject({ pid: relup.child.pid })
      relup.child.kill(signal)
      expect(await relup.exited).toEqual({ code, signal: null })
      expect(relup.stderr()).toMatch(
        new RegExp(
          `error: cancelled while waiting for the machines by ${signal}: the pointer stays at v2 \\(upgrade [0-9A-Z]{26}\\)`,
        ),
      )
      expect(await lockOf(storage)).toBeNull()
      expect(await tempArtifacts(tmp)).toEqual([])
    },
    40_000,
  )

  it('SIGTERM while packing: exit 143, its temporary artifact removed, nothing published', async () => {
    const { storage, tmp, env } = await stuckFleet()
    const relup = publishing(await bigHotDir(), env)
    await until(async () => (await tempArtifacts(tmp)).length > 0, 'the temporary artifact')
    relup.child.kill('SIGTERM')
    expect(await relup.exited).toEqual({ code: 143, signal: null })
    expect(relup.stderr()).toMatch(/cancelled while packing by SIGTERM: nothing was uploaded/)
    expect(await tempArtifacts(tmp)).toEqual([])
    expect(await lockOf(storage)).toBeNull()
    expect(
      JSON.parse(new TextDecoder().decode(((await storage.get(keys.current)) as { body: Uint8Array }).body))
        .hot,
    ).toBeNull()
  }, 40_000)

  it('after SIGKILL (nothing can clean up), the next publish removes the leftovers and takes the dead process’s lock', async () => {
    const { storage, tmp, env } = await stuckFleet()
    // Killed while packing: its temporary artifact stays behind.
    const packing = publishing(await bigHotDir(), env)
    await until(async () => (await tempArtifacts(tmp)).length > 0, 'the temporary artifact')
    packing.child.kill('SIGKILL')
    await packing.exited
    expect((await tempArtifacts(tmp)).length).toBeGreaterThan(0)
    // Killed while waiting: its lock stays behind.
    const waitingOne = publishing(await hotDir('v2'), env)
    await waiting(storage)
    waitingOne.child.kill('SIGKILL')
    await waitingOne.exited
    expect(await lockOf(storage)).toMatchObject({ pid: waitingOne.child.pid })

    const next = spawnRelup(['publish', await hotDir('v3'), '--version', 'v3', '--no-wait', '--json'], {
      env,
    })
    expect((await next.exited).code, next.stdout() + next.stderr()).toBe(0)
    const report = JSON.parse(next.stdout())
    expect(report.replacedLock).toMatchObject({ pid: waitingOne.child.pid, reason: 'dead-process' })
    expect(report.warnings).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `took over the lock held by .*: its process ${waitingOne.child.pid} on this host is no longer running`,
        ),
      ),
    )
    expect(await tempArtifacts(tmp)).toEqual([])
    expect(await lockOf(storage)).toBeNull()
  }, 60_000)

  it('SIGTERM on a rollback while it waits: exit 143 and the lock released', async () => {
    const { storage, env } = await stuckFleet()
    for (const version of ['v1', 'v2'])
      await publish({ storage, app: APP, dir: await hotDir(version), version, wait: false })
    const before = (await hotOf(storage)).upgradeId
    const relup = spawnRelup(['rollback', '--timeout', '60s'], { env })
    await waiting(storage, before)
    relup.child.kill('SIGTERM')
    expect(await relup.exited).toEqual({ code: 143, signal: null })
    expect(relup.stderr()).toMatch(
      /cancelled while waiting for the machines by SIGTERM: the pointer stays at v1/,
    )
    expect(await lockOf(storage)).toBeNull()
  }, 40_000)
})
