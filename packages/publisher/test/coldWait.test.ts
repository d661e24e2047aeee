import { type ColdRelease, coldBaseRef } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { coldFleet, coldReach, waitForColdRelease } from '../src/index.js'
import { APP, announceMachine, freshStorage, writeResult } from './helpers.js'

const release: ColdRelease = {
  releaseId: '01M8SQ3JGF12F2NQE9T60APKJA',
  version: '2.0.0',
  artifact: { key: 'relup/chat/artifacts/cold-2.0.0-0123456789ab.tgz', sha256: 'a'.repeat(64), size: 1 },
  command: ['node', 'server.js'],
  publishedAt: new Date().toISOString(),
  reason: '--cold',
}

const result = (
  machineId: string,
  status: 'pending' | 'completed' | 'failed',
  releaseId = release.releaseId,
) => ({
  schema: 1 as const,
  upgradeId: releaseId,
  machineId,
  region: null,
  baseRef: coldBaseRef(releaseId),
  version: release.version,
  status,
  attempt: 1,
  startedAt: new Date().toISOString(),
  finishedAt: status === 'pending' ? null : new Date().toISOString(),
  stats: null,
  error: status === 'failed' ? { code: 'ERR_RELUP_CHILD_NOT_READY', message: 'never ready' } : null,
})

async function fleetOf(names: string[]) {
  const storage = freshStorage()
  // Machines on any base: a cold release changes the base, so every live one is waited for.
  for (const [i, name] of names.entries())
    await announceMachine(storage, name, `image-${i}`, { pollIntervalMs: 50 })
  await announceMachine(storage, 'stopped', 'image-1', { stoppedAt: new Date().toISOString() })
  await announceMachine(storage, 'gone', 'image-1', {
    updatedAt: new Date(Date.now() - 3_600_000).toISOString(),
  })
  return { storage, expected: await coldFleet(storage, APP) }
}

const wait = (
  storage: ReturnType<typeof freshStorage>,
  expected: Awaited<ReturnType<typeof coldFleet>>,
  extra = {},
) =>
  waitForColdRelease({
    storage,
    app: APP,
    release,
    expected,
    timeoutMs: 3000,
    ackTimeoutMs: 300,
    pollMs: 50,
    ...extra,
  })

describe('waiting for a cold release', () => {
  it('waits for every live machine, whatever its base; one that never acknowledges is absent', async () => {
    const { storage, expected } = await fleetOf(['a', 'b'])
    expect(expected.map((m) => m.machineId)).toEqual(['a', 'b'])
    await writeResult(storage, result('a', 'completed'))
    const outcome = await wait(storage, expected)
    expect(outcome.outcomes.map((o) => [o.machineId, o.status])).toEqual([
      ['a', 'completed'],
      ['b', 'absent'],
    ])
    expect(outcome.ok).toBe(true)
  })

  it('a failed machine, or no machine completing, is not ok', async () => {
    const { storage, expected } = await fleetOf(['a', 'b'])
    await writeResult(storage, result('a', 'completed'))
    await writeResult(storage, result('b', 'failed'))
    const failed = await wait(storage, expected)
    expect(failed.outcomes.find((o) => o.machineId === 'b')?.status).toBe('failed')
    expect(failed.ok).toBe(false)
    const nobody = await fleetOf(['c'])
    expect((await wait(nobody.storage, nobody.expected)).ok).toBe(false)
  })

  it('only this release’s results count (a rollback is a release of its own), and --expect counts the missing', async () => {
    const { storage, expected } = await fleetOf(['a'])
    await writeResult(storage, result('a', 'completed', '01M8SQ3JGF12F2NQE9T60APKJB'))
    await writeResult(storage, result('a', 'pending'))
    const pending = await wait(storage, expected, { timeoutMs: 500 })
    expect(pending.outcomes.map((o) => o.status)).toEqual(['timed-out'])
    expect(pending.ok).toBe(false)
    const counted = await wait(storage, expected, { expect: 2, timeoutMs: 300 })
    expect(counted).toMatchObject({ missing: 2, ok: false })
  })

  it('waits only for machines under relup run --app: the others are left out (not absent), saying why', async () => {
    const storage = freshStorage()
    await announceMachine(storage, 'run-app', 'image-1', {
      pollIntervalMs: 50,
      supervised: { followsColdReleases: true, coldReleaseId: null },
    })
    await announceMachine(storage, 'plain', 'image-1', { pollIntervalMs: 50, supervised: null })
    await announceMachine(storage, 'run-only', 'image-1', {
      pollIntervalMs: 50,
      supervised: { followsColdReleases: false, coldReleaseId: null },
    })
    // A runtime that does not say (from before relup recorded it) may be under relup run --app: waited for.
    await announceMachine(storage, 'older', 'image-1', { pollIntervalMs: 50 })
    const expected = await coldFleet(storage, APP)
    expect(coldReach(APP, expected).reached.map((m) => m.machineId)).toEqual(['older', 'run-app'])
    await writeResult(storage, result('run-app', 'completed'))
    const outcome = await wait(storage, expected)
    expect(outcome.outcomes.map((o) => [o.machineId, o.status])).toEqual([
      ['older', 'absent'],
      ['run-app', 'completed'],
    ])
    expect(outcome.leftOut.map(({ machine, why }) => [machine.machineId, why])).toEqual([
      ['plain', 'not under relup run: a cold release does not reach it'],
      ['run-only', `under relup run without --app ${APP}: it does not follow cold releases`],
    ])
    expect(outcome.ok).toBe(true)

    // Nothing completed and every machine left out: the release reached no one, not ok.
    const none = freshStorage()
    await announceMachine(none, 'plain', 'image-1', { supervised: null })
    const nobody = await wait(none, await coldFleet(none, APP))
    expect(nobody.outcomes).toEqual([])
    expect(nobody.leftOut).toHaveLength(1)
    expect(nobody.ok).toBe(false)
  })
})
