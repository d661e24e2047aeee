/**
 * A directory is the bucket. Each object is one file (`<key>.relup`: a 128-byte header with
 * its sha256 etag, then the bytes), written to `<dir>/.relup/tmp/`, flushed, and renamed into
 * place, so a reader sees the old object or the new one, never half of one. Conditional
 * writes and deletes take a per-key lock file (`<dir>/.relup/locks/`) around check-and-rename,
 * so they hold across processes, not only within one.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs'
import { mkdir, open, rename, rmdir, unlink } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import {
  ConfigError,
  type DeleteOptions,
  type DeleteResult,
  type GetOptions,
  type GetResult,
  type GetStreamResult,
  LIST_LIMIT,
  type ListOptions,
  type ListPage,
  type PutBody,
  type PutOptions,
  type PutResult,
  type Storage,
  type StorageCapabilities,
  StorageTransportError,
} from '@relup/core'
import { assertOptionsSupported, folderPrefix } from '@relup/core/adapter'
import { errorCode, isTransient, toStorageError } from './fsErrors.js'
import { hostTag, isProcessRunning, keyLocks } from './keyLock.js'
import { folderPath, objectPath, RESERVED_PREFIX } from './keyPath.js'
import { listObjects } from './listing.js'
import {
  assertComplete,
  currentEtag,
  HEADER_SIZE,
  openObject,
  readContent,
  stageObject,
} from './objectFile.js'

export interface FsStorageOptions {
  /** The bucket: a directory, created if missing. */
  dir: string
  /** Shown in messages; default `file://<absolute dir>`. */
  name?: string
  /**
   * A lock file older than this is broken even if its holder might be alive (a holder whose
   * process is gone is broken at once). Locks are held for milliseconds. Default 30,000.
   */
  staleLockMs?: number
  /** How long a write waits for a key's lock before failing with a retryable error. Default 60,000. */
  lockTimeoutMs?: number
}

export interface FsStorage extends Storage {
  /** The absolute path of the bucket directory. */
  readonly dir: string
  /** Waits for operations in flight (they release their locks and temp files) and ends open read streams. */
  close(): Promise<void>
}

/** Where the adapter keeps its own files, inside the bucket: keys whose first segment starts with `.relup` are refused. */
const STATE_DIR = RESERVED_PREFIX
/** A temp file not touched for this long belongs to a dead writer, whoever it was. */
const ABANDONED_TEMP_MS = 60 * 60 * 1000
const TRANSIENT_RETRIES = 3
/**
 * Each chunk of a read stream is a fresh buffer that waits for the GC: 16 KB chunks keep that
 * garbage near 20 MB while an artifact downloads inside a live server (64 KB: near 40 MB), and
 * still read 200 MB/s, more than verifying and extracting it can use.
 */
const READ_CHUNK_BYTES = 16 * 1024
/** How often a rename is retried when a concurrent delete prunes the folder it goes into. */
const PRUNED_FOLDER_RETRIES = 5

const NOT_FOUND = Object.freeze({ status: 'not-found' } as const)
const NOT_MODIFIED = Object.freeze({ status: 'not-modified' } as const)
const PRECONDITION_FAILED = Object.freeze({ status: 'precondition-failed' } as const)
const DELETED = Object.freeze({ status: 'ok' } as const)

/** `fsync` a directory so a rename or unlink inside it survives a power cut, where the platform allows it. */
async function syncDirectory(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(path, 'r')
    await handle.sync()
  } catch (error) {
    // Windows and some filesystems cannot open or sync a directory; nothing more can be done there.
    if (!['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'ENOTSUP', 'EBADF'].includes(errorCode(error) ?? ''))
      throw error
  } finally {
    await handle?.close()
  }
}

/** Temp files are named `<host tag>-<pid>-<random>.tmp`, so a later process can tell a dead writer's leftovers. */
function sweepTempFiles(tempDir: string): void {
  for (const name of readdirSync(tempDir)) {
    const path = join(tempDir, name)
    try {
      const [tag, pid] = name.split('-')
      const deadWriter = tag === hostTag && Number(pid) !== process.pid && !isProcessRunning(Number(pid))
      if (deadWriter || Date.now() - statSync(path).mtimeMs > ABANDONED_TEMP_MS) unlinkSync(path)
    } catch {
      // Removed by another process meanwhile, or not ours to remove.
    }
  }
}

export function fsStorage(options: FsStorageOptions): FsStorage {
  if (typeof options?.dir !== 'string' || options.dir === '') {
    throw new ConfigError(
      'dir',
      'fsStorage needs the directory to use as the bucket: fsStorage({ dir: "/var/lib/relup" })',
    )
  }
  for (const option of ['staleLockMs', 'lockTimeoutMs'] as const) {
    const value = options[option]
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new ConfigError(
        option,
        `fsStorage option ${option} must be a positive number of milliseconds, got ${value}`,
      )
    }
  }
  const dir = resolve(options.dir)
  const name = options.name ?? pathToFileURL(dir).href
  const tempDir = join(dir, STATE_DIR, 'tmp')
  const locks = keyLocks({
    dir: join(dir, STATE_DIR, 'locks'),
    tempDir,
    staleLockMs: options.staleLockMs ?? 30_000,
    lockTimeoutMs: options.lockTimeoutMs ?? 60_000,
  })
  try {
    mkdirSync(tempDir, { recursive: true })
    mkdirSync(join(dir, STATE_DIR, 'locks'), { recursive: true })
    sweepTempFiles(tempDir)
  } catch (error) {
    throw toStorageError(name, 'open', dir, error)
  }

  const capabilities: StorageCapabilities = Object.freeze({
    conditionalGet: true,
    createOnly: true,
    compareAndSwap: true,
    conditionalDelete: true,
  })
  const openStreams = new Set<Readable>()
  const inFlight = new Set<Promise<unknown>>()
  let closed = false

  /** Run one operation: refuse after close, type every error, and let `close()` wait for it. */
  function run<T>(operation: string, key: string, fn: () => Promise<T>): Promise<T> {
    if (closed) {
      return Promise.reject(
        new StorageTransportError(`${name} is closed; create a new fsStorage() to use the directory again`, {
          operation,
          key,
          retryable: false,
        }),
      )
    }
    const promise = fn().catch((error: unknown) => {
      throw toStorageError(name, operation, key, error)
    })
    inFlight.add(promise)
    const forget = () => inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }

  /** Retry `fn` in place on failures that pass by themselves (EBUSY, EMFILE…); it must be safe to repeat. */
  async function retryTransient<T>(fn: () => Promise<T>, canRetry: () => boolean = () => true): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await fn()
      } catch (error) {
        if (!isTransient(error) || retry >= TRANSIENT_RETRIES || !canRetry()) throw error
        await sleep(10 * 4 ** retry)
      }
    }
  }

  /** Move a staged file to `path`, creating its folders, and make the new name durable. */
  async function commit(tempPath: string, path: string, onRenamed: () => void): Promise<void> {
    const folder = dirname(path)
    let created: string | undefined
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tempPath, path)
        onRenamed()
        break
      } catch (error) {
        // The folder is missing: a first key in it, or a concurrent delete pruned it since.
        if (errorCode(error) !== 'ENOENT' || attempt >= PRUNED_FOLDER_RETRIES) throw error
        created = (await mkdir(folder, { recursive: true })) ?? created
      }
    }
    await syncDirectory(folder)
    // New folders are entries of their parents: make those durable too.
    if (created) {
      for (let parent = dirname(folder); parent.length >= dirname(created).length; parent = dirname(parent)) {
        await syncDirectory(parent)
      }
    }
  }

  /** Remove the folders left empty by a delete, up to the bucket; S3 has no empty folders either. */
  async function pruneEmptyFolders(from: string): Promise<void> {
    for (let folder = from; folder.startsWith(dir + sep); folder = dirname(folder)) {
      try {
        await rmdir(folder)
      } catch {
        return // not empty (or already gone): its parents are not empty either
      }
    }
  }

  const storage: FsStorage = {
    name,
    dir,
    capabilities,

    async get(key: string, getOptions?: GetOptions): Promise<GetResult> {
      const path = objectPath(dir, key)
      assertOptionsSupported(storage, getOptions, 'get')
      getOptions?.signal?.throwIfAborted()
      return run('get', key, () =>
        retryTransient(async () => {
          const object = await openObject(path)
          if (!object) return NOT_FOUND
          try {
            if (getOptions?.ifNoneMatch !== undefined && getOptions.ifNoneMatch === object.etag)
              return NOT_MODIFIED
            return { status: 'ok', etag: object.etag, body: await readContent(object) }
          } finally {
            await object.handle.close()
          }
        }),
      )
    },

    async getStream(key: string, getOptions?: GetOptions): Promise<GetStreamResult> {
      const path = objectPath(dir, key)
      assertOptionsSupported(storage, getOptions, 'get')
      getOptions?.signal?.throwIfAborted()
      return run('getStream', key, () =>
        retryTransient(async () => {
          const object = await openObject(path)
          if (!object) return NOT_FOUND
          let body: Readable
          try {
            if (getOptions?.ifNoneMatch !== undefined && getOptions.ifNoneMatch === object.etag) {
              await object.handle.close()
              return NOT_MODIFIED
            }
            assertComplete(object, await object.handle.stat())
            if (object.size === 0) {
              await object.handle.close()
              body = Readable.from([], { objectMode: false })
            } else {
              // Reads through the handle opened above: a rename meanwhile cannot mix two versions.
              body = object.handle.createReadStream({
                start: HEADER_SIZE,
                end: HEADER_SIZE + object.size - 1,
                highWaterMark: READ_CHUNK_BYTES,
              })
            }
          } catch (error) {
            await object.handle.close()
            throw error
          }
          openStreams.add(body)
          body.once('close', () => openStreams.delete(body))
          return { status: 'ok', etag: object.etag, size: object.size, body }
        }),
      )
    },

    async put(key: string, body: PutBody, putOptions?: PutOptions): Promise<PutResult> {
      const path = objectPath(dir, key)
      assertOptionsSupported(storage, putOptions, 'put')
      const signal = putOptions?.signal
      signal?.throwIfAborted()
      const tempPath = join(tempDir, `${hostTag}-${process.pid}-${randomBytes(8).toString('hex')}.tmp`)
      return run('put', key, async () => {
        let renamed = false
        try {
          const { etag } = await stageObject(tempPath, body, signal)
          // Only the check and the rename run under the lock: it is held for milliseconds, whatever the size.
          const checkAndRename = () =>
            locks.withLock(
              key,
              async (): Promise<PutResult> => {
                if (putOptions?.ifNoneMatch !== undefined || putOptions?.ifMatch !== undefined) {
                  const current = await currentEtag(path)
                  if (putOptions.ifNoneMatch === '*' && current !== undefined) return PRECONDITION_FAILED
                  if (putOptions.ifMatch !== undefined && current !== putOptions.ifMatch)
                    return PRECONDITION_FAILED
                }
                await commit(tempPath, path, () => {
                  renamed = true
                })
                return { status: 'ok', etag }
              },
              signal,
            )
          // Once renamed, the write has happened: repeating the check would refuse our own object.
          return await retryTransient(checkAndRename, () => !renamed)
        } finally {
          if (!renamed) await unlink(tempPath).catch(() => {})
        }
      })
    },

    async list(prefix: string, listOptions: ListOptions = {}): Promise<ListPage> {
      const folder = folderPrefix(prefix)
      const path = folderPath(dir, folder)
      const requested = listOptions.limit
      const limit = Number.isFinite(requested)
        ? Math.min(Math.max(1, Math.floor(requested!)), LIST_LIMIT)
        : LIST_LIMIT
      return run('list', prefix, () =>
        retryTransient(async () => {
          // One more than the page: whether it exists decides if there is a next page.
          const items = await listObjects(path, folder, { after: listOptions.cursor, count: limit + 1 })
          if (items.length <= limit) return { items }
          const page = items.slice(0, limit)
          return { items: page, cursor: page[page.length - 1]!.key }
        }),
      )
    },

    async delete(key: string, deleteOptions?: DeleteOptions): Promise<DeleteResult> {
      const path = objectPath(dir, key)
      assertOptionsSupported(storage, deleteOptions, 'delete')
      const checkAndUnlink = () =>
        locks.withLock(key, async (): Promise<DeleteResult> => {
          if (deleteOptions?.ifMatch !== undefined) {
            const current = await currentEtag(path)
            // A missing key is already deleted, whatever version the caller expected.
            if (current === undefined) return DELETED
            if (current !== deleteOptions.ifMatch) return PRECONDITION_FAILED
          }
          try {
            await unlink(path)
          } catch (error) {
            if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return DELETED
            throw error
          }
          // A concurrent delete of the folder's last other object may have pruned it already.
          await syncDirectory(dirname(path)).catch((error: unknown) => {
            if (errorCode(error) !== 'ENOENT') throw error
          })
          await pruneEmptyFolders(dirname(path))
          return DELETED
        })
      return run('delete', key, () => retryTransient(checkAndUnlink))
    },

    async close() {
      closed = true
      for (const stream of openStreams) stream.destroy()
      await Promise.allSettled([...inFlight])
    },
  }
  return storage
}
