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
 * whatever the hash turns out to be. receive.ts streams the bytes to the disk (checked by
 * tarScanner.ts and releaseWriter.ts); verdict.ts says whether what arrived is the artifact.
 */
import { randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { chmod, lstat, mkdir, mkdtemp, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { ConfigError, type ModuleManifest, SHA256_HEX } from '@relup/core'
import { DestinationExistsError, isCode } from './errors.js'
import { type ArchiveLimits, resolveLimits } from './limits.js'
import { receive } from './receive.js'
import type { ArtifactSource, Expected } from './types.js'
import { judge, verifyManifest } from './verdict.js'

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
    // Beside dest, so the final move is a rename on one filesystem.
    const temp = await mkdtemp(join(dirname(dest), `.${basename(dest)}.relup-tmp-`))
    try {
      const outcome = await receive(source, temp, { limits, size: expected.size, signal: options.signal })
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
