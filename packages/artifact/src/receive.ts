/**
 * The receive pipeline: source → sha256 and gunzip → TarScanner → tar Parser → ReleaseWriter,
 * with backpressure all the way, so nothing is held in memory beyond a few chunks. It writes what
 * arrives into a directory and reports what happened (`Outcome`); what that means for the
 * artifact is the verdict's call (verdict.ts).
 *
 * A fatal problem (an unsafe entry, a limit, the disk, an abort, an over-long source) stops
 * everything at once. Unreadable data stops the extraction but not the hashing, so the verdict
 * can tell a corrupt download from a broken artifact.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { RelupError } from '@relup/core'
import { Parser, type ReadEntry } from 'tar'
import { ArchiveLimitError } from './errors.js'
import { type ArchiveLimits, maxTarStreamBytes } from './limits.js'
import { ReleaseWriter } from './releaseWriter.js'
import { MAX_META_BYTES, TarFormatError, TarScanner } from './tarScanner.js'
import type { ArtifactSource, Outcome } from './types.js'

export interface ReceiveOptions {
  limits: ArchiveLimits
  /** Expected size of the source in bytes: reading stops as soon as it is passed. */
  size: number | undefined
  signal: AbortSignal | undefined
}

/** Stream `source` into the directory `root` (which must exist and be empty). */
export async function receive(
  source: ArtifactSource,
  root: string,
  { limits, size, signal }: ReceiveOptions,
): Promise<Outcome> {
  const hash = createHash('sha256')
  const streamCap = maxTarStreamBytes(limits)
  const gunzip = createGunzip({ chunkSize: 64 * 1024 })
  const scanner = new TarScanner()
  const parser = new Parser({ strict: true, brotli: false, zstd: false, maxMetaEntrySize: MAX_META_BYTES })
  const writer = new ReleaseWriter(root, limits, (error) => halt(error))
  let bytes = 0
  let tarBytes = 0
  let overran = false
  let fatal: Error | undefined
  let unreadable: Error | undefined
  let sourceError: unknown
  let writing: Promise<void> = Promise.resolve()
  let onHalt: () => void = () => {}
  const halted = new Promise<void>((resolve) => {
    onHalt = resolve
  })

  // The first fatal reason wins; a format error only counts while nothing else has stopped us.
  const halt = (error: unknown) => {
    const reason = error instanceof Error ? error : new Error(String(error))
    if (isFormatError(reason)) {
      if (fatal !== undefined || unreadable !== undefined) return
      unreadable = reason
    } else {
      if (fatal !== undefined) return
      fatal = reason
      const stream = source as Partial<Readable>
      if (typeof stream.destroy === 'function') stream.destroy()
    }
    writer.stop(reason)
    gunzip.destroy()
    onHalt()
  }
  const onAbort = () => halt(signal?.reason ?? new Error('aborted'))
  signal?.addEventListener('abort', onAbort, { once: true })

  gunzip.on('data', (chunk: Buffer) => {
    if (fatal !== undefined || unreadable !== undefined) return
    tarBytes += chunk.length
    try {
      if (tarBytes > streamCap) throw streamTooLarge(limits, streamCap, 'the uncompressed archive')
      scanner.feed(chunk)
    } catch (error) {
      halt(error)
      return
    }
    if (!parser.write(chunk)) {
      gunzip.pause()
      parser.once('drain', () => gunzip.resume())
    }
  })
  gunzip.on('end', () => {
    try {
      scanner.end()
    } catch (error) {
      halt(error)
      return
    }
    parser.end()
  })
  gunzip.on('error', halt)
  parser.on('error', halt)
  const onEntry = (entry: ReadEntry) => {
    try {
      scanner.matchEntry(entry.path, entry.type)
    } catch (error) {
      halt(error)
    }
    // One entry at a time: the Parser does not emit the next one before this one is consumed.
    writing = writing
      .then(() => ((fatal ?? unreadable) ? entry.resume() : writer.write(entry)))
      .then(undefined, halt)
  }
  parser.on('entry', onEntry)
  parser.on('ignoredEntry', onEntry)
  const parsed = new Promise<void>((resolve) =>
    parser.on('end', () => {
      try {
        scanner.finish()
      } catch (error) {
        halt(error)
      }
      resolve()
    }),
  )

  try {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(
          'extractArtifact: the source yielded a string; pass a binary stream (no setEncoding)',
        )
      }
      bytes += chunk.byteLength
      if (size !== undefined && bytes > size) {
        if (fatal === undefined) overran = true
        halt(new Error(`the source sent more than the expected ${size} bytes`))
      } else if (size === undefined && bytes > streamCap) {
        halt(streamTooLarge(limits, streamCap, 'the artifact'))
      }
      if (fatal !== undefined) break
      hash.update(chunk)
      if (unreadable !== undefined) continue
      if (!gunzip.write(chunk)) await drained(gunzip)
    }
  } catch (error) {
    // After a fatal halt the source was destroyed on purpose: that is not a source failure.
    if (fatal === undefined) sourceError = error
    halt(error)
  }

  try {
    if (fatal === undefined && unreadable === undefined) {
      gunzip.end()
      await Promise.race([parsed, halted])
    }
    // Let the writer finish or give up (closing its files) before anyone deletes the directory.
    await writing
    await writer.settled()
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  const complete = fatal === undefined && sourceError === undefined
  return {
    bytes,
    sha256: complete ? hash.digest('hex') : null,
    overran,
    fatal,
    unreadable,
    sourceError,
    files: writer.files,
  }
}

/** Unreadable bytes, as opposed to a readable but hostile archive. */
function isFormatError(error: Error): boolean {
  if (error instanceof RelupError) return false
  if (error instanceof TarFormatError) return true
  // zlib errors carry Z_* codes; tar's Parser reports TAR_* codes (bad checksum, truncated input).
  const code = (error as { code?: unknown }).code
  const tarCode = (error as { tarCode?: unknown }).tarCode
  return (
    (typeof code === 'string' && code.startsWith('Z_')) ||
    (typeof tarCode === 'string' && tarCode.startsWith('TAR_'))
  )
}

function streamTooLarge(limits: ArchiveLimits, cap: number, what: string): ArchiveLimitError {
  return new ArchiveLimitError({
    limit: 'maxTotalBytes',
    max: limits.maxTotalBytes,
    what: `${what} is larger than ${cap} bytes (maxTotalBytes plus room for headers)`,
    side: 'extract',
  })
}

/** Resolves when the stream can take more, or is gone. */
function drained(stream: NodeJS.WritableStream & NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.removeListener('drain', done)
      stream.removeListener('close', done)
      resolve()
    }
    stream.once('drain', done)
    stream.once('close', done)
  })
}
