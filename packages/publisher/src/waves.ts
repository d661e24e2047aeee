/**
 * The wave loop of a staged rollout, for hot upgrades and cold releases alike: wait for the
 * machines of the wave the candidate reached, halt when more failed than the rollout tolerates,
 * promote after the last wave, else widen to the next one. What differs between the two — which
 * pointer holds the candidate, which machines take part, how a machine shows it is back on the
 * stable release — is the `RolloutTrack` the caller gives.
 */
import {
  formatRolloutPlan,
  inWave,
  type MachineRecord,
  type RelupKeys,
  type Rollout,
  type Storage,
  waveThreshold,
} from '@relup/core'
import type { DeployOptions } from './types.js'
import { type MachineOutcome, waitForResults } from './wait.js'

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

/** A rollout's plan and progress as `relup rollout status` shows them (hot and cold alike). */
export interface RolloutFigures {
  plan: string
  /** 1-based. */
  wave: number
  waves: number
  threshold: number
  state: string
  healthWindowMs: number
  maxFailures: number
  waveStartedAt: string
}

export function rolloutFigures(rollout: Rollout): RolloutFigures {
  return {
    plan: formatRolloutPlan(rollout.plan),
    wave: rollout.wave + 1,
    waves: rollout.plan.length,
    threshold: rollout.threshold,
    state: rollout.state,
    healthWindowMs: rollout.healthWindowMs,
    maxFailures: rollout.maxFailures,
    waveStartedAt: rollout.waveStartedAt,
  }
}

/** The report of an aborted rollout: halted at the wave it reached, with that wave's machines. */
export function abortedReport(
  rollout: Rollout,
  wave: readonly { machineId: string }[],
  revertMs: number | null,
): RolloutReport {
  return {
    plan: formatRolloutPlan(rollout.plan),
    state: 'halted',
    waves: [{ wave: rollout.wave, threshold: rollout.threshold, machines: wave.map((m) => m.machineId) }],
    failures: [],
    revertMs,
  }
}

/** One candidate's rollout, as the wave loop sees it. */
export interface RolloutTrack {
  /** The candidate's id: a hot `upgradeId` or a cold `releaseId` (cohorts and results are keyed by it). */
  id: string
  version: string
  /** The base its results carry. */
  baseRef: string
  /** What kind of candidate, for messages: `upgrade` or `cold release`. */
  noun: string
  /** Where the rollout is now (read from the pointer when the loop starts). */
  rollout: Rollout
  /** The live machines that take part in it. */
  liveMachines(): Promise<MachineRecord[]>
  /** Compare-and-swap the pointer to `rollout` (the candidate still there, else throw), and announce it. */
  widen(rollout: Rollout): Promise<void>
  /** The candidate becomes the stable release (and is announced); resolves with a line saying so. */
  promote(): Promise<string>
  /** The candidate leaves the pointer, marked bad (and announced); resolves with what the fleet runs now. */
  halt(): Promise<string>
  /** How long until every machine of `wave` ran the stable release again, ms (null: not within the timeout). */
  waitForStable(wave: readonly MachineRecord[]): Promise<number | null>
}

export type WaveOptions = Pick<DeployOptions, 'reporter' | 'signal' | 'timeoutMs' | 'pollMs' | 'ackTimeoutMs'>

/** Drive `track` from the wave it is at to its promotion or its halt. */
export async function driveWaves(
  storage: Storage,
  keys: RelupKeys,
  track: RolloutTrack,
  options: WaveOptions,
): Promise<{ outcomes: MachineOutcome[]; report: RolloutReport }> {
  const { reporter, signal } = options
  let rollout = track.rollout
  const report: RolloutReport = {
    plan: formatRolloutPlan(rollout.plan),
    state: 'stopped',
    waves: [],
    failures: [],
    revertMs: null,
  }
  const outcomes = new Map<string, MachineOutcome>()
  const timeoutMs = options.timeoutMs ?? 120_000
  for (;;) {
    const live = await track.liveMachines()
    const wave = live.filter((m) => inWave(m.machineId, track.id, rollout))
    report.waves.push({
      wave: rollout.wave,
      threshold: rollout.threshold,
      machines: wave.map((m) => m.machineId),
    })
    reporter?.step?.(
      `wave ${rollout.wave + 1} of ${rollout.plan.length} (${describeWave(rollout)}): ${wave.length} machine(s) ${wave.map((m) => m.machineId).join(', ')}; health window ${seconds(rollout.healthWindowMs)}`,
    )
    const waiting = wave.filter((m) => !outcomes.has(m.machineId))
    const results = await waitForResults(storage, keys, waiting, {
      upgradeId: track.id,
      baseRef: track.baseRef,
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
      const failures = report.failures.map((f) => `${f.machineId} ${f.status}: ${f.reason}`).join('; ')
      reporter?.warn?.(
        `halting the rollout of ${track.version}: ${report.failures.length} machine(s) failed (at most ${rollout.maxFailures} tolerated): ${failures}`,
      )
      const now = await track.halt()
      report.state = 'halted'
      reporter?.step?.(
        `${now}; ${track.noun} ${track.id} is marked bad; waiting for ${wave.length} machine(s) to revert`,
      )
      report.revertMs = await track.waitForStable(wave)
      return { outcomes: [...outcomes.values()], report }
    }
    if (rollout.wave >= rollout.plan.length - 1) {
      const promoted = await track.promote() // outside the call: `reporter?.` would skip it
      reporter?.step?.(promoted)
      report.state = 'promoted'
      return { outcomes: [...outcomes.values()], report }
    }
    const next = rollout.wave + 1
    const widened: Rollout = {
      ...rollout,
      wave: next,
      threshold: waveThreshold(
        rollout.plan[next]!,
        live.map((m) => m.machineId),
        track.id,
        rollout.threshold,
      ),
      waveStartedAt: new Date().toISOString(),
    }
    await track.widen(widened)
    rollout = widened
  }
}

function describeWave(rollout: Rollout): string {
  const wave = rollout.plan[rollout.wave]!
  return 'percent' in wave ? `${wave.percent}%` : `${wave.machines} machine${wave.machines === 1 ? '' : 's'}`
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`
