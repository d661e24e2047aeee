import { createHash, randomBytes } from 'node:crypto'

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/**
 * A new upgrade id: a ULID (48-bit millisecond time + 80 random bits, Crockford base32), so
 * ids sort by publish time, which is what result cleanup and `status` rely on.
 */
export function newUpgradeId(now: number = Date.now(), random: Uint8Array = randomBytes(10)): string {
  let time = ''
  let t = now
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time
    t = Math.floor(t / 32)
  }
  let bits = 0n
  for (const byte of random.subarray(0, 10)) bits = (bits << 8n) | BigInt(byte)
  let rand = ''
  for (let i = 0; i < 16; i++) {
    rand = CROCKFORD[Number(bits & 31n)] + rand
    bits >>= 5n
  }
  return time + rand
}

/**
 * Derive an upgrade id from a source ref the way FlyDeploy does: a Fly image ref such as
 * `registry.fly.io/app:deployment-01K…` gives its ULID; anything else gives the first 16 hex
 * characters of its sha256.
 */
export function upgradeIdFromRef(ref: string): string {
  const match = /deployment-([0-9A-HJKMNP-TV-Z]{26})/.exec(ref)
  if (match) return match[1]!
  return createHash('sha256').update(ref).digest('hex').slice(0, 16)
}

/** A random token for lock ownership (url-safe, 128 bits). */
export function newToken(): string {
  return randomBytes(16).toString('base64url')
}
