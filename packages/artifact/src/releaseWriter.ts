/**
 * Writes the entries tar's Parser emits into a release directory, and nowhere else. Every entry
 * is checked before anything touches the disk: only plain files and directories, with release
 * paths (`releasePathProblem` in @relup/core/release) that do not collide, within the limits.
 * Directories are created one level at a time by this writer, files are opened with
 * O_CREAT|O_EXCL|O_NOFOLLOW, and the writer never creates a link, so no path can lead out of the
 * release.
 *
 * Small files are read whole (at most 64 KiB each) and written in the background, up to 16 at a
 * time, while the Parser moves on: thousands of small modules extract at the speed of the disk,
 * not of one open/write/close round trip after another. Large files stream chunk by chunk.
 */

import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, mkdir, open } from 'node:fs/promises'
import { join, sep } from 'node:path'
import type { ManifestFile } from '@relup/core'
import { type EntryKind, printable, ReleasePaths, releasePathProblem } from '@relup/core/release'
import type { ReadEntry } from 'tar'
import { ArchiveLimitError, isCode, UnsafeArchiveError } from './errors.js'
import type { ArchiveLimits } from './limits.js'
import { TarFormatError } from './tarScanner.js'

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0)
const FILE_MODE = 0o644
const DIR_MODE = 0o755
const SMALL_FILE_BYTES = 64 * 1024
const PARALLEL_WRITES = 16

const REFUSED_TYPES: Record<string, string> = {
  CharacterDevice: 'is a character device',
  BlockDevice: 'is a block device',
  FIFO: 'is a FIFO (named pipe)',
}

export class ReleaseWriter {
  readonly #root: string
  readonly #limits: ArchiveLimits
  readonly #paths = new ReleasePaths()
  #entries = 0
  #totalBytes = 0
  #stopped: Error | undefined
  #stopCurrent: ((reason: Error) => void) | undefined
  readonly #inFlight = new Set<Promise<void>>()
  readonly #onFailure: (error: Error) => void
  /** Digest and size of every file written, by release path. */
  readonly files: Record<string, ManifestFile> = {}

  /** `onFailure` hears of failures of background writes, which no `write` call returns. */
  constructor(root: string, limits: ArchiveLimits, onFailure: (error: Error) => void) {
    this.#root = root
    this.#limits = limits
    this.#onFailure = onFailure
  }

  /** Write one entry. Rejects with `UnsafeArchiveError`, `ArchiveLimitError` or a filesystem error. */
  async write(entry: ReadEntry): Promise<void> {
    const target = this.#admit(entry)
    if (target === null) {
      entry.resume()
      return
    }
    for (const parent of target.parents) await this.#mkdir(parent, entry.path)
    if (target.kind === 'dir') {
      if (!target.exists) await this.#mkdir(target.path, entry.path)
      entry.resume()
      return
    }
    const absolute = this.#absolute(target.path)
    if (entry.size <= SMALL_FILE_BYTES) {
      const chunks: Buffer[] = []
      this.files[target.path] = await this.#drain(entry, (chunk) => {
        chunks.push(chunk)
      })
      await this.#startWrite(entry.path, absolute, Buffer.concat(chunks))
      return
    }
    const handle = await this.#create(entry.path, absolute)
    try {
      this.files[target.path] = await this.#drain(entry, (chunk) => writeAll(handle, chunk))
    } finally {
      await handle.close()
    }
  }

  /** Resolves when every background write has finished (successfully or not). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }

  /** Stop: the entry being copied rejects, and every later `write` too. */
  stop(reason: Error): void {
    this.#stopped ??= reason
    this.#stopCurrent?.(reason)
  }

  /** Checks that need nothing but the header: type, path, limits, collisions. null: the release root itself. */
  #admit(entry: ReadEntry): { path: string; kind: EntryKind; parents: string[]; exists: boolean } | null {
    this.#throwIfStopped()
    const raw = entry.path
    const kind = this.#kind(entry)
    let path = raw
    while (path.startsWith('./')) path = path.slice(2)
    if (kind === 'dir' && path.endsWith('/')) path = path.slice(0, -1)
    if (kind === 'dir' && (path === '' || path === '.')) return null
    const problem = releasePathProblem(path)
    if (problem !== null) throw new UnsafeArchiveError(raw, problem)
    if (kind !== 'file' && kind !== 'dir') throw new UnsafeArchiveError(raw, kind.refused)

    if (++this.#entries > this.#limits.maxEntries) {
      throw new ArchiveLimitError({
        limit: 'maxEntries',
        max: this.#limits.maxEntries,
        entry: raw,
        what: `the archive has more than ${this.#limits.maxEntries} entries`,
        side: 'extract',
      })
    }
    if (kind === 'file') {
      if (entry.size > this.#limits.maxFileBytes) {
        throw new ArchiveLimitError({
          limit: 'maxFileBytes',
          max: this.#limits.maxFileBytes,
          entry: raw,
          what: `a file of ${entry.size} bytes`,
          side: 'extract',
        })
      }
      this.#totalBytes += entry.size
      if (this.#totalBytes > this.#limits.maxTotalBytes) {
        throw new ArchiveLimitError({
          limit: 'maxTotalBytes',
          max: this.#limits.maxTotalBytes,
          entry: raw,
          what: `the files add up to more than ${this.#limits.maxTotalBytes} bytes`,
          side: 'extract',
        })
      }
    }
    const claim = this.#paths.claim(path, kind)
    if ('problem' in claim) throw new UnsafeArchiveError(raw, claim.problem)
    return { path, kind, ...claim }
  }

  #kind(entry: ReadEntry): EntryKind | { refused: string } {
    if (entry.globalExtended !== undefined) return { refused: 'follows a pax global header' }
    switch (entry.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        return 'file'
      case 'Directory':
        return 'dir'
      case 'SymbolicLink':
        return {
          refused:
            `is a symbolic link to ${printable(entry.linkpath ?? '')}; relup releases hold only files and directories ` +
            '(relup pack stores a link inside the release as what it points at, a file or a directory)',
        }
      case 'Link':
        return {
          refused: `is a hard link to ${printable(entry.linkpath ?? '')}; relup releases hold only files and directories`,
        }
      default:
        return { refused: REFUSED_TYPES[entry.type] ?? `has an unsupported entry type (${entry.type})` }
    }
  }

  async #mkdir(path: string, entry: string): Promise<void> {
    this.#throwIfStopped()
    try {
      await mkdir(this.#absolute(path), { mode: DIR_MODE })
    } catch (error) {
      throw isCode(error, 'EEXIST')
        ? new UnsafeArchiveError(entry, `collides with ${printable(path)} written before it`)
        : error
    }
  }

  /**
   * Hand the entry's data to `sink` chunk by chunk, hashing it; the entry is paused while the sink
   * works, so the Parser (and the download) wait for the disk.
   */
  #drain(entry: ReadEntry, sink: (chunk: Buffer) => Promise<void> | void): Promise<ManifestFile> {
    const hash = createHash('sha256')
    let size = 0
    // Chained, and 'end' waits for the last one: Minipass may emit 'end' right after the last
    // 'data', while that chunk is still being written.
    let written: Promise<void> = Promise.resolve()
    return new Promise<ManifestFile>((resolve, reject) => {
      let settled = false
      const settle = (error: Error | undefined) => {
        if (settled) return
        settled = true
        this.#stopCurrent = undefined
        entry.removeListener('data', onData)
        if (error === undefined) resolve({ sha256: hash.digest('hex'), size })
        else reject(error)
      }
      const onData = (chunk: Buffer) => {
        entry.pause()
        size += chunk.length
        hash.update(chunk)
        written = written.then(() => sink(chunk))
        written.then(() => {
          if (!settled) entry.resume()
        }, settle)
      }
      this.#stopCurrent = settle
      entry.on('data', onData)
      entry.once('end', () => {
        written.then(() => {
          // The Parser ends an entry early when the stream is truncated.
          settle(
            size === entry.size
              ? undefined
              : new TarFormatError(`entry ${printable(entry.path)} is truncated`),
          )
        }, settle)
      })
      if (this.#stopped !== undefined) settle(this.#stopped)
    })
  }

  /** Start writing a small file in the background, once fewer than PARALLEL_WRITES are in flight. */
  async #startWrite(entry: string, absolute: string, data: Buffer): Promise<void> {
    while (this.#inFlight.size >= PARALLEL_WRITES) await Promise.race(this.#inFlight)
    this.#throwIfStopped()
    const task = (async () => {
      const handle = await this.#create(entry, absolute)
      try {
        await writeAll(handle, data)
      } finally {
        await handle.close()
      }
    })().then(undefined, (error: unknown) => {
      const reason = error instanceof Error ? error : new Error(String(error))
      this.stop(reason)
      this.#onFailure(reason)
    })
    this.#inFlight.add(task)
    task.finally(() => this.#inFlight.delete(task))
  }

  async #create(entry: string, absolute: string): Promise<FileHandle> {
    this.#throwIfStopped()
    try {
      return await open(absolute, WRITE_FLAGS, FILE_MODE)
    } catch (error) {
      throw isCode(error, 'EEXIST')
        ? new UnsafeArchiveError(entry, 'collides with an entry written before it')
        : error
    }
  }

  /** Belt and braces: release paths cannot climb, and a path that resolves elsewhere is still refused. */
  #absolute(path: string): string {
    const absolute = join(this.#root, ...path.split('/'))
    if (!absolute.startsWith(this.#root + sep))
      throw new UnsafeArchiveError(path, 'resolves outside the release')
    return absolute
  }

  #throwIfStopped(): void {
    if (this.#stopped !== undefined) throw this.#stopped
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset)
    offset += bytesWritten
  }
}
