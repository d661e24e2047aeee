/**
 * What the pieces of an extraction hand each other: the source, what the caller expects, what
 * the receive pipeline saw (`Outcome`) and what the verdict accepted (`Received`).
 */
import type { Readable } from 'node:stream'
import type { ManifestFile, ModuleManifest } from '@relup/core'

export type ArtifactSource = AsyncIterable<Uint8Array> | Readable

/** The caller's expectations, checked: the artifact must match them to be applied. */
export interface Expected {
  /** Lowercase hex. */
  sha256: string
  size: number | undefined
  manifest: ModuleManifest | undefined
  /** How messages name the artifact. */
  label: string
}

/** What came of streaming the source through to the disk, before any verdict. */
export interface Outcome {
  /** Bytes read from the source. */
  bytes: number
  /** Digest of everything read; null when reading stopped before the end. */
  sha256: string | null
  /** The source sent more bytes than the expected size; reading stopped there. */
  overran: boolean
  /**
   * Why everything stopped at once: the archive is unsafe or too large, the disk failed, the
   * caller aborted, or the source overran (then `overran` says so).
   */
  fatal: Error | undefined
  /** The bytes are not readable gzip/tar. */
  unreadable: Error | undefined
  /** The source itself failed. */
  sourceError: unknown
  /** Digest and size of every file written, by release path. */
  files: Record<string, ManifestFile>
}

/** A stream the verdict accepted: every byte read and hashed to the expected sha256. */
export interface Received {
  sha256: string
  size: number
  files: Record<string, ManifestFile>
}
