/**
 * `extractArtifact(source, { dest, sha256 })`: stream an artifact (a download, a file) through
 * sha256 verification into a fresh release directory.
 *
 * The hash is only known at the end of the stream, so entries are extracted while the bytes
 * arrive, into a temporary directory beside `dest` (same filesystem); only when the whole stream
 * hashes to the expected sha256 (and has the expected size) is it renamed to `dest`. Anything
 * else (a mismatch, a truncated or failing stream, bytes that are not gzip/tar, an unsafe entry,
 * a limit crossed) deletes the temporary directory and throws: nothing is left behind.
 *
 * The archive is not trusted before the hash matches, so every entry is checked as it arrives,
 * whatever the hash turns out to be (see tarScanner.ts and releaseWriter.ts).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { chmod, lstat, mkdir, mkdtemp, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import {
  ConfigError,
  type ModuleManifest,
  manifestMismatches,
  RelupError,
  SHA256_HEX,
  summarizeMismatches,
} from '@relup/core'
import { buildManifest } from '@relup/core/release'
import { Parser, type ReadEntry } from 'tar'
import {
  ArchiveLimitError,
  DestinationExistsError,
  IntegrityError,
  type IntegrityFailure,
  isCode,
} from './errors.js'
import { type ArchiveLimits, maxTarStreamBytes, resolveLimits } from './limits.js'
import { ReleaseWriter } from './releaseWriter.js'
import { MAX_META_BYTES, TarFormatError, TarScanner } from './tarScanner.js'

export type ArtifactSource = AsyncIterable<Uint8Array> | Readable

export interface ExtractOptions {
  /** The release directory to create. Its parent is created if missing. */
  dest: string
  /** Expected sha256 of the artifact bytes (lowercase hex), e.g. `hot.artifact.sha256`. */
  sha256: string
  /** Expected size in bytes, e.g. `hot.artifact.size`: checked too, and stops an over-long stream early. */
  size?: number | undefined
  /** Caps on what the archive may hold (defaults: 1 GiB total, 100,000 entries, 256 MiB per file). */
  limits?: Partial<ArchiveLimits> | undefined
  /**
   * The module manifest the hot upgrade declares: when given, the extracted files must match it
   * exactly, and the returned manifest carries its `nodeAbi`.
   */
  manifest?: ModuleManifest | undefined
  /**
   * When `dest` exists: `'fail'` (default) throws `DestinationExistsError` before reading
   * anything; `'replace'` swaps the new release in (two renames) and deletes the old directory.
   */
  ifExists?: 'fail' | 'replace' | undefined
  /** How messages name the artifact, e.g. the version or storage key. */
  name?: string | undefined
  /** Abort the extraction (the temporary directory is deleted, the signal's reason is thrown). */
  signal?: AbortSignal | undefined
}

export interface ExtractedRelease {
  /** Absolute path of the release directory (`dest`). */
  dir: string
  sha256: string
  /** Bytes read from the source. */
  size: number
  /** Computed from the files written. */
  manifest: ModuleManifest
}

export async function extractArtifact(
  source: ArtifactSource,
  options: ExtractOptions,
): Promise<ExtractedRelease> {
  const dest = resolve(options.dest)
  const ifExists = options.ifExists ?? 'fail'
  try {
    const expected = checkOptions(options)
    const limits = resolveLimits(options.limits)
    options.signal?.throwIfAborted()
    await checkDestination(dest, ifExists)
    await mkdir(dirname(dest), { recursive: true })
    const temp = await mkdtemp(join(dirname(dest), `.${basename(dest)}.relup-tmp-`))
    try {
      const outcome = await receive(source, temp, limits, expected, options.signal)
      const received = judge(outcome, expected, options.signal)
      const manifest = verifyManifest(received, expected)
      await chmod(temp, 0o755)
      await moveIntoPlace(temp, dest, ifExists)
      return { dir: dest, sha256: received.sha256, size: received.size, manifest }
    } catch (error) {
      await rm(temp, { recursive: true, force: true, maxRetries: 3 })
      throw error
    }
  } finally {
    // An abandoned download may hold a connection open.
    const stream = source as Partial<Readable>
    if (typeof stream.destroy === 'function' && stream.readableEnded !== true) stream.destroy()
  }
}

interface Expected {
  sha256: string
  size: number | undefined
  manifest: ModuleManifest | undefined
  label: string
}

interface Received {
  sha256: string
  size: number
  files: ReleaseWriter['files']
}

/** What came of streaming the source through to the disk, before any verdict. */
interface Outcome {
  /** Bytes read from the source. */
  bytes: number
  /** Digest of everything read; null when reading stopped before the end. */
  sha256: string | null
  /** The archive is unsafe or too large, the stream too long, or the caller aborted. */
  fatal: Error | undefined
  /** The bytes are not readable gzip/tar. */
  unreadable: Error | undefined
  /** The source itself failed. */
  sourceError: unknown
  files: ReleaseWriter['files']
}

/**
 * Source → sha256 and gunzip → TarScanner → tar Parser → ReleaseWriter, with backpressure all the
 * way: nothing is held in memory beyond a few chunks. A fatal problem stops everything at once;
 * unreadable data stops the extraction but not the hashing, to tell a corrupt download from a
 * broken artifact.
 */
async function receive(
  source: ArtifactSource,
  root: string,
  limits: ArchiveLimits,
  expected: Expected,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const hash = createHash('sha256')
  const streamCap = maxTarStreamBytes(limits)
  const gunzip = createGunzip({ chunkSize: 64 * 1024 })
  const scanner = new TarScanner()
  const parser = new Parser({ strict: true, brotli: false, zstd: false, maxMetaEntrySize: MAX_META_BYTES })
  const writer = new ReleaseWriter(root, limits, (error) => halt(error))
  let bytes = 0
  let tarBytes = 0
  let fatal: Error | undefined
  let unreadable: Error | undefined
  let sourceError: unknown
  let writing: Promise<void> = Promise.resolve()
  let onHalt: () => void = () => {}
  const halted = new Promise<void>((resolve) => {
    onHalt = resolve
  })

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
      if (expected.size !== undefined && bytes > expected.size) {
        halt(
          integrityError('size-mismatch', expected, null, bytes, 'artifact is larger than its expected size'),
        )
      } else if (expected.size === undefined && bytes > streamCap) {
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
    fatal,
    unreadable,
    sourceError,
    files: writer.files,
  }
}

/** The verdict on a stream: the release, or the error that says why it was not applied. */
function judge(outcome: Outcome, expected: Expected, signal: AbortSignal | undefined): Received {
  const { bytes, sha256: actual, unreadable, sourceError } = outcome
  if (sourceError !== undefined) {
    if (sourceError instanceof TypeError || signal?.aborted) throw sourceError
    const message =
      `reading artifact ${expected.label} failed after ${bytes} bytes (${describe(sourceError)}): ` +
      `expected sha256 ${expected.sha256}, got no complete stream to hash; the upgrade was not applied. Retry the download.`
    throw new IntegrityError({
      reason: 'source-error',
      message,
      expectedSha256: expected.sha256,
      actualSha256: null,
      expectedSize: expected.size ?? null,
      actualSize: bytes,
      cause: sourceError,
    })
  }
  if (outcome.fatal !== undefined || actual === null) throw outcome.fatal ?? new Error('extraction stopped')

  if (actual !== expected.sha256 || (expected.size !== undefined && bytes !== expected.size)) {
    const truncated =
      (expected.size !== undefined && bytes < expected.size) ||
      (unreadable !== undefined && isCode(unreadable, 'Z_BUF_ERROR'))
    const what = truncated ? 'artifact stream ended early' : 'artifact sha256 mismatch'
    throw integrityError(
      truncated ? 'truncated' : 'sha256-mismatch',
      expected,
      actual,
      bytes,
      what,
      unreadable,
    )
  }
  if (unreadable !== undefined) {
    const message =
      `artifact ${expected.label} is not a valid gzip/tar archive (${describe(unreadable)}), although its sha256 ` +
      `matches: expected ${expected.sha256}, got ${actual}. The published artifact itself is broken; ` +
      'the upgrade was not applied. Publish it again.'
    throw new IntegrityError({
      reason: 'format',
      message,
      expectedSha256: expected.sha256,
      actualSha256: actual,
      expectedSize: expected.size ?? null,
      actualSize: bytes,
      cause: unreadable,
    })
  }
  return { sha256: actual, size: bytes, files: outcome.files }
}

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

function integrityError(
  reason: IntegrityFailure,
  expected: Expected,
  actual: string | null,
  actualSize: number,
  what: string,
  cause?: unknown,
): IntegrityError {
  const sizes =
    expected.size === undefined ? `${actualSize} bytes` : `${actualSize} bytes, expected ${expected.size}`
  const got = actual === null ? `read ${sizes} (not hashed)` : `got ${actual} (${sizes})`
  const message =
    `${what} for ${expected.label}: expected sha256 ${expected.sha256}, ${got}; ` +
    'the upgrade was not applied. Retry the download, and publish again if it persists.'
  return new IntegrityError({
    reason,
    message,
    expectedSha256: expected.sha256,
    actualSha256: actual,
    expectedSize: expected.size ?? null,
    actualSize,
    cause,
  })
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

function checkOptions(options: ExtractOptions): Expected {
  const sha256 = typeof options.sha256 === 'string' ? options.sha256.toLowerCase() : ''
  if (!SHA256_HEX.test(sha256)) {
    throw new ConfigError(
      'sha256',
      `extractArtifact: sha256 must be 64 hex characters, got ${JSON.stringify(options.sha256)}`,
    )
  }
  if (options.size !== undefined && (!Number.isSafeInteger(options.size) || options.size < 0)) {
    throw new ConfigError(
      'size',
      `extractArtifact: size must be a non-negative integer, got ${String(options.size)}`,
    )
  }
  if (options.ifExists !== undefined && options.ifExists !== 'fail' && options.ifExists !== 'replace') {
    throw new ConfigError(
      'ifExists',
      `extractArtifact: ifExists must be 'fail' or 'replace', got ${String(options.ifExists)}`,
    )
  }
  return {
    sha256,
    size: options.size,
    manifest: options.manifest,
    label: options.name ?? sha256.slice(0, 12),
  }
}

function verifyManifest(received: Received, expected: Expected): ModuleManifest {
  const declared = expected.manifest
  if (declared === undefined) return buildManifest(received.files)
  const actual = buildManifest(received.files, declared.nodeAbi)
  const problems = manifestMismatches(declared, actual)
  if (problems.length === 0) return actual
  throw new IntegrityError({
    reason: 'manifest-mismatch',
    message:
      `artifact ${expected.label} does not match the module manifest of the hot upgrade: ${summarizeMismatches(problems)}; ` +
      'the upgrade was not applied. Publish it again (the manifest and the artifact must come from the same pack).',
    expectedSha256: expected.sha256,
    actualSha256: received.sha256,
    expectedSize: expected.size ?? null,
    actualSize: received.size,
  })
}

async function checkDestination(dest: string, ifExists: 'fail' | 'replace'): Promise<void> {
  let stats: Stats
  try {
    stats = await lstat(dest)
  } catch (error) {
    if (isCode(error, 'ENOENT')) return
    throw error
  }
  if (ifExists === 'fail') throw new DestinationExistsError(dest)
  if (!stats.isDirectory()) {
    throw new DestinationExistsError(
      dest,
      `exists and is not a directory (${stats.isSymbolicLink() ? 'a symlink' : 'a file'}), so it is not replaced`,
    )
  }
}

async function moveIntoPlace(temp: string, dest: string, ifExists: 'fail' | 'replace'): Promise<void> {
  if (ifExists === 'fail') {
    try {
      await rename(temp, dest)
    } catch (error) {
      if (isCode(error, 'ENOTEMPTY') || isCode(error, 'EEXIST') || isCode(error, 'ENOTDIR'))
        throw new DestinationExistsError(dest)
      throw error
    }
    return
  }
  const old = join(dirname(dest), `.${basename(dest)}.relup-old-${randomBytes(6).toString('hex')}`)
  let moved = false
  try {
    await rename(dest, old)
    moved = true
  } catch (error) {
    if (!isCode(error, 'ENOENT')) throw error
  }
  try {
    await rename(temp, dest)
  } catch (error) {
    if (moved) await rename(old, dest)
    throw error
  }
  if (moved) await rm(old, { recursive: true, force: true, maxRetries: 3 })
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
