/**
 * Staged rollouts of cold releases, as of hot upgrades: the new release goes into `cold.json` as
 * its **candidate** beside the stable `release`, and the same wave loop (waves.ts) widens it. The
 * supervisors (`relup run --app`) of a wave's machines cut over to it, keep it on probation for
 * the health window (the new process must stay up), and report `probation`, then `completed`, or
 * `failed` after cutting back over to the stable release. Failures beyond `maxFailures` halt it:
 * the candidate leaves `cold.json` and joins `badReleases` (no supervisor starts it again). The
 * last wave passed, it becomes the stable release. Like a hot rollout it lives in storage: a
 * publisher that dies leaves it at its wave, and `resumeColdRollout`/`abortColdRollout` go on.
 */
import {
  type ColdPointer,
  type ColdRelease,
  cohortOf,
  coldBaseRef,
  coldKey,
  formatRolloutPlan,
  inWave,
  type MachineRecord,
  type MachineResult,
  parseColdPointer,
  type RelupKeys,
  readDocument,
  relupKeys,
  type Storage,
  withBadRelease,
} from '@relup/core'
import { announceMove } from './announce.js'
import { sleep } from './cancellation.js'
import {
  ColdReleaseError,
  coldResults,
  moveColdPointer,
  type PublishColdOptions,
  withColdRelease,
} from './cold.js'
import { coldFleet } from './coldWait.js'
import { collectWarnings, requireCapabilities, withLock } from './deploy.js'
import { NothingToRollBackError } from './errors.js'
import { checkRolloutOptions, firstWave, type RolloutOptions } from './rollout.js'
import type { DeployOptions } from './types.js'
import type { MachineOutcome } from './wait.js'
import {
  abortedReport,
  driveWaves,
  type RolloutFigures,
  type RolloutReport,
  rolloutFigures,
} from './waves.js'

/** What a cold rollout's publish, resume and abort share with a hot deploy's options. */
export type ColdRolloutControlOptions = Pick<
  DeployOptions,
  | 'storage'
  | 'app'
  | 'prefix'
  | 'timeoutMs'
  | 'ackTimeoutMs'
  | 'pollMs'
  | 'force'
  | 'lockTtlMs'
  | 'reporter'
  | 'notifier'
  | 'signal'
  | 'wait'
>

export interface PublishColdRolloutOptions
  extends Omit<PublishColdOptions, 'notifier' | 'warn'>,
    Omit<ColdRolloutControlOptions, 'storage' | 'app' | 'prefix' | 'lockTtlMs' | 'force'> {
  /** The waves, health window and tolerance (`relup publish --cold --rollout …`). */
  rollout: RolloutOptions
}

/** What became of a cold rollout (its publish, resume or abort). */
export interface ColdRolloutOutcome {
  /** The candidate. */
  release: ColdRelease
  /** The stable release while it rolled (null: the machines' own command). */
  stable: ColdRelease | null
  outcomes: MachineOutcome[]
  /** Null when not waited for (`wait: false`). */
  report: RolloutReport | null
  waited: boolean
  /** Promoted with every machine of its waves completed (or, not waited for, the pointer moved). */
  ok: boolean
  warnings: string[]
  durationMs: number
}

/** Pack and upload a cold release, put it in `cold.json` as the candidate of its first wave, and drive it. */
export async function publishColdRollout(options: PublishColdRolloutOptions): Promise<ColdRolloutOutcome> {
  const started = performance.now()
  checkRolloutOptions(options.rollout)
  requireCapabilities(options.storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const warnings = collectWarnings(options.reporter)
  // Read before the pointer moves, as an all-at-once publish does.
  const live = await coldFleet(options.storage, options.app, options.prefix)
  return withColdRelease(options, keys, (release) =>
    withLock(options, keys, `publish cold ${release.version} in waves`, warnings, async () => {
      const rollout = firstWave(release.releaseId, options.rollout, live)
      const written = await moveColdPointer(
        options.storage,
        keys,
        `publish cold ${release.version}`,
        (current) => {
          if (current?.candidate)
            warnings.warn(
              `replacing the rollout of cold release ${current.candidate.release.version} (${current.candidate.release.releaseId}), still at wave ${current.candidate.rollout.wave + 1}: its machines go back to the stable release`,
            )
          return { ...movable(current), candidate: { release, rollout } }
        },
        options.app,
      )
      await announce(options, keys, written, warnings.warn)
      options.reporter?.step?.(
        `cold.json holds ${release.version} (${release.releaseId}) as the candidate of a staged rollout (${formatRolloutPlan(rollout.plan)}); ${describeStable(written.release)} stays the stable release`,
      )
      const base = { release, stable: written.release, warnings: warnings.list }
      if (options.wait === false)
        return { ...base, outcomes: [], report: null, waited: false, ok: true, durationMs: since(started) }
      return { ...base, ...(await driveColdRollout(options, keys)), durationMs: since(started) }
    }),
  )
}

/** Drive the cold rollout in progress on from its wave, as the publish that started it would have. */
export async function resumeColdRollout(options: ColdRolloutControlOptions): Promise<ColdRolloutOutcome> {
  const started = performance.now()
  requireCapabilities(options.storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const warnings = collectWarnings(options.reporter)
  const { pointer, candidate } = needsColdRollout(await readCold(options.storage, keys), options.app)
  const release = candidate.release
  return withLock(options, keys, `resume the rollout of cold ${release.version}`, warnings, async () => {
    options.reporter?.step?.(
      `resuming the rollout of cold release ${release.version} (${release.releaseId}) at wave ${candidate.rollout.wave + 1} of ${candidate.rollout.plan.length}`,
    )
    const driven = await driveColdRollout(options, keys)
    return {
      release,
      stable: pointer.release,
      ...driven,
      warnings: warnings.list,
      durationMs: since(started),
    }
  })
}

/** Take the candidate out of `cold.json` (marked bad) and wait for its machines to run the stable release again. */
export async function abortColdRollout(options: ColdRolloutControlOptions): Promise<ColdRolloutOutcome> {
  const started = performance.now()
  requireCapabilities(options.storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const warnings = collectWarnings(options.reporter)
  const { candidate } = needsColdRollout(await readCold(options.storage, keys), options.app)
  const release = candidate.release
  return withLock(options, keys, `abort the rollout of cold ${release.version}`, warnings, async () => {
    const live = await coldFleet(options.storage, options.app, options.prefix)
    const wave = live.filter((m) => inWave(m.machineId, release.releaseId, candidate.rollout))
    const written = await haltColdCandidate(options, keys, release, warnings.warn)
    options.reporter?.step?.(
      `aborted the rollout of cold release ${release.version}: ${describeStable(written.release)} is what every machine runs; waiting for ${wave.length} machine(s) to revert`,
    )
    const revertMs = options.wait === false ? null : await waitForColdStable(options, wave, release)
    const report = abortedReport(candidate.rollout, wave, revertMs)
    return {
      release,
      stable: written.release,
      outcomes: [],
      report,
      waited: options.wait !== false,
      ok: options.wait === false || revertMs !== null,
      warnings: warnings.list,
      durationMs: since(started),
    }
  })
}

export interface ColdRolloutMachine {
  machineId: string
  /** In the wave the rollout reached (its cohort is below the threshold). */
  inWave: boolean
  cohort: number
  /** Its result for the candidate: pending, probation, completed, failed; null before it started. */
  status: MachineResult['status'] | null
  error: string | null
}

export interface ColdRolloutStatus {
  app: string
  stable: { version: string; releaseId: string } | null
  candidate: ({ version: string; releaseId: string } & RolloutFigures) | null
  badReleases: string[]
  /** The live machines (their records) with their part in the rollout; empty without one. */
  machines: ColdRolloutMachine[]
}

/** The cold rollout in progress (if any) and each live machine's part in it. */
export async function coldRolloutStatus(options: {
  storage: Storage
  app: string
  prefix?: string | undefined
}): Promise<ColdRolloutStatus> {
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const pointer = await readCold(options.storage, keys)
  const candidate = pointer?.candidate ?? null
  const results = candidate
    ? new Map(
        (await coldResults(options.storage, keys, candidate.release.releaseId)).map((r) => [r.machineId, r]),
      )
    : new Map<string, MachineResult>()
  const live = candidate ? await coldFleet(options.storage, options.app, options.prefix) : []
  return {
    app: options.app,
    stable: pointer?.release
      ? { version: pointer.release.version, releaseId: pointer.release.releaseId }
      : null,
    candidate: candidate
      ? {
          version: candidate.release.version,
          releaseId: candidate.release.releaseId,
          ...rolloutFigures(candidate.rollout),
        }
      : null,
    badReleases: pointer?.badReleases ?? [],
    machines: candidate
      ? live.map((record) => {
          const result = results.get(record.machineId)
          return {
            machineId: record.machineId,
            inWave: inWave(record.machineId, candidate.release.releaseId, candidate.rollout),
            cohort: cohortOf(record.machineId, candidate.release.releaseId),
            status: result?.status ?? null,
            error: result?.error?.message ?? null,
          }
        })
      : [],
  }
}

/** The wave loop over `cold.json`'s candidate; the caller holds the lock. */
async function driveColdRollout(
  options: ColdRolloutControlOptions,
  keys: RelupKeys,
): Promise<Pick<ColdRolloutOutcome, 'outcomes' | 'report' | 'waited' | 'ok'>> {
  const { storage } = options
  const start = await readCold(storage, keys)
  const candidate = start?.candidate
  if (!candidate) throw new Error('driveColdRollout: cold.json has no rollout')
  const release = candidate.release
  const warn = (message: string) => options.reporter?.warn?.(message)
  const move = async (next: (current: ColdPointer) => Partial<ColdPointer>) => {
    const written = await moveColdPointer(
      storage,
      keys,
      `the rollout of cold ${release.version}`,
      (current) => {
        if (current?.candidate?.release.releaseId !== release.releaseId) throw lost(current)
        return { ...movable(current), candidate: current.candidate, ...next(current) }
      },
      options.app,
    )
    await announce(options, keys, written, warn)
    return written
  }
  let halted: ColdPointer | null = null
  const { outcomes, report } = await driveWaves(
    storage,
    keys,
    {
      id: release.releaseId,
      version: release.version,
      baseRef: coldBaseRef(release.releaseId),
      noun: 'cold release',
      rollout: candidate.rollout,
      liveMachines: () => coldFleet(storage, options.app, options.prefix),
      widen: async (rollout) => {
        await move(() => ({ candidate: { release, rollout } }))
      },
      promote: async () => {
        await move((current) => ({
          release,
          previous: current.release ? [current.release, ...current.previous] : current.previous,
          candidate: null,
        }))
        return `every wave passed: cold release ${release.version} is the stable release of the fleet`
      },
      halt: async () => {
        halted = await haltColdCandidate(options, keys, release, warn)
        return `cold.json is back on ${describeStable(halted.release)}`
      },
      waitForStable: (wave) => (halted ? waitForColdStable(options, wave, release) : Promise.resolve(null)),
    },
    options,
  )
  return {
    outcomes,
    report,
    waited: true,
    ok:
      report.state === 'promoted' && outcomes.every((o) => o.status === 'completed' || o.status === 'absent'),
  }
}

/** The candidate leaves `cold.json`, marked bad, and the move is announced. */
async function haltColdCandidate(
  options: ColdRolloutControlOptions,
  keys: RelupKeys,
  release: ColdRelease,
  warn: (message: string) => void,
): Promise<ColdPointer> {
  const written = await moveColdPointer(
    options.storage,
    keys,
    `halt the rollout of cold ${release.version}`,
    (current) => {
      if (current?.candidate?.release.releaseId !== release.releaseId)
        throw new NothingToRollBackError('the cold rollout ended meanwhile; nothing to halt')
      return {
        ...movable(current),
        candidate: null,
        badReleases: withBadRelease(current.badReleases, release.releaseId),
      }
    },
    options.app,
  )
  await announce(options, keys, written, warn)
  return written
}

/**
 * How long until no machine of `wave` runs the candidate any more, as its record says (its base
 * is `cold-<releaseId>` of the release its process was started from), ms; null at the timeout.
 */
async function waitForColdStable(
  options: ColdRolloutControlOptions,
  wave: readonly MachineRecord[],
  candidate: ColdRelease,
): Promise<number | null> {
  const started = performance.now()
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  const ids = new Set(wave.map((m) => m.machineId))
  const onCandidate = coldBaseRef(candidate.releaseId)
  while (Date.now() < deadline) {
    const records = (await coldFleet(options.storage, options.app, options.prefix)).filter((r) =>
      ids.has(r.machineId),
    )
    if (records.every((r) => r.baseRef !== onCandidate || r.stoppedAt)) return performance.now() - started
    await sleep(100, options.signal)
  }
  return null
}

/** The fields of `cold.json` a rollout move keeps as they are. */
const movable = (current: ColdPointer | null) => ({
  release: current?.release ?? null,
  previous: current?.previous ?? [],
  candidate: current?.candidate ?? null,
  badReleases: current?.badReleases,
})

async function readCold(storage: Storage, keys: RelupKeys): Promise<ColdPointer | null> {
  const read = await readDocument(storage, coldKey(keys), parseColdPointer)
  return read.status === 'ok' ? read.document : null
}

function needsColdRollout(pointer: ColdPointer | null, app: string) {
  if (!pointer?.candidate)
    throw new NothingToRollBackError(
      `no cold rollout of ${app} is in progress (cold.json has no candidate); see \`relup status --app ${app}\``,
    )
  return { pointer, candidate: pointer.candidate }
}

function announce(
  options: Pick<ColdRolloutControlOptions, 'notifier'>,
  keys: RelupKeys,
  pointer: ColdPointer,
  warn: (message: string) => void,
): Promise<boolean> {
  return announceMove(options.notifier, coldKey(keys), pointer, 'rollout', warn)
}

const describeStable = (release: ColdRelease | null) =>
  release ? `cold release ${release.version} (${release.releaseId})` : "the machines' own command"

const since = (started: number) => performance.now() - started

function lost(current: ColdPointer | null): Error {
  return new ColdReleaseError(
    `the cold rollout was taken out of cold.json by someone else (it now names ${current?.candidate ? `candidate ${current.candidate.release.version}` : current?.release ? current.release.version : 'no cold release'}); not touching it`,
  )
}
