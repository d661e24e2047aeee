/**
 * Canonical JSON (sorted keys, no whitespace, `undefined` dropped): the exact bytes a signature
 * covers, independent of how a document was formatted or which fields came first.
 */
import type { HotUpgrade } from './pointer.js'

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError('canonicalJson: non-finite number')
    return JSON.stringify(value)
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

const SIGNING_DOMAIN = 'relup-hot-upgrade-v1\n'

/** The bytes an Ed25519 signature of a hot upgrade covers: everything but the signature itself. */
export function signingPayload(hot: HotUpgrade): Uint8Array {
  const { signature: _signature, ...unsigned } = hot
  return new TextEncoder().encode(SIGNING_DOMAIN + canonicalJson(unsigned))
}
