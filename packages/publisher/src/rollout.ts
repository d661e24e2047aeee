/**
 * The publisher as rollout controller. A staged rollout puts the upgrade in the pointer as its
 * **candidate** beside the stable release and widens it wave by wave: each wave's machines (a
 * stable hash of machine id and upgrade id below the wave's threshold) apply it, keep it on
 * probation for the health window, and report `completed` (healthy) or `failed`. Every widening
 * is a compare-and-swap. Failures beyond `maxFailures` halt it: the candidate leaves the pointer
 * (and joins `badUpgrades`, which no machine applies again), the wave's machines revert to the
 * stable release in process, and the rollout ends not ok. The last wave passed, the candidate is
 * promoted to the stable release. The rollout lives in storage: a publisher that dies leaves it at
 * its wave (nothing widens unattended), and `resumeRollout`/`abortRollout` take it from there.
 */
import {
  ConfigError,
  type CurrentPointer,
  type MachineRecord,
  parseRolloutPlan,
  promoteCandidate,
  type RelupKeys,
  type Rollout,
  type RolloutWave,
  type Storage,
  waveThreshold,
  withoutCandidate,
  withRollout,
} from '@relup/core'
import { announceMove } from './announce.js'
import { sleep } from './cancellation.js'
import { readMachineRecords, splitByBase } from './machines.js'
import { movePointer, readPointer } from './pointer.js'
import type { DeployOptions } from './types.js'
import type { MachineOutcome } from './wait.js'
import { driveWaves, type RolloutReport } from './waves.js'

/** The plan a fleet gets by default (`rollout: 'auto'`) once it has `AUTO_MIN_MACHINES` live machines. */
export const DEFAULT_ROLLOUT_PLAN = '1,25%,100%'
/** Below this many live machines, `'auto'` rolls out all at once: a canary of one in three is most of the fleet. */
export const AUTO_MIN_MACHINES = 4
/** How long each machine keeps a candidate on probation by default. */
export const DEFAULT_HEALTH_WINDOW_MS = 15_000

export interface RolloutOptions {
  /** The waves: `"1,25%,100%"` or parsed. Default `DEFAULT_ROLLOUT_PLAN`. */
  plan?: string | RolloutWave[] | undefined
  /** Each machine's probation, ms. Default 15,000. */
  healthWindowMs?: number | undefined
  /** Failed or unhealthy machines tolerated before the rollout halts. Default 0. */
  maxFailures?: number | undefined
}

export type { RolloutReport } from './waves.js'

export function resolvedPlan(plan: RolloutOptions['plan']): RolloutWave[] {
  if (plan === undefined) return parseRolloutPlan(DEFAULT_ROLLOUT_PLAN)
  return typeof plan === 'string' ? parseRolloutPlan(plan) : plan
}

/** Refuse a plan, window or tolerance that cannot be used, with a `ConfigError` saying why. */
export function checkRolloutOptions(rollout: RolloutOptions | 'auto' | undefined): void {
  if (rollout === undefined || rollout === 'auto') return
  resolvedPlan(rollout.plan)
  const { healthWindowMs: window, maxFailures } = rollout
  if (window !== undefined && !(Number.isFinite(window) && window >= 0))
    throw new ConfigError('healthWindowMs', `healthWindowMs must be a number of ms >= 0, got ${window}`)
  if (maxFailures !== undefined && !(Number.isInteger(maxFailures) && maxFailures >= 0))
    throw new ConfigError('maxFailures', `maxFailures must be a whole number >= 0, got ${maxFailures}`)
}

/** The rollout a candidate (a hot `upgradeId` or a cold `releaseId`) starts with, given the live machines that take part. */
export function firstWave(
  candidateId: string,
  options: RolloutOptions,
  live: readonly MachineRecord[],
): Rollout {
  const plan = resolvedPlan(options.plan)
  const now = new Date().toISOString()
  return {
    plan,
    wave: 0,
    threshold: waveThreshold(
      plan[0]!,
      live.map((m) => m.machineId),
      candidateId,
    ),
    state: 'rolling',
    healthWindowMs: options.healthWindowMs ?? DEFAULT_HEALTH_WINDOW_MS,
    maxFailures: options.maxFailures ?? 0,
    startedAt: now,
    waveStartedAt: now,
  }
}

/**
 * Drive the rollout the pointer holds from the wave it is at: wait for each wave's machines, widen,
 * promote at the end, or halt (see waves.ts, which cold rollouts share).
 */
export async function driveRollout(
  options: DeployOptions,
  keys: RelupKeys,
  setBy: string,
): Promise<{ outcomes: MachineOutcome[]; report: RolloutReport }> {
  const { storage } = options
  const start = await readPointer(storage, keys)
  const candidate = start?.pointer.candidate
  if (!start || !candidate) throw new Error('driveRollout: the pointer has no rollout')
  const hot = candidate.upgrade
  const move = async (next: (current: CurrentPointer) => CurrentPointer) => {
    const written = await movePointer(storage, keys, (current) => {
      if (current?.candidate?.upgrade.upgradeId !== hot.upgradeId) throw lost(current)
      return next(current)
    })
    await announce(options, keys, written)
    return written
  }
  let halted: CurrentPointer | null = null
  return driveWaves(
    storage,
    keys,
    {
      id: hot.upgradeId,
      version: hot.version,
      baseRef: hot.baseRef,
      noun: 'upgrade',
      rollout: candidate.rollout,
      liveMachines: async () => splitByBase(await readMachineRecords(storage, keys), hot.baseRef).onBase,
      widen: async (rollout) => {
        await move((current) => withRollout(current, rollout, { setBy }))
      },
      promote: async () => {
        await move((current) => promoteCandidate(current, { setBy }))
        return `every wave passed: ${hot.version} is the stable release of the fleet`
      },
      halt: async () => {
        halted = await move((current) => withoutCandidate(current, { bad: true }, { setBy }))
        return `the pointer is back on ${halted.hot ? `${halted.hot.version} (upgrade ${halted.hot.upgradeId})` : 'the base code'}`
      },
      waitForStable: (wave) =>
        halted ? waitForStable(storage, keys, wave, halted, options) : Promise.resolve(null),
    },
    options,
  )
}

/** Ring the notifier (if any) after a rollout move: machines of the new wave read the pointer at once. */
export function announce(
  options: Pick<DeployOptions, 'notifier' | 'reporter'>,
  keys: RelupKeys,
  pointer: CurrentPointer,
): Promise<boolean> {
  return announceMove(options.notifier, keys.current, pointer, 'rollout', (message) =>
    options.reporter?.warn?.(message),
  )
}

/** Resolves with how long it took for every machine of `wave` to run the pointer's stable release (null: timed out). */
export async function waitForStable(
  storage: Storage,
  keys: RelupKeys,
  wave: readonly MachineRecord[],
  pointer: CurrentPointer,
  options: Pick<DeployOptions, 'timeoutMs' | 'signal'>,
): Promise<number | null> {
  const started = performance.now()
  const stable = pointer.hot?.upgradeId ?? null
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  const ids = new Set(wave.map((m) => m.machineId))
  while (Date.now() < deadline) {
    const records = (await readMachineRecords(storage, keys)).filter((r) => ids.has(r.machineId))
    if (records.every((r) => r.upgradeId === stable || r.stoppedAt)) return performance.now() - started
    await sleep(100, options.signal)
  }
  return null
}

function lost(current: CurrentPointer | null): Error {
  return new Error(
    `the rollout was taken out of the pointer by someone else (it now names ${current?.candidate ? `candidate ${current.candidate.upgrade.version}` : current?.hot ? current.hot.version : 'no hot code'}, set by ${current?.setBy}); not touching it`,
  )
}
