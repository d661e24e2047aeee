import { initialPointer, type LockDocument, withHotUpgrade, writeDocument } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { machineState, readFleetStatus } from '../src/index.js'
import { APP, announceMachine, COMPLETED_STATS, freshStorage, hotUpgrade, keys } from './helpers.js'

describe('the fleet status', () => {
  it('without a pointer says so, and lists no machine', async () => {
    const storage = freshStorage()
    expect(await readFleetStatus({ storage, app: APP })).toEqual({
      app: APP,
      storage: storage.name,
      pointer: null,
      pointerProblem: null,
      expectedFingerprint: null,
      lock: null,
      lockProblem: null,
      machines: [],
      otherBaseMachines: [],
    })
  })

  it('gives the pointer, the lock and each machine’s state relative to the pointer', async () => {
    const storage = freshStorage()
    const v1 = hotUpgrade({ version: 'v1' }, new Date('2026-01-01T00:00:00Z'))
    const v2 = hotUpgrade({ version: 'v2' }, new Date('2026-01-02T00:00:00Z'))
    const pointer = withHotUpgrade(initialPointer(APP, 'image-1', { setBy: 'machine:a' }), v2, {
      setBy: 'publisher:test',
    })
    await writeDocument(storage, keys.current, pointer)
    const lock: LockDocument = {
      schema: 1,
      owner: 'ci@runner',
      token: 'tttttttttttttttttttt',
      purpose: 'publish v3',
      acquiredAt: '2026-01-03T00:00:00.000Z',
      expiresAt: '2099-01-01T00:00:00.000Z',
    }
    await writeDocument(storage, keys.lock, lock)
    const at = new Date().toISOString()
    const runs = (hot: typeof v2) => ({
      version: hot.version,
      upgradeId: hot.upgradeId,
      hotRef: hot.sourceRef,
    })
    await announceMachine(storage, 'current', 'image-1', {
      ...runs(v2),
      lastResult: { upgradeId: v2.upgradeId, version: 'v2', status: 'completed', at, error: null },
    })
    await announceMachine(storage, 'degraded', 'image-1', {
      ...runs(v2),
      lastResult: {
        upgradeId: v2.upgradeId,
        version: 'v2',
        status: 'completed',
        at,
        error: null,
        degraded: true,
      },
    })
    await announceMachine(storage, 'failed', 'image-1', {
      ...runs(v1),
      lastResult: { upgradeId: v2.upgradeId, version: 'v2', status: 'failed', at, error: 'boom' },
    })
    await announceMachine(storage, 'behind', 'image-1', runs(v1))
    await announceMachine(storage, 'old-base', 'image-0')
    await announceMachine(storage, 'stopped', 'image-1', { stoppedAt: at })
    await announceMachine(storage, 'gone', 'image-1', { updatedAt: '2026-01-01T00:00:00.000Z' })

    const fleet = await readFleetStatus({ storage, app: APP })
    expect(fleet.pointer).toEqual(pointer)
    expect(fleet.lock).toEqual(lock)
    expect(fleet.expectedFingerprint).toMatch(/^[0-9a-f]{12}$/)
    expect(Object.fromEntries(fleet.machines.map((m) => [m.machineId, m.state]))).toEqual({
      behind: 'behind',
      current: 'current',
      degraded: 'degraded',
      failed: 'failed',
      gone: 'not seen recently',
      'old-base': 'older base',
      stopped: 'stopped',
    })
    expect(fleet.machines.find((m) => m.machineId === 'degraded')?.lastResult?.degraded).toBe(true)
  })

  it('a machine whose record has not yet followed its completed result is shown running the pointer', async () => {
    const storage = freshStorage()
    const v1 = hotUpgrade({ version: 'v1' }, new Date('2026-01-01T00:00:00Z'))
    const v2 = hotUpgrade({ version: 'v2' }, new Date('2026-01-02T00:00:00Z'))
    await writeDocument(
      storage,
      keys.current,
      withHotUpgrade(initialPointer(APP, 'image-1', { setBy: 'machine:a' }), v2, { setBy: 'publisher:test' }),
    )
    const recordAt = new Date(Date.now() - 1000)
    const onV1 = {
      version: 'v1',
      upgradeId: v1.upgradeId,
      hotRef: v1.sourceRef,
      updatedAt: recordAt.toISOString(),
    }
    const result = (
      machineId: string,
      status: 'completed' | 'pending',
      finishedAt: Date | null,
      degraded = false,
    ) =>
      writeDocument(storage, keys.result(v2.upgradeId, machineId), {
        schema: 1,
        upgradeId: v2.upgradeId,
        machineId,
        region: 'ams',
        baseRef: 'image-1',
        version: 'v2',
        status,
        attempt: 1,
        startedAt: recordAt.toISOString(),
        finishedAt: finishedAt?.toISOString() ?? null,
        stats: status === 'completed' ? { ...COMPLETED_STATS, degraded } : null,
        error: null,
      })
    for (const id of ['caught-up', 'degraded', 'pending', 'stale-result', 'no-result'])
      await announceMachine(storage, id, 'image-1', onV1)
    await result('caught-up', 'completed', new Date())
    await result('degraded', 'completed', new Date(), true)
    await result('pending', 'pending', null)
    // A result older than the record: the record already told what came after it.
    await result('stale-result', 'completed', new Date(recordAt.getTime() - 500))

    const fleet = await readFleetStatus({ storage, app: APP })
    expect(Object.fromEntries(fleet.machines.map((m) => [m.machineId, m.state]))).toEqual({
      'caught-up': 'current',
      degraded: 'degraded',
      pending: 'behind',
      'stale-result': 'behind',
      'no-result': 'behind',
    })
    const caughtUp = fleet.machines.find((m) => m.machineId === 'caught-up')
    expect(caughtUp).toMatchObject({ version: 'v2', upgradeId: v2.upgradeId, hotRef: v2.sourceRef })
    expect(caughtUp?.fingerprint).toBe(fleet.expectedFingerprint)
    expect(caughtUp?.lastResult).toMatchObject({
      upgradeId: v2.upgradeId,
      status: 'completed',
      degraded: false,
    })
  })

  it('a degraded machine stays flagged when no pointer exists to compare with', () => {
    const now = new Date()
    const record = {
      schema: 1 as const,
      app: APP,
      machineId: 'm',
      region: null,
      baseRef: 'image-1',
      hotRef: 'x',
      version: 'v2',
      upgradeId: 'U2',
      fingerprint: '0123456789ab',
      startedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      lastResult: {
        upgradeId: 'U2',
        version: 'v2',
        status: 'completed' as const,
        at: now.toISOString(),
        error: null,
        degraded: true,
      },
    }
    expect(machineState(record, null, now)).toBe('degraded')
    expect(
      machineState({ ...record, lastResult: { ...record.lastResult, degraded: false } }, null, now),
    ).toBe('current')
  })
})
