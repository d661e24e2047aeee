/**
 * `lock.json`: one publisher at a time. Taken create-only, released only by the owner of its
 * token (a conditional delete), and it expires so a crashed publisher cannot block forever.
 */
import { isoDate, nonEmpty } from './patterns.js'
import { literal, number, object, optional, parseWith, type Schema, string } from './schema.js'

export interface LockDocument {
  schema: 1
  /** Who holds it, for humans: `user@host`. */
  owner: string
  /** Random per acquisition: only the holder of the token may release or renew it. */
  token: string
  /** What the holder is doing: "publish v2", "rollback to v1". */
  purpose: string
  acquiredAt: string
  expiresAt: string
  /** The publisher's process and host: a lock left by a process that died on this host can be taken over. */
  pid?: number | undefined
  host?: string | undefined
}

export const lockSchema: Schema<LockDocument> = object<LockDocument>({
  schema: literal(1),
  owner: nonEmpty,
  token: string({ pattern: /^[A-Za-z0-9_-]{16,}$/, what: 'a random token of at least 16 characters' }),
  purpose: string(),
  acquiredAt: isoDate,
  expiresAt: isoDate,
  pid: optional(number({ integer: true, min: 1 })),
  host: optional(string()),
})

export function parseLock(input: unknown, key?: string): LockDocument {
  return parseWith(lockSchema, input, { document: 'lock', key })
}

export const isLockExpired = (lock: LockDocument, now: Date = new Date()) =>
  Date.parse(lock.expiresAt) <= now.getTime()
