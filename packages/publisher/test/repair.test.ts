import {
  type CurrentPointer,
  type HotUpgrade,
  isRelupError,
  parseCurrentPointer,
  readDocument,
  type Storage,
  writeDocument,
} from '@relup/core'
import { describe, expect, it } from 'vitest'
import { publish, publishHistory, readFleetStatus, repair, rollback } from '../src/index.js'
import { APP, announceMachine, bootPointer, freshStorage, hotDir, keys, pointerOf } from './helpers.js'
import { afterFirstPut } from './stores.js'

const GARBAGE = 'garbage{{{ not json'

async function publishVersions(storage: Storage, versions: string[]): Promise<HotUpgrade[]> {
  const published: HotUpgrade[] = []
  for (const version of versions)
    published.push(
      (await publish({ storage, app: APP, dir: await hotDir(version), version, wait: false })).upgrade,
    )
  return published
}

async function rawPointer(storage: Storage): Promise<string | null> {
  const got = await storage.get(keys.current)
  return got.status === 'ok' ? new TextDecoder().decode(got.body) : null
}

const runs = (hot: HotUpgrade) => ({ version: hot.version, upgradeId: hot.upgradeId, hotRef: hot.sourceRef })

/** A fleet of two machines on image-1 running v2, with v1, v2, v3 published and the pointer then corrupted. */
async function corruptedFleet() {
  const storage = freshStorage()
  await bootPointer(storage)
  const [v1, v2, v3] = (await publishVersions(storage, ['v1', 'v2', 'v3'])) as [
    HotUpgrade,
    HotUpgrade,
    HotUpgrade,
  ]
  await announceMachine(storage, 'm1', 'image-1', runs(v2))
  await announceMachine(storage, 'm2', 'image-1', runs(v3))
  const lineage = (await pointerOf(storage)).lineage
  await storage.put(keys.current, GARBAGE)
  return { storage, v1, v2, v3, lineage }
}

describe('repair', () => {
  it('rewrites a corrupt pointer from the history: the newest upgrade of the live base, as a new lineage', async () => {
    const { storage, v3, lineage } = await corruptedFleet()
    const outcome = await repair({ storage, app: APP })
    expect(outcome).toMatchObject({ status: 'repaired', found: 'corrupt', baseFrom: 'machines', skipped: [] })
    expect(outcome.problem).toMatch(/current\.json \(current pointer\) is malformed.*relup repair/)
    const pointer = await pointerOf(storage)
    expect(pointer).toEqual(outcome.pointer)
    // The same upgrade as published: a machine already running it keeps it.
    expect(pointer.hot).toEqual(v3)
    expect(pointer).toMatchObject({ baseRef: 'image-1', seq: 1, setBy: expect.stringMatching(/^repair:/) })
    expect(pointer.lineage).toMatch(/^[A-Za-z0-9_-]{8,64}$/)
    expect(pointer.lineage).not.toBe(lineage)
    expect(outcome.machines).toEqual([
      { machineId: 'm1', baseRef: 'image-1', runs: 'v2', action: 'apply' },
      { machineId: 'm2', baseRef: 'image-1', runs: 'v3', action: 'keep' },
    ])
  })

  it('passes over upgrades whose artifact is missing or corrupt, saying so', async () => {
    const { storage, v1, v2, v3 } = await corruptedFleet()
    await storage.put(v3.artifact.key, 'not the artifact')
    await storage.delete(v2.artifact.key)
    const outcome = await repair({ storage, app: APP })
    expect(outcome.skipped).toEqual([
      { version: 'v3', upgradeId: v3.upgradeId, reason: 'artifact corrupt' },
      { version: 'v2', upgradeId: v2.upgradeId, reason: 'artifact missing' },
    ])
    expect(outcome.warnings).toEqual([
      expect.stringMatching(/passed over v3 .*artifact corrupt/),
      expect.stringMatching(/passed over v2 .*artifact missing/),
    ])
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(v1.upgradeId)
  })

  it('a deleted pointer is created again (create-only) on the live machines’ base', async () => {
    const storage = freshStorage()
    await bootPointer(storage, 'image-0')
    await publish({
      storage,
      app: APP,
      dir: await hotDir('v1'),
      baseRef: 'image-1',
      version: 'v1',
      wait: false,
    })
    await announceMachine(storage, 'm1', 'image-1')
    await announceMachine(storage, 'old', 'image-0', { updatedAt: '2026-01-01T00:00:00.000Z' })
    await storage.delete(keys.current)
    const outcome = await repair({ storage, app: APP })
    expect(outcome).toMatchObject({ status: 'repaired', found: 'missing', problem: null })
    const pointer = await pointerOf(storage)
    // image-0 is remembered, so a machine still on it skips instead of resetting the pointer.
    expect(pointer).toMatchObject({ baseRef: 'image-1', previousBases: ['image-0'], hot: { version: 'v1' } })
  })

  it('on a valid pointer there is nothing to repair and nothing is written, unless forced', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const [v1] = await publishVersions(storage, ['v1'])
    const before = await storage.get(keys.current)
    const outcome = await repair({ storage, app: APP })
    expect(outcome).toMatchObject({ status: 'nothing-to-repair', found: 'ok', pointer: { hot: v1 } })
    expect(await storage.get(keys.current)).toEqual(before)
    const forced = await repair({ storage, app: APP, force: true, to: 'base', baseRef: 'image-1' })
    expect(forced).toMatchObject({ status: 'repaired', found: 'ok', baseFrom: 'option' })
    expect((await pointerOf(storage)).hot).toBeNull()
  })

  it('--to picks a version or the base code; --dry-run writes nothing', async () => {
    const { storage, v1 } = await corruptedFleet()
    const dry = await repair({ storage, app: APP, to: 'v1', dryRun: true })
    expect(dry).toMatchObject({ status: 'dry-run', pointer: { hot: v1 } })
    expect(await rawPointer(storage)).toBe(GARBAGE)
    expect((await repair({ storage, app: APP, to: 'v1' })).pointer?.hot).toEqual(v1)
    await storage.put(keys.current, GARBAGE)
    await repair({ storage, app: APP, to: 'base' })
    expect((await pointerOf(storage)).hot).toBeNull()
    await storage.put(keys.current, GARBAGE)
    const unknown = await repair({ storage, app: APP, to: 'v9' }).catch((e: unknown) => e)
    expect(isRelupError(unknown, 'ERR_RELUP_CONFIG')).toBe(true)
    expect((unknown as Error).message).toMatch(
      /no published version v9 for base image-1; known versions: v3, v2, v1/,
    )
  })

  it('live machines on several bases: asks for --base-ref, naming them', async () => {
    const { storage } = await corruptedFleet()
    await announceMachine(storage, 'new', 'image-2')
    const error = await repair({ storage, app: APP }).catch((e: unknown) => e)
    expect(isRelupError(error, 'ERR_RELUP_CONFIG')).toBe(true)
    expect((error as Error).message).toMatch(
      /live machines run several bases: image-1 \(2 machines\), image-2 \(1 machine\); pass --base-ref/,
    )
    const chosen = await repair({ storage, app: APP, baseRef: 'image-2' })
    expect(chosen.pointer).toMatchObject({ baseRef: 'image-2', previousBases: ['image-1'], hot: null })
  })

  it('writes with compare-and-swap: a pointer written meanwhile (a machine booting) is not overwritten', async () => {
    const { storage: inner } = await corruptedFleet()
    const machine: CurrentPointer = {
      schema: 1,
      app: APP,
      baseRef: 'image-9',
      previousBases: [],
      hot: null,
      seq: 1,
      setAt: new Date().toISOString(),
      setBy: 'machine:fresh',
      lineage: 'freshlineage0001',
    }
    // The machine writes its pointer just as repair takes the lock.
    const storage = afterFirstPut(inner, keys.lock, () => writeDocument(inner, keys.current, machine))
    const error = await repair({ storage, app: APP }).catch((e: unknown) => e)
    expect(isRelupError(error, 'ERR_RELUP_POINTER_CHANGED')).toBe(true)
    const read = await readDocument(inner, keys.current, parseCurrentPointer)
    expect(read.status === 'ok' && read.document).toEqual(machine)
  })

  it('status shows a corrupt pointer with the advice instead of failing; publish and rollback point to repair', async () => {
    const { storage } = await corruptedFleet()
    const fleet = await readFleetStatus({ storage, app: APP })
    expect(fleet.pointer).toBeNull()
    expect(fleet.pointerProblem).toMatch(/malformed.*`relup repair --app chat`/)
    expect(fleet.machines.map((m) => m.machineId)).toEqual(['m1', 'm2'])
    const dir = await hotDir('v4')
    for (const attempt of [
      () => publish({ storage, app: APP, dir, wait: false }),
      () => publish({ storage, app: APP, dir, baseRef: 'image-1', wait: false }),
      () => rollback({ storage, app: APP, wait: false }),
    ]) {
      const error = await attempt().catch((e: unknown) => e)
      expect(isRelupError(error, 'ERR_RELUP_DOCUMENT')).toBe(true)
      expect((error as Error).message).toMatch(/current\.json .* is malformed.*relup repair/)
    }
    // A publish that could not move the pointer left nothing in the history for repair to pick.
    expect((await publishHistory(storage, APP)).map((h) => h.version)).toEqual(['v1', 'v2', 'v3'])
    await repair({ storage, app: APP })
    const after = await publish({ storage, app: APP, dir, version: 'v4', wait: false })
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(after.upgrade.upgradeId)
  })
})
