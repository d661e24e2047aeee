/**
 * The publisher's lock: taken create-only with a random owner token and an expiry, taken over
 * only when expired or forced (with compare-and-swap, so two forcers cannot both win), and
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
  options: { app: string; purpose: string; ttlMs: number; force: boolean; owner?: string },
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
