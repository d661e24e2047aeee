/**
 * The part publish and rollback share once they know the hot upgrade: under the deploy lock,
 * record it, move the pointer to it, and wait for the machines.
 */
import { type HotUpgrade, type RelupKeys, type Storage, writeDocument } from '@relup/core'
import { StorageUnfitError } from './errors.js'
import { acquireLock, type HeldLock, releaseLock } from './lock.js'
import { movePointer } from './pointer.js'
import type { DeployOptions, PublishOutcome } from './types.js'
import { expectedMachines, waitForResults } from './wait.js'

const DEFAULT_TIMEOUT_MS = 120_000

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

export async function withLock<T>(
  options: DeployOptions,
  keys: RelupKeys,
  purpose: string,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(options.storage, keys, {
    app: options.app,
    purpose,
    ttlMs: options.lockTtlMs ?? (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) + 60_000,
    force: options.force ?? false,
  })
  if (lock.replaced)
    options.reporter?.warn?.(
      `took over the lock held by ${lock.replaced.owner} since ${lock.replaced.acquiredAt} (${lock.replaced.purpose})`,
    )
  try {
    return await fn(lock)
  } finally {
    const released = await releaseLock(options.storage, keys, lock).catch(() => false)
    if (!released)
      options.reporter?.warn?.('the lock was taken over by someone else meanwhile; left it to them')
  }
}

/** Record `hot` under `history/`, point the fleet at it, and (unless `wait: false`) wait for the machines. */
export async function deploy(
  hot: HotUpgrade,
  options: DeployOptions,
  keys: RelupKeys,
  lock: HeldLock,
  started: number,
  artifactReused: boolean,
): Promise<PublishOutcome> {
  const { storage, reporter } = options
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const outcome = (
    fields: Pick<PublishOutcome, 'outcomes' | 'missing' | 'waited' | 'ok'>,
  ): PublishOutcome => ({
    upgrade: hot,
    artifactReused,
    ...fields,
    replacedLock: lock.replaced?.owner ?? null,
    durationMs: performance.now() - started,
  })
  // Expected machines are read before the pointer moves, so a fast machine is not missed.
  const expected = options.expect === undefined ? await expectedMachines(storage, keys, hot.baseRef) : []
  await writeDocument(storage, keys.history(hot.upgradeId), hot, { ifNoneMatch: '*' })
  await movePointer(storage, keys, options.app, hot)
  reporter?.step?.(`pointer moved to ${hot.version} (upgrade ${hot.upgradeId})`)
  if (options.wait === false) return outcome({ outcomes: [], missing: 0, waited: false, ok: true })

  const target = options.expect ?? expected.length
  if (target === 0)
    reporter?.warn?.(`no machine on base ${hot.baseRef} reported recently: nothing to wait for`)
  else
    reporter?.step?.(
      `waiting for ${target} machine${target === 1 ? '' : 's'} on base ${hot.baseRef} (timeout ${Math.round(timeoutMs / 1000)} s)`,
    )
  const outcomes = await waitForResults(storage, keys, expected, {
    upgradeId: hot.upgradeId,
    baseRef: hot.baseRef,
    expect: options.expect,
    timeoutMs,
    pollMs: options.pollMs,
    onProgress: reporter?.progress,
    onResult: reporter?.result,
  })
  const missing = Math.max(0, target - outcomes.length)
  const ok = missing === 0 && outcomes.length >= target && outcomes.every((o) => o.status === 'completed')
  return outcome({ outcomes, missing, waited: true, ok })
}
