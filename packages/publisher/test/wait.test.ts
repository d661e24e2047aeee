import { describe, expect, it } from 'vitest'
import { ackGraceMs, expectedMachines, publish, waitForResults } from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  COMPLETED_STATS,
  DEGRADED_STATS,
  freshStorage,
  hotDir,
  keys,
  simulateMachines,
  writeResult,
} from './helpers.js'

const result = (machineId: string, fields: object) => ({
  schema: 1 as const,
  upgradeId: 'U1',
  machineId,
  region: 'fra',
  baseRef: 'image-1',
  version: 'v2',
  attempt: 1,
  startedAt: new Date().toISOString(),
  finishedAt: new Date().toISOString(),
  stats: null,
  error: null,
  status: 'completed' as const,
  ...fields,
})

describe('waiting for the fleet', () => {
  it('expects the machines on the base that reported recently and did not stop', async () => {
    const storage = freshStorage()
    await announceMachine(storage, 'b')
    await announceMachine(storage, 'a')
    await announceMachine(storage, 'other-base', 'image-0')
    await announceMachine(storage, 'gone', 'image-1', {
      updatedAt: new Date(Date.now() - 3_600_000).toISOString(),
    })
    await announceMachine(storage, 'stopped', 'image-1', { stoppedAt: new Date().toISOString() })
    expect((await expectedMachines(storage, keys, 'image-1')).map((m) => m.machineId)).toEqual(['a', 'b'])
  })

  it('returns each expected machine’s terminal result, degraded completions flagged, others timed out', async () => {
    const storage = freshStorage()
    for (const id of ['clean', 'leaky', 'broken', 'slow']) await announceMachine(storage, id)
    const expected = await expectedMachines(storage, keys, 'image-1')
    await writeResult(storage, result('clean', { stats: COMPLETED_STATS }))
    await writeResult(storage, result('leaky', { stats: DEGRADED_STATS }))
    await writeResult(
      storage,
      result('broken', { status: 'failed', error: { code: 'ERR_X', message: 'boom' } }),
    )
    await writeResult(storage, result('slow', { status: 'pending', finishedAt: null }))
    const announced: string[] = []
    const outcomes = await waitForResults(storage, keys, expected, {
      upgradeId: 'U1',
      baseRef: 'image-1',
      timeoutMs: 300,
      onResult: (r) => announced.push(r.machineId),
    })
    expect(outcomes.map((o) => [o.machineId, o.status, o.degraded, o.region])).toEqual([
      ['broken', 'failed', false, 'fra'],
      ['clean', 'completed', false, 'fra'],
      ['leaky', 'completed', true, 'fra'],
      ['slow', 'timed-out', false, 'fra'],
    ])
    expect(announced.sort()).toEqual(['broken', 'clean', 'leaky'])
  })

  it('a machine that never wrote a result is timed out with no result, its region from its record', async () => {
    const storage = freshStorage()
    await announceMachine(storage, 'silent')
    const expected = await expectedMachines(storage, keys, 'image-1')
    const outcomes = await waitForResults(storage, keys, expected, {
      upgradeId: 'U1',
      baseRef: 'image-1',
      timeoutMs: 200,
    })
    expect(outcomes).toEqual([
      {
        machineId: 'silent',
        status: 'timed-out',
        result: null,
        region: 'ams',
        degraded: false,
        lastSeen: expected[0]!.updatedAt,
      },
    ])
  })

  it('a machine that does not acknowledge within its grace is counted absent: the publish ends then, not at the timeout', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'alive', 'image-1', { pollIntervalMs: 100 })
    // Died without saying so: its record is still recent, it will never answer.
    const lastSeen = new Date(Date.now() - 20_000).toISOString()
    await announceMachine(storage, 'dead', 'image-1', { pollIntervalMs: 100, updatedAt: lastSeen })
    simulateMachines(storage, { alive: 'complete', dead: 'silent' })
    const started = Date.now()
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      timeoutMs: 60_000,
      ackTimeoutMs: 1000,
    })
    expect(Date.now() - started).toBeLessThan(5000)
    expect(outcome.ok).toBe(true)
    expect(outcome.outcomes.map((o) => [o.machineId, o.status, o.lastSeen])).toEqual([
      ['alive', 'completed', expect.any(String)],
      ['dead', 'absent', lastSeen],
    ])
    expect(outcome.warnings).toEqual([
      expect.stringMatching(
        /^dead did not acknowledge the upgrade within 1 s \(last seen 2\d s ago, .*\): counted absent, not waited for/,
      ),
    ])
  })

  it('when every machine waited for is absent, nothing was upgraded: not ok', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'dead', 'image-1', { pollIntervalMs: 100 })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), ackTimeoutMs: 300 })
    expect(outcome).toMatchObject({ ok: false, outcomes: [{ machineId: 'dead', status: 'absent' }] })
  })

  it('a machine that acknowledged (pending) is waited for until the timeout; --expect never counts one absent', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'stuck', 'image-1', { pollIntervalMs: 100 })
    simulateMachines(storage, { stuck: 'stuck' })
    const waited = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      ackTimeoutMs: 100,
      timeoutMs: 1000,
    })
    expect(waited.outcomes).toMatchObject([
      { machineId: 'stuck', status: 'timed-out', result: { status: 'pending' } },
    ])
    const counted = await publish({
      storage,
      app: APP,
      dir: await hotDir('v3'),
      expect: 2,
      ackTimeoutMs: 100,
      timeoutMs: 800,
    })
    expect(counted).toMatchObject({ ok: false, missing: 1 })
    expect(counted.outcomes.map((o) => o.status)).toEqual(['timed-out'])
  })

  it('the grace is 15 s or three poll intervals, whichever is longer (30 s when the machine does not say)', async () => {
    const storage = freshStorage()
    await announceMachine(storage, 'fast', 'image-1', { pollIntervalMs: 1000 })
    await announceMachine(storage, 'slow', 'image-1', { pollIntervalMs: 20_000 })
    await announceMachine(storage, 'old', 'image-1')
    const [fast, old, slow] = await expectedMachines(storage, keys, 'image-1')
    expect([ackGraceMs(fast!), ackGraceMs(slow!), ackGraceMs(old!), ackGraceMs(fast!, 2000)]).toEqual([
      15_000, 60_000, 30_000, 3000,
    ])
  })

  it('a machine that hears a notifier the publisher told gets only the ack timeout, not three safety-net polls', async () => {
    const storage = freshStorage()
    await announceMachine(storage, 'notified', 'image-1', { pollIntervalMs: 60_000, notified: true })
    await announceMachine(storage, 'polling', 'image-1', { pollIntervalMs: 60_000 })
    const [notified, polling] = await expectedMachines(storage, keys, 'image-1')
    expect(notified?.machineId).toBe('notified')
    // Told: it acknowledges within seconds. Not told (the announce failed): its safety-net poll.
    expect([ackGraceMs(notified!, 15_000, true), ackGraceMs(notified!, 15_000, false)]).toEqual([
      15_000, 180_000,
    ])
    expect(ackGraceMs(polling!, 15_000, true)).toBe(180_000)
  })
})
