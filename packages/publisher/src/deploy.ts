/**
 * The part publish and rollback share once they know where the fleet goes: under the deploy
 * lock (read back: it must be ours), record the upgrade, move the pointer (read back: it must be
 * what we wrote), wait for the machines, check the pointer again, release the lock.
 */
import {
  type CurrentPointer,
  type HotUpgrade,
  initialPointer,
  type MachineRecord,
  type RelupKeys,
  type Storage,
  withCandidate,
  withHotUpgrade,
  withoutHotUpgrade,
  writeDocument,
} from '@relup/core'
import { announceMove } from './announce.js'
import { throwIfCancelled } from './cancellation.js'
import { CancelledError, NothingToRollBackError, StorageUnfitError, WriteLostError } from './errors.js'
import { acquireLock, type HeldLock, type ReplacedLock, releaseLock, verifyLock, whoAmI } from './lock.js'
import {
  describeOtherBases,
  isMinorityBase,
  type OtherBaseMachine,
  readMachineRecords,
  splitByBase,
} from './machines.js'
import { movePointer, readPointer, verifyPointer } from './pointer.js'
import { AUTO_MIN_MACHINES, driveRollout, firstWave, type RolloutOptions } from './rollout.js'
import { retryTransient } from './transient.js'
import type { DeployOptions, PublishOutcome, Reporter, RollbackOutcome } from './types.js'
import { type MachineOutcome, waitForResults } from './wait.js'
import { waitForBase } from './waitBase.js'

export const DEFAULT_TIMEOUT_MS = 120_000
/** How long releasing the lock and re-reading the pointer ride out a storage blip. */
const SETTLE_WITHIN_MS = 5_000

/** Where a deploy points the fleet: a hot upgrade, or back to the base code of `base`. */
export type DeployTarget = { hot: HotUpgrade } | { base: string }

/** Warnings given to the reporter and kept for the outcome. */
export interface Warnings {
  readonly list: string[]
  warn(message: string): void
}

export function collectWarnings(reporter: Reporter | undefined): Warnings {
  const list: string[] = []
  return {
    list,
    warn(message) {
      list.push(message)
      reporter?.warn?.(message)
    },
  }
}

/** Publishing with several writers needs create-only and compare-and-swap: refuse a store without them. */
export function requireCapabilities(storage: Storage): void {
  const missing = (['createOnly', 'compareAndSwap'] as const).filter((c) => !storage.capabilities[c])
  if (missing.length > 0) {
    throw new StorageUnfitError(
      `${storage.name} does not support ${missing.join(' and ')}, which publishing needs to stay correct with several writers; ` +
        'run `relup doctor` against it, or use a store that does (S3, R2, MinIO, Tigris, a local directory).',
    )
  }
}

export function describeReplaced(lock: ReplacedLock): string {
  const why = {
    expired: `it expired at ${lock.expiresAt}`,
    forced: '--force',
    'dead-process': `its process ${lock.pid} on this host is no longer running`,
  }[lock.reason]
  return `took over the lock held by ${lock.owner} since ${lock.acquiredAt} (${lock.purpose}): ${why}`
}

export async function withLock<T>(
  options: Pick<DeployOptions, 'storage' | 'app' | 'force' | 'lockTtlMs' | 'timeoutMs'>,
  keys: RelupKeys,
  purpose: string,
  warnings: Warnings,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const { storage, app } = options
  const lock = await acquireLock(storage, keys, {
    app,
    purpose,
    ttlMs: options.lockTtlMs ?? (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) + 60_000,
    force: options.force ?? false,
  })
  if (lock.replaced) warnings.warn(describeReplaced(lock.replaced))
  try {
    return await fn(lock)
  } finally {
    // Not cancellable: a cancelled publish must still release its lock.
    const released = await retryTransient(() => releaseLock(storage, keys, lock), {
      withinMs: SETTLE_WITHIN_MS,
    }).catch((error: unknown) => error as Error)
    if (released instanceof Error)
      warnings.warn(
        `could not release the deploy lock (${released.message}): it stays held until ${lock.document.expiresAt}; ` +
          `if no publish is running, run \`relup unlock --app ${app}\``,
      )
    else if (released.status === 'taken-over')
      warnings.warn(
        `the lock was taken over by ${released.by.owner} (${released.by.purpose}, since ${released.by.acquiredAt}) meanwhile; left it to them`,
      )
    else if (released.status === 'gone')
      warnings.warn(
        'the deploy lock was already gone when this publish released it (removed with `relup unlock`?)',
      )
  }
}

const ago = (iso: string) => `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))} s ago`

function otherBasesWarning(
  app: string,
  baseRef: string,
  machines: OtherBaseMachine[],
  minority: boolean,
  before: CurrentPointer | null,
) {
  const leftOut = `${machines.length} live machine(s) of ${app} run another base than ${baseRef} and are left out: ${describeOtherBases(machines)}`
  if (!minority) return `${leftOut} (an older generation: a cold deploy replaces them)`
  const setBy = before?.setBy.startsWith('machine:')
    ? ` (the pointer's base was set by ${before.setBy} at ${before.setAt})`
    : ''
  return (
    `${leftOut}${setBy}; this upgrade reaches at most half of the live machines. If ${baseRef} is a mistake (a machine ` +
    `started with a mistyped RELUP_BASE_REF takes the pointer over), stop that machine and run ` +
    `\`relup repair --app ${app} --base-ref <base> --force\`; if they are meant to stay on their base, pass --allow-other-bases`
  )
}

/** Wait for the machines' results, saying what happens (outages, absent machines) through `warnings`. */
async function waitForMachines(
  hot: HotUpgrade,
  expected: MachineRecord[],
  count: number,
  options: DeployOptions,
  keys: RelupKeys,
  warnings: Warnings,
  /** The notifier was told of this move: machines that hear it get only `ackTimeoutMs` to acknowledge. */
  announced: boolean,
): Promise<MachineOutcome[]> {
  const { storage, reporter, app } = options
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (count === 0) warnings.warn(`no machine on base ${hot.baseRef} reported recently: nothing to wait for`)
  else
    reporter?.step?.(
      `waiting for ${count} machine${count === 1 ? '' : 's'} on base ${hot.baseRef} (timeout ${Math.round(timeoutMs / 1000)} s)`,
    )
  const deadline = new Date(Date.now() + timeoutMs).toISOString()
  try {
    return await waitForResults(storage, keys, expected, {
      upgradeId: hot.upgradeId,
      baseRef: hot.baseRef,
      expect: options.expect,
      timeoutMs,
      pollMs: options.pollMs,
      ackTimeoutMs: options.ackTimeoutMs,
      announced,
      signal: options.signal,
      onProgress: reporter?.progress,
      onResult: reporter?.result,
      onStorageError: (error) =>
        warnings.warn(
          `storage failed while waiting for the machines (${(error as Error).message}); ` +
            `still waiting for it to answer again, until the timeout (${deadline})`,
        ),
      onStorageRecovered: (downMs) =>
        reporter?.step?.(`storage answers again after ${(downMs / 1000).toFixed(1)} s`),
      onAbsent: (machine, graceMs) =>
        warnings.warn(
          `${machine.machineId} did not acknowledge the upgrade within ${Math.round(graceMs / 1000)} s ` +
            `(last seen ${ago(machine.updatedAt)}, ${machine.updatedAt}): counted absent, not waited for. ` +
            'If it is alive it applies the upgrade when it polls again (see `relup status`)',
        ),
    })
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error
    throw new CancelledError(
      `${error.message}: the pointer stays at ${hot.version} (upgrade ${hot.upgradeId}) and machines keep applying it; ` +
        `follow with \`relup status --app ${app}\``,
      error.reason,
    )
  }
}

interface DeployContext {
  started: number
  /** What the notice says moved the pointer (default `publish`). */
  reason?: 'publish' | 'rollback' | undefined
  artifactReused: boolean
  warnings: Warnings
}

/** Record the target, point the fleet at it, and (unless `wait: false`) wait for the machines. */
export function deploy(
  target: { hot: HotUpgrade },
  options: DeployOptions,
  keys: RelupKeys,
  lock: HeldLock,
  context: DeployContext,
): Promise<PublishOutcome>
export function deploy(
  target: DeployTarget,
  options: DeployOptions,
  keys: RelupKeys,
  lock: HeldLock,
  context: DeployContext,
): Promise<RollbackOutcome>
export async function deploy(
  target: DeployTarget,
  options: DeployOptions,
  keys: RelupKeys,
  lock: HeldLock,
  context: DeployContext,
): Promise<RollbackOutcome> {
  const { storage, reporter, app, signal } = options
  const { warnings } = context
  const hot = 'hot' in target ? target.hot : null
  const baseRef = hot ? hot.baseRef : (target as { base: string }).base
  const what = hot ? `${hot.version} (upgrade ${hot.upgradeId})` : `the base code of ${baseRef}`

  // Machines are read before the pointer moves, so a fast machine is not missed.
  const { onBase, otherBases } = splitByBase(await readMachineRecords(storage, keys), baseRef)
  const expected = options.expect === undefined ? onBase : []
  await verifyLock(storage, keys, app, lock, 'The pointer was not moved.')
  throwIfCancelled(signal, 'cancelled before the pointer moved', 'nothing was rolled out')
  // A pointer that cannot be moved (corrupt) must not leave a publish in the history that never went live.
  await readPointer(storage, keys)
  if (hot) await writeDocument(storage, keys.history(hot.upgradeId), hot, { ifNoneMatch: '*' })
  let before: CurrentPointer | null = null
  const setBy = { setBy: `publisher:${hot?.publishedBy ?? whoAmI()}` }
  const staged = hot ? stagedRollout(options, onBase.length) : null
  if (hot && staged)
    return deployStaged(hot, staged, options, keys, context, { onBase, otherBases, setBy, lock })
  const written = await movePointer(storage, keys, (current) => {
    before = current
    if (!hot) {
      if (!current) throw new NothingToRollBackError('the pointer is gone: there is nothing to roll back')
      return withoutHotUpgrade(current, setBy)
    }
    return current ? withHotUpgrade(current, hot, setBy) : { ...initialPointer(app, baseRef, setBy), hot }
  })
  const movedAt = new Date()
  await verifyPointer(storage, keys, written, 'Nothing was waited for.')
  reporter?.step?.(`pointer moved to ${what}`)
  const reason = context.reason ?? 'publish'
  const announced = await announceMove(options.notifier, keys.current, written, reason, warnings.warn)
  if (announced) reporter?.step?.(`announced on ${options.notifier?.name}`)
  const minority = isMinorityBase(onBase.length, otherBases.length)
  if (otherBases.length > 0) warnings.warn(otherBasesWarning(app, baseRef, otherBases, minority, before))
  const ok = (outcomes: MachineOutcome[], missing: number) => {
    const completed = outcomes.filter((o) => o.status === 'completed').length
    const absent = outcomes.filter((o) => o.status === 'absent').length
    return (
      missing === 0 &&
      outcomes.every((o) => o.status === 'completed' || o.status === 'absent') &&
      (absent === 0 || completed > 0) &&
      (!minority || options.allowOtherBases === true)
    )
  }
  const outcome = (outcomes: MachineOutcome[], missing: number, waited: boolean): RollbackOutcome => ({
    upgrade: hot,
    baseRef,
    artifactReused: context.artifactReused,
    outcomes,
    missing,
    otherBaseMachines: otherBases,
    waited,
    ok: ok(outcomes, missing),
    replacedLock: lock.replaced,
    warnings: warnings.list,
    durationMs: performance.now() - context.started,
  })
  if (options.wait === false) return outcome([], 0, false)
  if (!hot) {
    // Machines running hot code swap their base release back in and say so in their record.
    const stillHot = expected.filter((m) => m.upgradeId !== null)
    if (stillHot.length === 0) return outcome([], 0, true)
    reporter?.step?.(`waiting for ${stillHot.length} machine(s) to go back to the base code of ${baseRef}`)
    const outcomes = await waitForBase(storage, keys, stillHot, {
      baseRef,
      movedAt,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      pollMs: options.pollMs,
      ackTimeoutMs: options.ackTimeoutMs,
      signal,
      onResult: reporter?.result,
      onStorageError: (error) =>
        warnings.warn(
          `storage failed while waiting for the machines (${(error as Error).message}); still waiting for it to answer again, until the timeout`,
        ),
    })
    return outcome(outcomes, 0, true)
  }

  const count = options.expect ?? expected.length
  const outcomes = await waitForMachines(hot, expected, count, options, keys, warnings, announced)
  // The pointer must still be ours: otherwise these results are about an upgrade no longer live.
  await retryTransient(
    () => verifyPointer(storage, keys, written, 'The results above are not what is live.'),
    {
      withinMs: SETTLE_WITHIN_MS,
    },
  ).catch((error: unknown) => {
    if (error instanceof WriteLostError) throw error
    warnings.warn(`could not read the pointer back after waiting (${(error as Error).message})`)
  })
  const missing = Math.max(0, count - outcomes.length)
  return outcome(outcomes, missing, true)
}

/** The rollout a deploy of a hot upgrade runs, or null for all at once (`rollout: 'auto'` decides by fleet size). */
function stagedRollout(options: DeployOptions, liveOnBase: number): RolloutOptions | null {
  if (options.expect !== undefined) return null // a fixed count of machines to wait for: all at once
  if (options.rollout === 'auto') return liveOnBase >= AUTO_MIN_MACHINES ? {} : null
  return options.rollout ?? null
}

/** A staged rollout: the upgrade goes in as the candidate of its first wave, and the publisher drives it. */
async function deployStaged(
  hot: HotUpgrade,
  staged: RolloutOptions,
  options: DeployOptions,
  keys: RelupKeys,
  context: DeployContext,
  fleet: {
    onBase: MachineRecord[]
    otherBases: OtherBaseMachine[]
    setBy: { setBy: string }
    lock: HeldLock
  },
): Promise<RollbackOutcome> {
  const { storage, reporter, app } = options
  const { onBase, otherBases, setBy } = fleet
  const rollout = firstWave(hot.upgradeId, staged, onBase)
  const written = await movePointer(storage, keys, (current) => {
    if (!current)
      throw new NothingToRollBackError(`there is no pointer for ${app} yet: a rollout needs live machines`)
    if (current.candidate)
      context.warnings.warn(
        `replacing the rollout of ${current.candidate.upgrade.version} (upgrade ${current.candidate.upgrade.upgradeId}), still at wave ${current.candidate.rollout.wave + 1}: its machines go back to the stable release`,
      )
    return withCandidate(current, hot, rollout, setBy)
  })
  await verifyPointer(storage, keys, written, 'Nothing was waited for.')
  await announceMove(options.notifier, keys.current, written, 'rollout', context.warnings.warn)
  reporter?.step?.(
    `pointer holds ${hot.version} (upgrade ${hot.upgradeId}) as the candidate of a staged rollout; ${written.hot ? `${written.hot.version}` : 'the base code'} stays the stable release`,
  )
  const minority = isMinorityBase(onBase.length, otherBases.length)
  if (otherBases.length > 0)
    context.warnings.warn(otherBasesWarning(app, hot.baseRef, otherBases, minority, written))
  const base = {
    upgrade: hot,
    baseRef: hot.baseRef,
    artifactReused: context.artifactReused,
    missing: 0,
    otherBaseMachines: otherBases,
    replacedLock: fleet.lock.replaced,
    warnings: context.warnings.list,
  }
  if (options.wait === false)
    return { ...base, outcomes: [], waited: false, ok: true, durationMs: performance.now() - context.started }
  const { outcomes, report } = await driveRollout(options, keys, setBy.setBy)
  const ok =
    report.state === 'promoted' &&
    outcomes.every((o) => o.status === 'completed' || o.status === 'absent') &&
    (!minority || options.allowOtherBases === true)
  return {
    ...base,
    outcomes,
    waited: true,
    ok,
    rollout: report,
    durationMs: performance.now() - context.started,
  }
}
