import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type {
  DeleteOptions,
  DeleteResult,
  GetOptions,
  GetResult,
  GetStreamResult,
  ListOptions,
  ListPage,
  PutBody,
  PutOptions,
  PutResult,
  Storage,
  StorageCapabilities,
} from '@relup/core'
import {
  assertOptionsSupported,
  bodyToBytes,
  folderPrefix,
  pageLimit,
  validateKey,
} from '@relup/core/adapter'

export interface MemoryStorageOptions {
  /** Shown in messages; default "memory". */
  name?: string
}

export interface MemoryStorage extends Storage {
  /** How many objects it holds (for tests). */
  readonly size: number
  /** Drop every object. */
  clear(): void
}

interface StoredObject {
  body: Uint8Array
  etag: string
}

const CHUNK = 64 * 1024

const etagOf = (body: Uint8Array) => `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`

/**
 * The reference adapter: every capability, honest under concurrency. Each check-and-write
 * happens in one synchronous block after the body is fully received, so concurrent
 * conditional writes cannot both win.
 */
export function memoryStorage(options: MemoryStorageOptions = {}): MemoryStorage {
  const objects = new Map<string, StoredObject>()
  const capabilities: StorageCapabilities = Object.freeze({
    conditionalGet: true,
    createOnly: true,
    compareAndSwap: true,
    conditionalDelete: true,
  })

  const storage: MemoryStorage = {
    name: options.name ?? 'memory',
    capabilities,

    get size() {
      return objects.size
    },

    clear() {
      objects.clear()
    },

    async get(key: string, getOptions?: GetOptions): Promise<GetResult> {
      validateKey(key)
      assertOptionsSupported(storage, getOptions, 'get')
      const object = objects.get(key)
      if (!object) return { status: 'not-found' }
      if (getOptions?.ifNoneMatch !== undefined && getOptions.ifNoneMatch === object.etag) {
        return { status: 'not-modified' }
      }
      return { status: 'ok', etag: object.etag, body: object.body.slice() }
    },

    async getStream(key: string, getOptions?: GetOptions): Promise<GetStreamResult> {
      const result = await storage.get(key, getOptions)
      if (result.status !== 'ok') return result
      const { body } = result
      function* chunks() {
        for (let offset = 0; offset < body.byteLength; offset += CHUNK)
          yield body.subarray(offset, offset + CHUNK)
      }
      return {
        status: 'ok',
        etag: result.etag,
        size: body.byteLength,
        body: Readable.from(chunks(), { objectMode: false }),
      }
    },

    async put(key: string, body: PutBody, putOptions?: PutOptions): Promise<PutResult> {
      validateKey(key)
      assertOptionsSupported(storage, putOptions, 'put')
      const bytes = (await bodyToBytes(body)).slice()
      // From here to the write is synchronous: the check and the write are one atomic step.
      const existing = objects.get(key)
      if (putOptions?.ifNoneMatch === '*' && existing) return { status: 'precondition-failed' }
      if (putOptions?.ifMatch !== undefined && existing?.etag !== putOptions.ifMatch) {
        return { status: 'precondition-failed' }
      }
      const etag = etagOf(bytes)
      objects.set(key, { body: bytes, etag })
      return { status: 'ok', etag }
    },

    async list(prefix: string, listOptions: ListOptions = {}): Promise<ListPage> {
      const folder = folderPrefix(prefix)
      const limit = pageLimit(listOptions.limit)
      const keys = [...objects.keys()]
        .filter((k) => k.startsWith(folder) && (listOptions.cursor === undefined || k > listOptions.cursor))
        .sort()
      const page = keys.slice(0, limit)
      const items = page.map((key) => {
        const object = objects.get(key)!
        return { key, size: object.body.byteLength, etag: object.etag }
      })
      return keys.length > limit ? { items, cursor: page[page.length - 1] } : { items }
    },

    async delete(key: string, deleteOptions?: DeleteOptions): Promise<DeleteResult> {
      validateKey(key)
      assertOptionsSupported(storage, deleteOptions, 'delete')
      const existing = objects.get(key)
      if (deleteOptions?.ifMatch !== undefined && existing?.etag !== deleteOptions.ifMatch) {
        return existing ? { status: 'precondition-failed' } : { status: 'ok' }
      }
      objects.delete(key)
      return { status: 'ok' }
    },

    async close() {},
  }
  return storage
}
