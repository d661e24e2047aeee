/**
 * The storage contract. Object storage is the only channel between the publisher and the
 * machines, so the contract is small and exact: expected outcomes (not found, not modified,
 * precondition failed) are return values; transport failures throw `StorageTransportError`;
 * a precondition the adapter cannot honour throws `UnsupportedCapabilityError`, never
 * silently ignored.
 *
 * Keys are `/`-separated strings. Adapters must accept any key made of non-empty segments
 * other than `.` and `..` (unicode and spaces included) and reject the rest with
 * `InvalidKeyError`.
 */
import type { Readable } from 'node:stream'
import { InvalidKeyError, UnsupportedCapabilityError } from './errors.js'

export interface StorageCapabilities {
  /** `get`/`getStream` with `ifNoneMatch` answer `not-modified` without a body. */
  conditionalGet: boolean
  /** `put` with `ifNoneMatch: '*'` succeeds only when the key does not exist, atomically. */
  createOnly: boolean
  /** `put` with `ifMatch` succeeds only when the current etag matches, atomically. */
  compareAndSwap: boolean
  /** `delete` with `ifMatch` deletes only when the current etag matches. */
  conditionalDelete: boolean
}

export type StorageCapability = keyof StorageCapabilities

export interface GetOptions {
  /** The etag the caller already has: a match answers `not-modified` and costs no body. */
  ifNoneMatch?: string | undefined
  signal?: AbortSignal | undefined
}

export type GetResult =
  | { status: 'ok'; etag: string; body: Uint8Array }
  | { status: 'not-modified' }
  | { status: 'not-found' }

export type GetStreamResult =
  | {
      status: 'ok'
      etag: string
      /** Size in bytes when the backend says so. */
      size: number | undefined
      /** Consume it or destroy it: an abandoned stream may hold a connection open. */
      body: Readable
    }
  | { status: 'not-modified' }
  | { status: 'not-found' }

export type PutBody = Uint8Array | string | AsyncIterable<Uint8Array>

export interface PutOptions {
  /** `'*'`: create-only, fails if the key exists. */
  ifNoneMatch?: '*' | undefined
  /** Compare-and-swap: fails unless the key exists with this etag. */
  ifMatch?: string | undefined
  contentType?: string | undefined
  /** Byte length of a streamed body, when known (some backends need it to stream). */
  contentLength?: number | undefined
  signal?: AbortSignal | undefined
}

export type PutResult = { status: 'ok'; etag: string } | { status: 'precondition-failed' }

export interface ListOptions {
  /** From the previous page; absent for the first page. */
  cursor?: string | undefined
  /** Page size, at most 1000 (the default). */
  limit?: number | undefined
}

export interface ListItem {
  key: string
  size: number
  etag?: string | undefined
}

export interface ListPage {
  /** Full keys, in ascending order. */
  items: ListItem[]
  /** Present when there are more pages. */
  cursor?: string | undefined
}

export interface DeleteOptions {
  /** Delete only if the current etag matches (requires `conditionalDelete`). */
  ifMatch?: string | undefined
}

/** Deleting a missing key is `ok`: delete is idempotent. */
export type DeleteResult = { status: 'ok' } | { status: 'precondition-failed' }

export interface Storage {
  /** For messages: "s3://bucket/prefix", "file:///srv/relup", "memory". */
  readonly name: string
  readonly capabilities: StorageCapabilities
  /** Read a small object (a document) whole. */
  get(key: string, options?: GetOptions): Promise<GetResult>
  /** Read a large object (an artifact) as a stream, never buffered whole. */
  getStream(key: string, options?: GetOptions): Promise<GetStreamResult>
  put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult>
  /**
   * Keys inside the folder `prefix` (a trailing `/` is implied, so `a/b` never matches
   * `a/bc/x`); `''` lists everything.
   */
  list(prefix: string, options?: ListOptions): Promise<ListPage>
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult>
  /** Release clients, sockets and timers. */
  close?(): Promise<void>
}

export const LIST_LIMIT = 1000

/** Throw `UnsupportedCapabilityError` unless the adapter declared `capability`. */
export function assertCapability(
  storage: Pick<Storage, 'name' | 'capabilities'>,
  capability: StorageCapability,
): void {
  if (!storage.capabilities[capability]) throw new UnsupportedCapabilityError(storage.name, capability)
}

/** Checks the options of a call against the declared capabilities (for adapter authors). */
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

/** Every key under a folder, page after page. */
export async function* listAll(
  storage: Storage,
  prefix: string,
  options: { limit?: number } = {},
): AsyncGenerator<ListItem> {
  let cursor: string | undefined
  do {
    const page = await storage.list(prefix, { cursor, limit: options.limit })
    yield* page.items
    cursor = page.cursor
  } while (cursor !== undefined)
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
