import { initialPointer, resetPointer, writeDocument } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { publish, readFleetStatus } from '../src/index.js'
import { APP, announceMachine, freshStorage, hotDir, keys, simulateMachines } from './helpers.js'

/** Four machines on image-1; then one started with a mistyped base took the pointer (a cold deploy). */
async function mistypedBase() {
  const storage = freshStorage()
  const first = initialPointer(APP, 'image-1', { setBy: 'machine:m1' })
  await writeDocument(storage, keys.current, resetPointer(first, 'image-1-typo', { setBy: 'machine:typo' }))
  for (const id of ['m1', 'm2', 'm3', 'm4']) await announceMachine(storage, id, 'image-1')
  await announceMachine(storage, 'typo', 'image-1-typo')
  simulateMachines(storage, { typo: 'complete' })
  return storage
}

describe('live machines on other bases', () => {
  it('a publish names them, is not ok, and never calls the one machine it reached "all machines"', async () => {
    const storage = await mistypedBase()
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 5000 })
    expect(outcome.outcomes.map((o) => [o.machineId, o.status])).toEqual([['typo', 'completed']])
    expect(outcome.ok).toBe(false)
    expect(outcome.otherBaseMachines.map((m) => `${m.machineId}@${m.baseRef}`)).toEqual([
      'm1@image-1',
      'm2@image-1',
      'm3@image-1',
      'm4@image-1',
    ])
    expect(outcome.warnings).toEqual([
      expect.stringMatching(
        /^4 live machine\(s\) of chat run another base than image-1-typo and are left out: m1, m2, m3, m4 \(base image-1\) \(the pointer's base was set by machine:typo at .*\); this upgrade reaches at most half of the live machines\. .*mistyped RELUP_BASE_REF.*relup repair --app chat --base-ref <base> --force.*--allow-other-bases$/,
      ),
    ])
  })

  it('--allow-other-bases makes it ok, still listing them', async () => {
    const storage = await mistypedBase()
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      timeoutMs: 5000,
      allowOtherBases: true,
    })
    expect(outcome.ok).toBe(true)
    expect(outcome.otherBaseMachines).toHaveLength(4)
  })

  it('an older generation (fewer than the machines on the new base) is listed and warned about, and does not fail it', async () => {
    const storage = freshStorage()
    const first = initialPointer(APP, 'image-1', { setBy: 'machine:old-1' })
    await writeDocument(storage, keys.current, resetPointer(first, 'image-2', { setBy: 'machine:new-1' }))
    for (const id of ['new-1', 'new-2', 'new-3']) await announceMachine(storage, id, 'image-2')
    for (const id of ['old-1', 'old-2']) await announceMachine(storage, id, 'image-1')
    simulateMachines(storage, { 'new-1': 'complete', 'new-2': 'complete', 'new-3': 'complete' })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 5000 })
    expect(outcome.ok).toBe(true)
    expect(outcome.otherBaseMachines.map((m) => m.machineId)).toEqual(['old-1', 'old-2'])
    expect(outcome.warnings).toEqual([
      '2 live machine(s) of chat run another base than image-2 and are left out: old-1, old-2 (base image-1) (an older generation: a cold deploy replaces them)',
    ])
  })

  it('the fleet status names them', async () => {
    const storage = await mistypedBase()
    const fleet = await readFleetStatus({ storage, app: APP })
    expect(fleet.otherBaseMachines.map((m) => m.machineId)).toEqual(['m1', 'm2', 'm3', 'm4'])
  })
})
