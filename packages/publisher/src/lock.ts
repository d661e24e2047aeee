/**
 * The publisher's deploy lock: taken create-only with a random owner token and an expiry, taken
 * over only when expired or forced (with compare-and-swap, so two forcers cannot both win), and
 * released only by its owner.
 */
import { hostname, userInfo } from 'node:os'
import {
  isLockExpired,
  type LockDocument,
  newToken,
  parseLock,
  type RelupKeys,
  readDocument,
  type Storage,
  writeDocument,
} from '@relup/core'
import { LockHeldError } from './errors.js'

export interface HeldLock {
  document: LockDocument
  etag: string
  /** Whose lock this replaced (when expired or forced). */
  replaced: LockDocument | null
}

export interface AcquireLockOptions {
  /** For the message of a `LockHeldError`. */
  app: string
  /** What the lock is for, shown to whoever finds it held ("publish v1.4.2"). */
  purpose: string
  ttlMs: number
  /** Take the lock over even when it is held and not expired. */
  force: boolean
  /** Default: `whoAmI()`. */
  owner?: string | undefined
}

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
  }
  for (let round = 0; round < 5; round++) {
    const created = await writeDocument(storage, keys.lock, document, { ifNoneMatch: '*' })
    if (created.status === 'ok') return { document, etag: created.etag, replaced: null }
    const existing = await readDocument(storage, keys.lock, parseLock).catch(() => null)
    if (existing === null || existing.status !== 'ok') continue // released meanwhile, or unreadable: try again
    // A retried create whose first attempt landed reports a failure although we won.
    if (existing.document.token === document.token) return { document, etag: existing.etag, replaced: null }
    if (!options.force && !isLockExpired(existing.document))
      throw new LockHeldError(options.app, existing.document)
    const taken = await writeDocument(storage, keys.lock, document, { ifMatch: existing.etag })
    if (taken.status === 'ok') return { document, etag: taken.etag, replaced: existing.document }
  }
  const current = await readDocument(storage, keys.lock, parseLock)
  if (current.status === 'ok') throw new LockHeldError(options.app, current.document)
  throw new Error('could not take the deploy lock after 5 rounds; try again')
}

/** Release the lock if it is still ours. Returns false when someone took it over meanwhile. */
export async function releaseLock(storage: Storage, keys: RelupKeys, held: HeldLock): Promise<boolean> {
  if (storage.capabilities.conditionalDelete) {
    return (await storage.delete(keys.lock, { ifMatch: held.etag })).status === 'ok'
  }
  // Without conditional deletes, check the token first (a small window remains; documented).
  const current = await readDocument(storage, keys.lock, parseLock).catch(() => null)
  if (current?.status !== 'ok' || current.document.token !== held.document.token) return false
  await storage.delete(keys.lock)
  return true
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
