import { cohortOf } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { AUTO_MIN_MACHINES, DEFAULT_HEALTH_WINDOW_MS, publish } from '../src/index.js'
import { APP, announceMachine, bootPointer, freshStorage, hotDir, pointerOf } from './helpers.js'

async function fleetOf(count: number) {
  const storage = freshStorage()
  await bootPointer(storage)
  const ids = Array.from({ length: count }, (_, i) => `m${i + 1}`)
  for (const id of ids) await announceMachine(storage, id)
  return { storage, ids }
}

describe("rollout: 'auto'", () => {
  it(`rolls out all at once below ${AUTO_MIN_MACHINES} live machines: the pointer names the upgrade as stable`, async () => {
    const { storage } = await fleetOf(AUTO_MIN_MACHINES - 1)
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      version: 'v2',
      rollout: 'auto',
      wait: false,
    })
    const pointer = await pointerOf(storage)
    expect(pointer.hot?.upgradeId).toBe(outcome.upgrade.upgradeId)
    expect(pointer.candidate ?? null).toBeNull()
  })

  it(`from ${AUTO_MIN_MACHINES} machines: the default plan, a canary of exactly one of them, the stable release kept`, async () => {
    const { storage, ids } = await fleetOf(6)
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      version: 'v2',
      rollout: 'auto',
      wait: false,
    })
    const pointer = await pointerOf(storage)
    expect(pointer.hot).toBeNull() // the stable release: the base code here
    const candidate = pointer.candidate!
    expect(candidate.upgrade.upgradeId).toBe(outcome.upgrade.upgradeId)
    expect(candidate.rollout).toMatchObject({
      plan: [{ machines: 1 }, { percent: 25 }, { percent: 100 }],
      wave: 0,
      state: 'rolling',
      healthWindowMs: DEFAULT_HEALTH_WINDOW_MS,
      maxFailures: 0,
    })
    const inWave = ids.filter((id) => cohortOf(id, candidate.upgrade.upgradeId) < candidate.rollout.threshold)
    expect(inWave).toHaveLength(1)
  })

  it('an explicit plan is used whatever the size, and a bad one is refused before anything is written', async () => {
    const { storage } = await fleetOf(2)
    await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      version: 'v2',
      rollout: { plan: '1,100%', healthWindowMs: 2000 },
      wait: false,
    })
    expect((await pointerOf(storage)).candidate?.rollout).toMatchObject({
      plan: [{ machines: 1 }, { percent: 100 }],
      healthWindowMs: 2000,
    })
    const before = storage.size
    const error = await publish({
      storage,
      app: APP,
      dir: await hotDir('v3'),
      version: 'v3',
      rollout: { plan: '50%,10%' },
      wait: false,
    }).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/the last wave must be 100%/)
    expect(storage.size).toBe(before) // nothing: no artifact, no history, the pointer did not move
  })
})
