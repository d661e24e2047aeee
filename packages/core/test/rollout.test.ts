import { describe, expect, it } from 'vitest'
import {
  ConfigError,
  cohortOf,
  decide,
  formatRolloutPlan,
  parseCurrentPointer,
  parseRolloutPlan,
  promoteCandidate,
  type Rollout,
  waveThreshold,
  withCandidate,
  withoutCandidate,
  withRollout,
} from '../src/index.js'
import { hotUpgrade, marker, pointer } from './fixtures.js'

const stable = hotUpgrade({ version: 'v1', upgradeId: '01KSTABLE0000000000000000000' })
const next = hotUpgrade({ version: 'v2', upgradeId: '01KCANDIDATE00000000000000000' })
const machines = Array.from({ length: 200 }, (_, i) => `m${i}`)
const ctx = { setBy: 'publisher:test' }

function rollout(threshold: number, wave = 0): Rollout {
  return {
    plan: parseRolloutPlan('1,25%,100%'),
    wave,
    threshold,
    state: 'rolling',
    healthWindowMs: 30_000,
    maxFailures: 0,
    startedAt: '2026-12-01T12:00:00.000Z',
    waveStartedAt: '2026-12-01T12:00:00.000Z',
  }
}

describe('cohorts', () => {
  it('are stable per machine and upgrade, spread over [0, 1), and differ between upgrades', () => {
    const values = machines.map((id) => cohortOf(id, next.upgradeId))
    expect(machines.map((id) => cohortOf(id, next.upgradeId))).toEqual(values)
    for (const v of values) expect(v >= 0 && v < 1).toBe(true)
    const belowHalf = values.filter((v) => v < 0.5).length
    expect(belowHalf).toBeGreaterThan(70)
    expect(belowHalf).toBeLessThan(130)
    const other = machines.map((id) => cohortOf(id, stable.upgradeId))
    expect(other).not.toEqual(values)
  })

  it('a wave of N machines admits exactly N of the live ones, and widening only adds machines', () => {
    const live = machines.slice(0, 8)
    const canary = waveThreshold({ machines: 1 }, live, next.upgradeId)
    const inCanary = live.filter((id) => cohortOf(id, next.upgradeId) < canary)
    expect(inCanary).toHaveLength(1)
    const quarter = waveThreshold({ percent: 25 }, live, next.upgradeId, canary)
    const inQuarter = live.filter((id) => cohortOf(id, next.upgradeId) < quarter)
    expect(inQuarter).toEqual(expect.arrayContaining(inCanary))
    expect(waveThreshold({ percent: 100 }, live, next.upgradeId, quarter)).toBe(1)
    // A percentage lower than the wave before never shrinks it.
    expect(waveThreshold({ percent: 1 }, live, next.upgradeId, quarter)).toBe(quarter)
  })
})

describe('rollout plans', () => {
  it('parse "1,25%,100%" and print back', () => {
    const plan = parseRolloutPlan('1, 25%, 100%')
    expect(plan).toEqual([{ machines: 1 }, { percent: 25 }, { percent: 100 }])
    expect(formatRolloutPlan(plan)).toBe('1,25%,100%')
  })

  it.each([
    ['25%', /last wave must be 100%/],
    ['1,50%,25%,100%', /does not admit more/],
    ['25%,2,100%', /cannot follow a percentage/],
    ['x,100%', /neither a number of machines nor a percentage/],
    ['0,100%', /neither/],
    ['1,150%', /between 0 and 100/],
  ])('refuse %j, saying why', (text, problem) => {
    expect(() => parseRolloutPlan(text)).toThrow(ConfigError)
    expect(() => parseRolloutPlan(text)).toThrow(problem)
  })
})

describe('decide during a rollout', () => {
  const live = machines.slice(0, 8)
  const threshold = waveThreshold({ machines: 1 }, live, next.upgradeId)
  const canaryId = live.find((id) => cohortOf(id, next.upgradeId) < threshold)!
  const otherId = live.find((id) => id !== canaryId)!
  const during = withCandidate(pointer({ hot: stable, seq: 5 }), next, rollout(threshold), ctx)

  it('the canary applies the candidate; everyone else keeps the stable release', () => {
    expect(decide({ pointer: during, baseRef: 'image-1', marker: null, machineId: canaryId })).toEqual({
      action: 'apply',
      upgrade: next,
      candidate: true,
    })
    expect(decide({ pointer: during, baseRef: 'image-1', marker: null, machineId: otherId })).toEqual({
      action: 'apply',
      upgrade: stable,
    })
    expect(
      decide({
        pointer: during,
        baseRef: 'image-1',
        marker: marker({ upgradeId: next.upgradeId }),
        machineId: canaryId,
      }),
    ).toEqual({ action: 'noop' })
  })

  it('a machine that refused the candidate itself, or a halted one, goes back to stable', () => {
    const onCandidate = marker({ upgradeId: next.upgradeId })
    expect(
      decide({
        pointer: during,
        baseRef: 'image-1',
        marker: onCandidate,
        machineId: canaryId,
        refused: [next.upgradeId],
      }),
    ).toEqual({ action: 'apply', upgrade: stable })
    const halted = withoutCandidate(during, { bad: true }, ctx)
    expect(halted).toMatchObject({ candidate: null, badUpgrades: [next.upgradeId], seq: during.seq + 1 })
    expect(decide({ pointer: halted, baseRef: 'image-1', marker: onCandidate, machineId: canaryId })).toEqual(
      {
        action: 'apply',
        upgrade: stable,
      },
    )
  })

  it('widening adds machines; promotion makes the candidate the stable release of everyone', () => {
    const widened = withRollout(during, { ...rollout(1, 2) }, ctx)
    expect(decide({ pointer: widened, baseRef: 'image-1', marker: null, machineId: otherId })).toMatchObject({
      upgrade: next,
      candidate: true,
    })
    const promoted = promoteCandidate(widened, ctx)
    expect(promoted).toMatchObject({ hot: next, candidate: null, seq: widened.seq + 1 })
  })

  it('a machine older than rollouts (no machine id) reads the stable release and ignores the candidate', () => {
    const parsed = parseCurrentPointer(JSON.stringify(during))
    expect(parsed.candidate?.upgrade.upgradeId).toBe(next.upgradeId)
    expect(decide({ pointer: parsed, baseRef: 'image-1', marker: null })).toEqual({
      action: 'apply',
      upgrade: stable,
    })
    // …and what an old reader keeps of it is a valid pointer on the stable release.
    const { candidate: _, ...oldView } = parsed
    expect(parseCurrentPointer(JSON.stringify(oldView)).hot?.upgradeId).toBe(stable.upgradeId)
  })

  it('a candidate of another base, or a malformed rollout, makes the pointer malformed', () => {
    const foreign = {
      ...during,
      candidate: { upgrade: { ...next, baseRef: 'image-9' }, rollout: rollout(0.5) },
    }
    expect(() => parseCurrentPointer(JSON.stringify(foreign))).toThrow(/candidate\.upgrade\.baseRef/)
    const badWave = {
      ...during,
      candidate: { upgrade: next, rollout: { ...rollout(0.5), plan: [{ percent: 0 }] } },
    }
    expect(() => parseCurrentPointer(JSON.stringify(badWave))).toThrow(/machines: <positive integer>/)
  })
})
