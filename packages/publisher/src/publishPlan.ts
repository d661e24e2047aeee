/**
 * Before a hot publish: would the machines take it hot? The hot code is checked once with their
 * loader rules against the release they run (the pointer's hot upgrade on the same base), and,
 * when the app's whole directory is known, its cold entry is compared with the cold release they
 * booted from. What the machines would refuse as restart-required (a changed cold entry, a
 * dependency at another version, a native addon change) is why it must go as a cold release.
 * The checks' result goes on to `publish({ checked })`, which does not run them again.
 */
import { type ModuleManifest, relupKeys, type Storage } from '@relup/core'
import type { ReleaseCheck } from '@relup/swap'
import { type ColdEntryComparison, compareColdEntry, describeColdEntryChange } from './coldEntry.js'
import { describeProblem, ReleaseCheckError } from './errors.js'
import { readPointerState } from './pointer.js'
import { type CheckedHotCode, checkHotCode } from './releaseCheck.js'
import type { Reporter } from './types.js'

export interface PlanPublishOptions {
  storage: Storage
  app: string
  prefix?: string | undefined
  /** The hot code directory. */
  dir: string
  /** The base the hot upgrade is for, when not the pointer's: then no release of it is known. */
  baseRef?: string | undefined
  /** The app's whole directory (what a cold release packs): its cold entry is compared too. */
  coldDir?: string | undefined
  /** Receives the checking step and the checks' warnings. */
  reporter?: Reporter | undefined
}

export interface PublishPlan {
  /** Why a hot upgrade would be refused, so that it must go as a cold release; empty: hot. */
  reasons: string[]
  /** The checks as run: pass them to `publish({ checked })`. */
  checked: CheckedHotCode
  /** How the cold entry compared (null: no `coldDir`, or the hot code has other problems). */
  coldEntry: ColdEntryComparison | null
}

export async function planPublish(options: PlanPublishOptions): Promise<PublishPlan> {
  const { storage, dir, reporter } = options
  const state = await readPointerState(storage, relupKeys(options.app, { prefix: options.prefix }))
  const pointer = state.status === 'ok' ? state.pointer : null
  const base = options.baseRef ?? pointer?.baseRef
  const hot = pointer !== null && pointer.baseRef === base ? pointer.hot : null
  reporter?.step?.(`checking ${dir} with the machines' loader rules`)
  const outcome = await checkHotCode(dir, {
    previous: hot?.manifest,
    warn: (message) => reporter?.warn?.(message),
  }).catch((error: unknown) => {
    if (error instanceof ReleaseCheckError) return error
    throw error
  })
  const checked: CheckedHotCode = { dir, base, against: hot?.upgradeId ?? null, outcome }
  // Other problems (a syntax error) are the hot publish's to report, cold entry or not.
  const restart = restartReasons(outcome, hot?.manifest)
  if (restart === null) return { reasons: [], checked, coldEntry: null }
  const coldEntry =
    options.coldDir === undefined
      ? null
      : await compareColdEntry({
          storage,
          app: options.app,
          prefix: options.prefix,
          coldDir: options.coldDir,
          hotDir: dir,
          baseRef: base,
        })
  const reasons = coldEntry?.status === 'changed' ? [describeColdEntryChange(coldEntry), ...restart] : restart
  return { reasons, checked, coldEntry }
}

/**
 * What the machines would refuse as restart-required: host packages at another version than the
 * release they run, native addon changes. Null when the checks found other problems too.
 */
function restartReasons(
  outcome: ReleaseCheck | ReleaseCheckError,
  previous: ModuleManifest | undefined,
): string[] | null {
  if (outcome instanceof ReleaseCheckError) {
    const restart = outcome.problems.filter((problem) => problem.kind === 'restart-required')
    return restart.length === outcome.problems.length ? restart.map(describeProblem) : null
  }
  const before = previous?.hostPackages ?? {}
  return Object.entries(outcome.hostPackages)
    .filter(([name, version]) => before[name] !== undefined && before[name] !== version)
    .map(
      ([name, version]) =>
        `dependency ${name} ${before[name]} → ${version}: the machines resolve ${before[name]} and would refuse a hot upgrade as restart-required`,
    )
}
