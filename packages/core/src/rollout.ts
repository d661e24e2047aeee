/**
 * Staged rollouts. The pointer keeps `hot` as the **stable** release (what every machine outside
 * the rollout runs, and what a machine older than rollouts reads) and, during a rollout, a
 * **candidate**: the new upgrade with its plan and the wave it reached. A machine is in the
 * current wave when its **cohort** — a stable hash of its id and the upgrade id, in [0, 1) — is
 * below the wave's threshold, so widening a wave (raising the threshold) only adds machines.
 */
import { createHash } from 'node:crypto'
import { ConfigError } from './errors.js'
import { isoDate } from './patterns.js'
import type { HotUpgrade } from './pointer.js'
import { array, number, object, oneOf, type Schema, SchemaIssue } from './schema.js'

/** One wave of a plan: a number of machines (the canary), or a percentage of the fleet. */
export type RolloutWave = { machines: number } | { percent: number }

export type RolloutState =
  /** Waves widen as each one passes its health window. */
  | 'rolling'
  /** The publisher stopped widening (it exited, or was told to wait): `relup rollout resume` continues. */
  | 'paused'

export interface Rollout {
  plan: RolloutWave[]
  /** Index in `plan` of the wave live now. */
  wave: number
  /** Machines whose cohort is below it run the candidate (0 = none, 1 = all). */
  threshold: number
  state: RolloutState
  /** How long a machine keeps the candidate on probation before it makes it its last good release. */
  healthWindowMs: number
  /** Failed or unhealthy machines tolerated before the rollout halts (default 0). */
  maxFailures: number
  startedAt: string
  waveStartedAt: string
}

export interface RolloutCandidate {
  upgrade: HotUpgrade
  rollout: Rollout
}

/** A machine's place in the rollout of `upgradeId` (or a cold `releaseId`): the same for that pair everywhere, in [0, 1). */
export function cohortOf(machineId: string, upgradeId: string): number {
  const digest = createHash('sha256').update(`${upgradeId}\0${machineId}`).digest()
  return digest.readUInt32BE(0) / 0x1_0000_0000
}

/**
 * Whether `machineId` is in the wave `rollout` reached of the candidate `candidateId` (a hot
 * upgrade's `upgradeId`, or a cold release's `releaseId`: the same waves for both).
 */
export function inWave(machineId: string, candidateId: string, rollout: Pick<Rollout, 'threshold'>): boolean {
  return cohortOf(machineId, candidateId) < rollout.threshold
}

/** Whether `machineId` runs the candidate in the wave it reached. */
export function inRolloutWave(machineId: string, candidate: RolloutCandidate): boolean {
  return inWave(machineId, candidate.upgrade.upgradeId, candidate.rollout)
}

/**
 * The threshold that admits a wave: a percentage is itself; a number of machines is placed between
 * the cohorts of the Nth and the next of the machines live now, so exactly N of them are in and a
 * machine that joins later lands in or out by its own cohort. Never lower than `previous`.
 */
export function waveThreshold(
  wave: RolloutWave,
  liveMachineIds: readonly string[],
  upgradeId: string,
  previous = 0,
): number {
  if ('percent' in wave) return Math.max(previous, Math.min(1, wave.percent / 100))
  const cohorts = liveMachineIds.map((id) => cohortOf(id, upgradeId)).sort((a, b) => a - b)
  if (wave.machines >= cohorts.length) return Math.max(previous, 1)
  if (wave.machines <= 0) return previous
  const last = cohorts[wave.machines - 1]!
  const next = cohorts[wave.machines]!
  return Math.max(previous, (last + next) / 2)
}

/**
 * `"1,25%,100%"` → the plan. Numbers are machines, `N%` percentages; each wave must admit more
 * than the one before, and the last must be `100%` (the whole fleet).
 */
export function parseRolloutPlan(text: string): RolloutWave[] {
  const parts = text.split(',').map((part) => part.trim())
  const waves = parts.map((part): RolloutWave => {
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(part)
    if (percent) {
      const value = Number(percent[1])
      if (value <= 0 || value > 100) throw planError(text, `${part} is not a percentage between 0 and 100`)
      return { percent: value }
    }
    if (/^\d+$/.test(part) && Number(part) > 0) return { machines: Number(part) }
    throw planError(text, `${JSON.stringify(part)} is neither a number of machines nor a percentage`)
  })
  const last = waves.at(-1)
  if (!last || !('percent' in last) || last.percent !== 100)
    throw planError(text, 'the last wave must be 100% (the whole fleet)')
  for (let i = 1; i < waves.length; i++) {
    const [a, b] = [waves[i - 1]!, waves[i]!]
    if ('percent' in a && 'percent' in b && b.percent <= a.percent)
      throw planError(
        text,
        `wave ${i + 1} (${b.percent}%) does not admit more than wave ${i} (${a.percent}%)`,
      )
    if ('machines' in a && 'machines' in b && b.machines <= a.machines)
      throw planError(
        text,
        `wave ${i + 1} (${b.machines}) does not admit more than wave ${i} (${a.machines})`,
      )
    if ('percent' in a && 'machines' in b)
      throw planError(text, 'a number of machines cannot follow a percentage: give the canary first')
  }
  return waves
}

/** `"1,25%,100%"` for messages and the CLI. */
export function formatRolloutPlan(plan: readonly RolloutWave[]): string {
  return plan.map((wave) => ('percent' in wave ? `${wave.percent}%` : String(wave.machines))).join(',')
}

function planError(text: string, problem: string): ConfigError {
  return new ConfigError(
    'rollout',
    `rollout plan ${JSON.stringify(text)}: ${problem}. Give waves like "1,25%,100%" (a canary of 1 machine, then 25 %, then all).`,
  )
}

const waveSchema: Schema<RolloutWave> = (value, path) => {
  const wave = value as Record<string, unknown>
  if (typeof value === 'object' && value !== null) {
    if (Number.isInteger(wave.machines) && (wave.machines as number) > 0 && !('percent' in wave))
      return value as RolloutWave
    if (typeof wave.percent === 'number' && wave.percent > 0 && wave.percent <= 100 && !('machines' in wave))
      return value as RolloutWave
  }
  throw new SchemaIssue(path, 'must be { machines: <positive integer> } or { percent: <0-100> }')
}

export const rolloutSchema: Schema<Rollout> = object<Rollout>({
  plan: array(waveSchema),
  wave: number({ integer: true, min: 0 }),
  threshold: number({ min: 0 }),
  state: oneOf(['rolling', 'paused'] as const),
  healthWindowMs: number({ min: 0 }),
  maxFailures: number({ integer: true, min: 0 }),
  startedAt: isoDate,
  waveStartedAt: isoDate,
})
