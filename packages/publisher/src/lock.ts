/**
 * The publisher's deploy lock: taken create-only with a random owner token, an expiry and the
 * process that holds it; taken over only when expired, forced, or left by a process that died on
 * this host (with compare-and-swap, so two takers cannot both win); read back after every write
 * (a store that ignores conditional writes is caught here); released only by its owner.
 */
import { hostname, userInfo } from 'node:os'
import {
  DocumentError,
  isLockExpired,
  type LockDocument,
  newToken,
  parseLock,
  type RelupKeys,
  readDocument,
  type Storage,
  writeDocument,
} from '@relup/core'
import { LockHeldError, LockUnreadableError, WriteLostError } from './errors.js'

/** Why a lock was taken over from its holder. */
export type LockReplaceReason = 'expired' | 'forced' | 'dead-process'

/** Whose lock a publisher replaced, and why (its token is left out: it is the holder's secret). */
export interface ReplacedLock {
  owner: string
  purpose: string
  acquiredAt: string
  expiresAt: string
  pid?: number | undefined
  host?: string | undefined
  reason: LockReplaceReason
}

export interface HeldLock {
  document: LockDocument
  etag: string
  /** Whose lock this replaced (expired, forced, or its process died on this host). */
  replaced: ReplacedLock | null
}

export interface AcquireLockOptions {
  /** For the messages of a `LockHeldError` / `LockUnreadableError`. */
  app: string
  /** What the lock is for, shown to whoever finds it held ("publish v1.4.2"). */
  purpose: string
  ttlMs: number
  /** Take the lock over even when it is held and not expired. */
  force: boolean
  /** Default: `whoAmI()`. */
  owner?: string | undefined
}

/** What `releaseLock` found. */
export type ReleaseLockOutcome =
  | { status: 'released' }
  /** Someone else's lock is there now (forced, or their create-only write was not refused). */
  | { status: 'taken-over'; by: LockDocument }
  /** No lock is there any more (removed with `relup unlock`, or expired and released by another). */
  | { status: 'gone' }

/** What `breakLock` found and did. */
export type BreakLockOutcome =
  | { status: 'removed'; lock: LockDocument }
  /** The lock could not be parsed: removed, since it would block every publisher. */
  | { status: 'removed-unreadable' }
  | { status: 'free' }
  /** Someone took or released the lock between the read and the delete: nothing was removed. */
  | { status: 'changed' }

/** `RELUP_PUBLISHER`, `GITHUB_ACTOR` or the OS user, at this host. */
export function whoAmI(): string {
  let user = process.env.RELUP_PUBLISHER ?? process.env.GITHUB_ACTOR ?? process.env.USER
  if (!user) {
    try {
      user = userInfo().username
    } catch {
      user = 'unknown'
    }
  }
  return `${user}@${hostname()}`
}

/** Whether a process of this host with this pid is running (EPERM: it is, under another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A lock left by a process of this host that is no longer running: nobody will release it. */
export function isLeftByDeadProcess(lock: LockDocument): boolean {
  return (
    lock.host === hostname() &&
    lock.pid !== undefined &&
    lock.pid !== process.pid &&
    !isProcessAlive(lock.pid)
  )
}

function replacedBy(lock: LockDocument, reason: LockReplaceReason): ReplacedLock {
  const { token: _secret, schema: _schema, ...visible } = lock
  return { ...visible, reason }
}

/** The lock as stored; a malformed one is a `LockUnreadableError` that says to run `relup unlock`. */
async function readLock(storage: Storage, keys: RelupKeys, app: string) {
  try {
    return await readDocument(storage, keys.lock, parseLock)
  } catch (error) {
    if (error instanceof DocumentError) throw new LockUnreadableError(app, error.message)
    throw error
  }
}

/** What the lock's holder should see when the store holds something else than it wrote. */
function lostLockMessage(storage: Storage, ours: LockDocument, now: LockDocument | null): string {
  const what = now
    ? `${now.owner} holds it (${now.purpose || 'no purpose given'}, since ${now.acquiredAt})`
    : 'no lock is there any more'
  return (
    `the deploy lock this publisher took at ${ours.acquiredAt} is no longer its own: ${what}. ` +
    `Either it was taken over (--force, relup unlock), or ${storage.name} ignores conditional writes ` +
    '(If-None-Match / If-Match) and two publishers both got the lock: run `relup doctor` against this storage. '
  )
}

/**
 * Check that the lock in storage is still `held`: read it back, the token must match. Throws a
 * `WriteLostError` (with `context`: what was and was not done) when it is not.
 */
export async function verifyLock(
  storage: Storage,
  keys: RelupKeys,
  app: string,
  held: HeldLock,
  context: string,
): Promise<void> {
  const read = await readLock(storage, keys, app)
  const now = read.status === 'ok' ? read.document : null
  if (now?.token === held.document.token) return
  throw new WriteLostError(lostLockMessage(storage, held.document, now) + context)
}

export async function acquireLock(
  storage: Storage,
  keys: RelupKeys,
  options: AcquireLockOptions,
): Promise<HeldLock> {
  const now = new Date()
  const document: LockDocument = {
    schema: 1,
    owner: options.owner ?? whoAmI(),
    token: newToken(),
    purpose: options.purpose,
    acquiredAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
    pid: process.pid,
    host: hostname(),
  }
  const taken = async (etag: string, replaced: ReplacedLock | null): Promise<HeldLock> => {
    const held = { document, etag, replaced }
    await verifyLock(storage, keys, options.app, held, 'Nothing was published.')
    return held
  }
  for (let round = 0; round < 5; round++) {
    const created = await writeDocument(storage, keys.lock, document, { ifNoneMatch: '*' })
    if (created.status === 'ok') return taken(created.etag, null)
    const existing = await readLock(storage, keys, options.app)
    if (existing.status !== 'ok') continue // released meanwhile: try again
    // A retried create whose first attempt landed reports a failure although we won.
    if (existing.document.token === document.token) return taken(existing.etag, null)
    const reason: LockReplaceReason | null = isLockExpired(existing.document)
      ? 'expired'
      : isLeftByDeadProcess(existing.document)
        ? 'dead-process'
        : options.force
          ? 'forced'
          : null
    if (reason === null) throw new LockHeldError(options.app, existing.document)
    const swapped = await writeDocument(storage, keys.lock, document, { ifMatch: existing.etag })
    if (swapped.status === 'ok') return taken(swapped.etag, replacedBy(existing.document, reason))
  }
  const current = await readLock(storage, keys, options.app)
  if (current.status === 'ok') throw new LockHeldError(options.app, current.document)
  throw new Error('could not take the deploy lock after 5 rounds; try again')
}

/**
 * Release the lock if it is still ours, and say what was found when it is not. Storage errors
 * are thrown: the caller decides how long to retry (the lock expires on its own).
 */
export async function releaseLock(
  storage: Storage,
  keys: RelupKeys,
  held: HeldLock,
): Promise<ReleaseLockOutcome> {
  const found = async (): Promise<ReleaseLockOutcome> => {
    const current = await readDocument(storage, keys.lock, parseLock).catch((error: unknown) => {
      if (error instanceof DocumentError) return null
      throw error
    })
    if (current === null) return { status: 'gone' } // unreadable: not ours
    if (current.status !== 'ok') return { status: 'gone' }
    return { status: 'taken-over', by: current.document }
  }
  if (storage.capabilities.conditionalDelete) {
    const deleted = await storage.delete(keys.lock, { ifMatch: held.etag })
    return deleted.status === 'ok' ? { status: 'released' } : found()
  }
  // Without conditional deletes, check the token first (a small window remains; documented).
  const current = await readDocument(storage, keys.lock, parseLock).catch(() => null)
  if (current?.status !== 'ok' || current.document.token !== held.document.token) return found()
  await storage.delete(keys.lock)
  return { status: 'released' }
}

/**
 * Remove whoever's lock is there (after a publisher crashed). Only safe when no publish is really
 * running: a running one would no longer be protected.
 */
export async function breakLock(storage: Storage, keys: RelupKeys): Promise<BreakLockOutcome> {
  const read = await readDocument(storage, keys.lock, parseLock).catch(() => null)
  if (read === null) {
    await storage.delete(keys.lock)
    return { status: 'removed-unreadable' }
  }
  if (read.status !== 'ok') return { status: 'free' }
  const options = storage.capabilities.conditionalDelete ? { ifMatch: read.etag } : {}
  const deleted = await storage.delete(keys.lock, options)
  return deleted.status === 'ok' ? { status: 'removed', lock: read.document } : { status: 'changed' }
}
