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
  cohortOf,
  formatRolloutPlan,
  type HotUpgrade,
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
import { type MachineOutcome, waitForResults } from './wait.js'

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

/** What became of a staged rollout. */
export interface RolloutReport {
  plan: string
  /** `promoted`: every wave passed, the candidate is the stable release. `halted`: failures beyond `maxFailures`, the fleet is back on stable. `stopped`: cancelled, left at its wave. */
  state: 'promoted' | 'halted' | 'stopped'
  waves: { wave: number; threshold: number; machines: string[] }[]
  /** The machines that failed or were unhealthy (or timed out), with why. */
  failures: { machineId: string; status: string; reason: string }[]
  /** A halted rollout: how long the wave's machines took to be back on stable, ms (null: not all were within the timeout). */
  revertMs: number | null
}

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

/** The rollout the pointer starts with for `hot`, given the live machines on its base. */
export function firstWave(hot: HotUpgrade, options: RolloutOptions, live: readonly MachineRecord[]): Rollout {
  const plan = resolvedPlan(options.plan)
  const now = new Date().toISOString()
  return {
    plan,
    wave: 0,
    threshold: waveThreshold(
      plan[0]!,
      live.map((m) => m.machineId),
      hot.upgradeId,
    ),
    state: 'rolling',
    healthWindowMs: options.healthWindowMs ?? DEFAULT_HEALTH_WINDOW_MS,
    maxFailures: options.maxFailures ?? 0,
    startedAt: now,
    waveStartedAt: now,
  }
}

const inWave = (machineId: string, upgradeId: string, threshold: number) =>
  cohortOf(machineId, upgradeId) < threshold

/**
 * Drive the rollout the pointer holds from the wave it is at: wait for each wave's machines, widen,
 * promote at the end, or halt. `onWave` reports each wave as it starts.
 */
export async function driveRollout(
  options: DeployOptions,
  keys: RelupKeys,
  setBy: string,
): Promise<{ outcomes: MachineOutcome[]; report: RolloutReport }> {
  const { storage, reporter, signal } = options
  const start = await readPointer(storage, keys)
  const candidate = start?.pointer.candidate
  if (!start || !candidate) throw new Error('driveRollout: the pointer has no rollout')
  const hot = candidate.upgrade
  let rollout = candidate.rollout
  const plan = formatRolloutPlan(rollout.plan)
  const report: RolloutReport = { plan, state: 'stopped', waves: [], failures: [], revertMs: null }
  const outcomes = new Map<string, MachineOutcome>()
  const timeoutMs = options.timeoutMs ?? 120_000
  for (;;) {
    const live = splitByBase(await readMachineRecords(storage, keys), hot.baseRef).onBase
    const wave = live.filter((m) => inWave(m.machineId, hot.upgradeId, rollout.threshold))
    report.waves.push({
      wave: rollout.wave,
      threshold: rollout.threshold,
      machines: wave.map((m) => m.machineId),
    })
    const label = describeWave(rollout)
    reporter?.step?.(
      `wave ${rollout.wave + 1} of ${rollout.plan.length} (${label}): ${wave.length} machine(s) ${wave.map((m) => m.machineId).join(', ')}; health window ${seconds(rollout.healthWindowMs)}`,
    )
    const waiting = wave.filter((m) => !outcomes.has(m.machineId))
    const results = await waitForResults(storage, keys, waiting, {
      upgradeId: hot.upgradeId,
      baseRef: hot.baseRef,
      timeoutMs: timeoutMs + rollout.healthWindowMs,
      pollMs: options.pollMs,
      ackTimeoutMs: options.ackTimeoutMs,
      signal,
      onProgress: reporter?.progress,
      onResult: reporter?.result,
    })
    for (const outcome of results) {
      outcomes.set(outcome.machineId, outcome)
      if (outcome.status === 'failed' || outcome.status === 'timed-out')
        report.failures.push({
          machineId: outcome.machineId,
          status: outcome.status,
          reason:
            outcome.result?.error?.message ??
            (outcome.status === 'timed-out' ? 'did not finish its probation within the timeout' : 'failed'),
        })
    }
    if (report.failures.length > rollout.maxFailures) {
      await halt(options, keys, setBy, hot, wave, report, rollout.maxFailures)
      return { outcomes: [...outcomes.values()], report }
    }
    if (rollout.wave >= rollout.plan.length - 1) {
      const promoted = await movePointer(storage, keys, (current) => {
        if (current?.candidate?.upgrade.upgradeId !== hot.upgradeId) throw lost(current)
        return promoteCandidate(current, { setBy })
      })
      await announce(options, keys, promoted)
      reporter?.step?.(`every wave passed: ${hot.version} is the stable release of the fleet`)
      report.state = 'promoted'
      return { outcomes: [...outcomes.values()], report }
    }
    const next = rollout.wave + 1
    const ids = live.map((m) => m.machineId)
    const widened: Rollout = {
      ...rollout,
      wave: next,
      threshold: waveThreshold(rollout.plan[next]!, ids, hot.upgradeId, rollout.threshold),
      waveStartedAt: new Date().toISOString(),
    }
    const moved = await movePointer(storage, keys, (current) => {
      if (current?.candidate?.upgrade.upgradeId !== hot.upgradeId) throw lost(current)
      return withRollout(current, widened, { setBy })
    })
    await announce(options, keys, moved)
    rollout = widened
  }
}

/** Halt: the candidate leaves the pointer as a bad upgrade; wait for the wave to be back on stable. */
async function halt(
  options: DeployOptions,
  keys: RelupKeys,
  setBy: string,
  hot: HotUpgrade,
  wave: MachineRecord[],
  report: RolloutReport,
  maxFailures: number,
): Promise<void> {
  const { storage, reporter } = options
  const failures = report.failures.map((f) => `${f.machineId} ${f.status}: ${f.reason}`).join('; ')
  reporter?.warn?.(
    `halting the rollout of ${hot.version}: ${report.failures.length} machine(s) failed (at most ${maxFailures} tolerated): ${failures}`,
  )
  const halted = await movePointer(storage, keys, (current) => {
    if (current?.candidate?.upgrade.upgradeId !== hot.upgradeId) throw lost(current)
    return withoutCandidate(current, { bad: true }, { setBy })
  })
  report.state = 'halted'
  await announce(options, keys, halted)
  reporter?.step?.(
    `the pointer is back on ${halted.hot ? `${halted.hot.version} (upgrade ${halted.hot.upgradeId})` : 'the base code'}; upgrade ${hot.upgradeId} is marked bad; waiting for ${wave.length} machine(s) to revert`,
  )
  report.revertMs = await waitForStable(storage, keys, wave, halted, options)
}

/** Ring the notifier (if any) after a rollout move: machines of the new wave read the pointer at once. */
export function announce(options: DeployOptions, keys: RelupKeys, pointer: CurrentPointer): Promise<boolean> {
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

function describeWave(rollout: Rollout): string {
  const wave = rollout.plan[rollout.wave]!
  return 'percent' in wave ? `${wave.percent}%` : `${wave.machines} machine${wave.machines === 1 ? '' : 's'}`
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`

function lost(current: CurrentPointer | null): Error {
  return new Error(
    `the rollout was taken out of the pointer by someone else (it now names ${current?.candidate ? `candidate ${current.candidate.upgrade.version}` : current?.hot ? current.hot.version : 'no hot code'}, set by ${current?.setBy}); not touching it`,
  )
}
