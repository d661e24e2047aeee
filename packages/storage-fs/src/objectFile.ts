/**
 * One object is one file: a fixed 128-byte text header (format, sha256, size) followed by the
 * bytes. The etag lives in the same file as the content and both are replaced by one rename,
 * so they can never disagree, and a conditional GET reads 128 bytes instead of re-hashing.
 *
 *     relup-object 1 sha256=<64 hex> size=<bytes>␠␠…␠\n
 */
import { createHash } from 'node:crypto'
import { constants, type Stats } from 'node:fs'
import { type FileHandle, mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { PutBody } from '@relup/core'

export const HEADER_SIZE = 128
const HEADER = /^relup-object 1 sha256=([0-9a-f]{64}) size=(\d{1,15}) *\n$/
const PLACEHOLDER = Buffer.alloc(HEADER_SIZE, ' ')
/** Small chunks are gathered into writes of this size; larger ones are written as they come. */
const BATCH_BYTES = 256 * 1024
// Never follow a link planted where an object should be (not available on Windows).
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)

export const etagOf = (sha256: string) => `"${sha256}"`

export function formatHeader(sha256: string, size: number): Buffer {
  const line = `relup-object 1 sha256=${sha256} size=${size}`
  return Buffer.from(`${line.padEnd(HEADER_SIZE - 1, ' ')}\n`, 'latin1')
}

/** A file where an object should be that is not one (truncated, or not written by relup). */
export class CorruptObjectError extends Error {
  readonly path: string

  constructor(path: string, problem: string) {
    super(`${path} is not a valid relup object: ${problem}`)
    this.path = path
  }
}

export interface OpenObject {
  handle: FileHandle
  etag: string
  /** Bytes of content (after the header). */
  size: number
  path: string
}

const isMissing = (error: unknown) =>
  (error as NodeJS.ErrnoException)?.code === 'ENOENT' || (error as NodeJS.ErrnoException)?.code === 'ENOTDIR'

/** Open an object and read its header; `undefined` when there is none. The caller closes `handle`. */
export async function openObject(path: string): Promise<OpenObject | undefined> {
  let handle: FileHandle
  try {
    handle = await open(path, READ_FLAGS)
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
  try {
    const header = Buffer.alloc(HEADER_SIZE)
    const { bytesRead } = await handle.read(header, 0, HEADER_SIZE, 0)
    const match = bytesRead === HEADER_SIZE ? HEADER.exec(header.toString('latin1')) : null
    if (!match) throw new CorruptObjectError(path, 'its header is missing or malformed')
    return { handle, etag: etagOf(match[1]!), size: Number(match[2]), path }
  } catch (error) {
    await handle.close()
    throw error
  }
}

/** A file that stands where an object belongs but cannot be read as one: it exists, and matches no etag. */
export const UNREADABLE = Symbol('unreadable object')

/**
 * The etag of the object at `path`, for a precondition: `undefined` when there is none,
 * `UNREADABLE` for a corrupt file (so that a plain put can still replace it).
 */
export async function currentEtag(path: string): Promise<string | typeof UNREADABLE | undefined> {
  try {
    const object = await openObject(path)
    await object?.handle.close()
    return object?.etag
  } catch (error) {
    if (error instanceof CorruptObjectError) return UNREADABLE
    throw error
  }
}

/** Throws unless the file holds exactly the bytes its header announces. */
export function assertComplete(object: OpenObject, stats: Stats): void {
  if (stats.size !== HEADER_SIZE + object.size) {
    throw new CorruptObjectError(
      object.path,
      `its header announces ${object.size} bytes but the file holds ${stats.size - HEADER_SIZE}`,
    )
  }
}

/** The whole content of an open object. */
export async function readContent(object: OpenObject): Promise<Uint8Array> {
  assertComplete(object, await object.handle.stat())
  // A plain Uint8Array (not a Buffer), like every other adapter returns.
  const body = new Uint8Array(object.size)
  let offset = 0
  while (offset < body.byteLength) {
    const { bytesRead } = await object.handle.read(
      body,
      offset,
      body.byteLength - offset,
      HEADER_SIZE + offset,
    )
    if (bytesRead === 0) throw new CorruptObjectError(object.path, 'it ended before its announced size')
    offset += bytesRead
  }
  return body
}

const sourceErrors = new WeakSet<object>()

/** Whether `error` came from the caller's body rather than from the filesystem. */
export const isSourceError = (error: unknown) =>
  typeof error === 'object' && error !== null && sourceErrors.has(error)

async function* chunksOf(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk
  } catch (error) {
    if (typeof error === 'object' && error !== null) sourceErrors.add(error)
    throw error
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let offset = 0
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset, position + offset)
    offset += bytesWritten
  }
}

/**
 * Write `body` as a complete object file at `tempPath` (hashing while streaming), flushed to
 * disk. Memory stays bounded by one batch whatever the size. On failure the file is removed
 * by the caller.
 */
export async function stageObject(
  tempPath: string,
  body: PutBody,
  signal: AbortSignal | undefined,
): Promise<{ etag: string; size: number }> {
  const handle = await open(tempPath, 'wx').catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error
    // Someone removed the temp directory by hand: recreate it.
    await mkdir(dirname(tempPath), { recursive: true })
    return open(tempPath, 'wx')
  })
  try {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      // The whole body is here: hash it first and write the header and the bytes in one call
      // (documents are most writes, and each syscall through the threadpool costs more than they do).
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      const header = formatHeader(sha256, bytes.byteLength)
      const written = await handle.writev([header, bytes], 0)
      if (written.bytesWritten < HEADER_SIZE + bytes.byteLength) {
        // A short write (rare: a full disk reports ENOSPC instead): finish it the long way.
        await writeAll(
          handle,
          Buffer.concat([header, bytes]).subarray(written.bytesWritten),
          written.bytesWritten,
        )
      }
      await handle.sync()
      return { etag: etagOf(sha256), size: bytes.byteLength }
    }
    await writeAll(handle, PLACEHOLDER, 0)
    const hash = createHash('sha256')
    let position = HEADER_SIZE
    let batch: Buffer | undefined
    let batched = 0
    const flush = async () => {
      if (batched === 0) return
      await writeAll(handle, batch!.subarray(0, batched), position)
      position += batched
      batched = 0
    }
    for await (const chunk of chunksOf(body)) {
      signal?.throwIfAborted()
      hash.update(chunk)
      if (chunk.byteLength >= BATCH_BYTES / 2) {
        await flush()
        await writeAll(handle, chunk, position)
        position += chunk.byteLength
      } else {
        if (batched + chunk.byteLength > BATCH_BYTES) await flush()
        batch ??= Buffer.allocUnsafe(BATCH_BYTES)
        // Copied: a source may reuse its buffer once we ask for the next chunk.
        batch.set(chunk, batched)
        batched += chunk.byteLength
      }
    }
    await flush()
    const sha256 = hash.digest('hex')
    const size = position - HEADER_SIZE
    await writeAll(handle, formatHeader(sha256, size), 0)
    await handle.sync()
    return { etag: etagOf(sha256), size }
  } finally {
    await handle.close()
  }
}
