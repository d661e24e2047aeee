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

/** The most keys one `list` page holds (and the default page size). */
export const LIST_LIMIT = 1000

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
