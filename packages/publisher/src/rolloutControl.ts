/**
 * A staged rollout after its publisher is gone (CI cancelled, a laptop closed): it stays at its
 * wave, and these continue it. `rolloutStatus` shows it; `resumeRollout` takes the lock and
 * drives it on from its wave; `abortRollout` takes the candidate out (a bad upgrade) and waits for
 * its machines to be back on the stable release.
 */
import {
  type CurrentPointer,
  cohortOf,
  type HealthFigures,
  listAll,
  type MachineResult,
  parseMachineResult,
  readDocument,
  relupKeys,
  type Storage,
  withoutCandidate,
} from '@relup/core'
import { collectWarnings, requireCapabilities, withLock } from './deploy.js'
import { NothingToRollBackError } from './errors.js'
import { whoAmI } from './lock.js'
import { readMachineRecords, splitByBase } from './machines.js'
import { movePointer, readPointer } from './pointer.js'
import { announce, driveRollout, type RolloutReport, waitForStable } from './rollout.js'
import type { DeployOptions, PublishOutcome } from './types.js'
import { abortedReport, type RolloutFigures, rolloutFigures } from './waves.js'

export interface RolloutMachine {
  machineId: string
  /** In the wave the rollout reached (its cohort is below the threshold). */
  inWave: boolean
  cohort: number
  /** What it runs, from its record. */
  version: string | null
  upgradeId: string | null
  /** Its result for the candidate: pending, probation, completed, failed; null before it started. */
  status: MachineResult['status'] | null
  error: string | null
  health: HealthFigures | null
}

export interface RolloutStatus {
  app: string
  stable: { version: string; upgradeId: string } | null
  /** Null when no rollout is in progress. */
  candidate: ({ version: string; upgradeId: string } & RolloutFigures) | null
  badUpgrades: string[]
  machines: RolloutMachine[]
}

/** The rollout in progress (if any) and every live machine on the pointer's base with its part in it. */
export async function rolloutStatus(options: {
  storage: Storage
  app: string
  prefix?: string | undefined
}): Promise<RolloutStatus> {
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const read = await readPointer(options.storage, keys)
  const pointer = read?.pointer ?? null
  const candidate = pointer?.candidate ?? null
  const results = new Map<string, MachineResult>()
  if (candidate) {
    for await (const item of listAll(options.storage, keys.results(candidate.upgrade.upgradeId))) {
      const got = await readDocument(options.storage, item.key, parseMachineResult).catch(() => null)
      if (got?.status === 'ok') results.set(got.document.machineId, got.document)
    }
  }
  const live = pointer
    ? splitByBase(await readMachineRecords(options.storage, keys), pointer.baseRef).onBase
    : []
  return {
    app: options.app,
    stable: pointer?.hot ? { version: pointer.hot.version, upgradeId: pointer.hot.upgradeId } : null,
    candidate: candidate
      ? {
          version: candidate.upgrade.version,
          upgradeId: candidate.upgrade.upgradeId,
          ...rolloutFigures(candidate.rollout),
        }
      : null,
    badUpgrades: pointer?.badUpgrades ?? [],
    machines: live.map((record) => {
      const cohort = candidate ? cohortOf(record.machineId, candidate.upgrade.upgradeId) : 1
      const result = results.get(record.machineId)
      return {
        machineId: record.machineId,
        inWave: candidate !== null && cohort < candidate.rollout.threshold,
        cohort,
        version: record.version,
        upgradeId: record.upgradeId,
        status: result?.status ?? null,
        error: result?.error?.message ?? null,
        health: result?.health ?? null,
      }
    }),
  }
}

function needsRollout(pointer: CurrentPointer | null, app: string): NonNullable<CurrentPointer['candidate']> {
  if (!pointer?.candidate)
    throw new NothingToRollBackError(
      `no rollout of ${app} is in progress (the pointer has no candidate); see \`relup status --app ${app}\``,
    )
  return pointer.candidate
}

/** Drive the rollout in progress on from its wave, as the publish that started it would have. */
export async function resumeRollout(options: DeployOptions): Promise<PublishOutcome> {
  const started = performance.now()
  requireCapabilities(options.storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const warnings = collectWarnings(options.reporter)
  const candidate = needsRollout((await readPointer(options.storage, keys))?.pointer ?? null, options.app)
  const hot = candidate.upgrade
  return withLock(options, keys, `resume the rollout of ${hot.version}`, warnings, async (lock) => {
    options.reporter?.step?.(
      `resuming the rollout of ${hot.version} (upgrade ${hot.upgradeId}) at wave ${candidate.rollout.wave + 1} of ${candidate.rollout.plan.length}`,
    )
    const { outcomes, report } = await driveRollout(options, keys, `publisher:${whoAmI()}`)
    return rolloutOutcome(hot, outcomes, report, lock.replaced, warnings.list, started)
  })
}

/** Take the candidate out of the pointer (marked bad) and wait for its machines to run the stable release again. */
export async function abortRollout(options: DeployOptions): Promise<PublishOutcome> {
  const started = performance.now()
  requireCapabilities(options.storage)
  const { storage, reporter, app } = options
  const keys = relupKeys(app, { prefix: options.prefix })
  const warnings = collectWarnings(reporter)
  const candidate = needsRollout((await readPointer(storage, keys))?.pointer ?? null, app)
  const hot = candidate.upgrade
  return withLock(options, keys, `abort the rollout of ${hot.version}`, warnings, async (lock) => {
    const live = splitByBase(await readMachineRecords(storage, keys), hot.baseRef).onBase
    const wave = live.filter((m) => cohortOf(m.machineId, hot.upgradeId) < candidate.rollout.threshold)
    const written = await movePointer(storage, keys, (current) => {
      if (current?.candidate?.upgrade.upgradeId !== hot.upgradeId)
        throw new NothingToRollBackError('the rollout ended meanwhile; nothing to abort')
      return withoutCandidate(current, { bad: true }, { setBy: `publisher:${whoAmI()}` })
    })
    await announce(options, keys, written)
    reporter?.step?.(
      `aborted the rollout of ${hot.version}: the pointer is on ${written.hot ? written.hot.version : 'the base code'}; waiting for ${wave.length} machine(s) to revert`,
    )
    const revertMs =
      options.wait === false ? null : await waitForStable(storage, keys, wave, written, options)
    const report = abortedReport(candidate.rollout, wave, revertMs)
    const outcome = rolloutOutcome(hot, [], report, lock.replaced, warnings.list, started)
    return { ...outcome, ok: options.wait === false || revertMs !== null }
  })
}

function rolloutOutcome(
  hot: CurrentPointer['hot'] & object,
  outcomes: PublishOutcome['outcomes'],
  report: RolloutReport,
  replacedLock: PublishOutcome['replacedLock'],
  warnings: string[],
  started: number,
): PublishOutcome {
  return {
    upgrade: hot,
    baseRef: hot.baseRef,
    artifactReused: true,
    outcomes,
    missing: 0,
    otherBaseMachines: [],
    waited: true,
    ok:
      report.state === 'promoted' && outcomes.every((o) => o.status === 'completed' || o.status === 'absent'),
    replacedLock,
    warnings,
    durationMs: performance.now() - started,
    rollout: report,
  }
}
