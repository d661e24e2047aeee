import { describe, expect, it } from 'vitest'
import { expectedMachines, waitForResults } from '../src/index.js'
import {
  announceMachine,
  COMPLETED_STATS,
  DEGRADED_STATS,
  freshStorage,
  keys,
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
      { machineId: 'silent', status: 'timed-out', result: null, region: 'ams', degraded: false },
    ])
  })
})
