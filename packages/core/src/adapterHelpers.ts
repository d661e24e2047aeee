/**
 * Helpers for storage adapter authors (`@relup/core/adapter`): the key rule every adapter
 * applies, the capability checks that turn an unsupported precondition into a throw, page sizes
 * and folder prefixes as the contract defines them, and a put body as bytes.
 */
import { InvalidKeyError, UnsupportedCapabilityError } from './errors.js'
import { LIST_LIMIT, type PutBody, type Storage, type StorageCapability } from './storage.js'

/** Throw `UnsupportedCapabilityError` unless the adapter declared `capability`. */
export function assertCapability(
  storage: Pick<Storage, 'name' | 'capabilities'>,
  capability: StorageCapability,
): void {
  if (!storage.capabilities[capability]) throw new UnsupportedCapabilityError(storage.name, capability)
}

/** Checks the options of a call against the declared capabilities. */
export function assertOptionsSupported(
  storage: Pick<Storage, 'name' | 'capabilities'>,
  options: { ifNoneMatch?: string | undefined; ifMatch?: string | undefined } | undefined,
  operation: 'get' | 'put' | 'delete',
): void {
  if (!options) return
  if (operation === 'get' && options.ifNoneMatch !== undefined) assertCapability(storage, 'conditionalGet')
  if (operation === 'put' && options.ifNoneMatch !== undefined) {
    if (options.ifNoneMatch !== '*') {
      throw new UnsupportedCapabilityError(
        storage.name,
        `put ifNoneMatch "${options.ifNoneMatch}"`,
        "only '*' is defined.",
      )
    }
    assertCapability(storage, 'createOnly')
  }
  if (operation === 'put' && options.ifMatch !== undefined) assertCapability(storage, 'compareAndSwap')
  if (operation === 'put' && options.ifMatch !== undefined && options.ifNoneMatch !== undefined) {
    throw new UnsupportedCapabilityError(
      storage.name,
      'ifMatch together with ifNoneMatch',
      'pass one of them.',
    )
  }
  if (operation === 'delete' && options.ifMatch !== undefined) assertCapability(storage, 'conditionalDelete')
}

/**
 * Validate a key the way every adapter must: non-empty `/`-separated segments, none of them
 * `.` or `..`, no NUL, no leading `/`. Returns the segments.
 */
export function validateKey(key: string): string[] {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidKeyError(String(key), 'it is empty')
  if (key.includes('\0')) throw new InvalidKeyError(key, 'it contains a NUL character')
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'it is absolute (starts with "/")')
  if (/\p{Surrogate}/u.test(key))
    throw new InvalidKeyError(key, 'it contains a lone UTF-16 surrogate (not valid unicode)')
  if (new TextEncoder().encode(key).length > 1024)
    throw new InvalidKeyError(key, 'it is longer than 1024 bytes in UTF-8')
  const segments = key.split('/')
  for (const segment of segments) {
    if (segment === '') throw new InvalidKeyError(key, 'it has an empty segment ("//" or a trailing "/")')
    if (segment === '.' || segment === '..') throw new InvalidKeyError(key, `it has a "${segment}" segment`)
  }
  return segments
}

/** A page size: at most `LIST_LIMIT`, at least 1; anything that is not a number means the default. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return LIST_LIMIT
  return Math.min(Math.max(1, Math.floor(limit)), LIST_LIMIT)
}

/** The folder form of a list prefix: `''` stays `''`, anything else ends with exactly one `/`. */
export function folderPrefix(prefix: string): string {
  if (prefix === '') return ''
  return prefix.endsWith('/') ? prefix : `${prefix}/`
}

/** Bytes of a put body (for adapters that need the whole body, like the memory adapter). */
export async function bodyToBytes(body: PutBody, limit = Number.POSITIVE_INFINITY): Promise<Uint8Array> {
  if (typeof body === 'string') return new TextEncoder().encode(body)
  if (body instanceof Uint8Array) return body
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.byteLength
    if (total > limit) throw new RangeError(`body is larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}
