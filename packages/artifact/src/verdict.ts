/**
 * The verdict on a received stream: the release it delivered, or the error that says why it was
 * not applied and what to do next. `judge` reads the receive pipeline's outcome (did every byte
 * arrive, and hash to the expected sha256 and size?); `verifyManifest` then holds the files
 * written to the module manifest the hot upgrade declares.
 */
import { type ModuleManifest, manifestMismatches, summarizeMismatches } from '@relup/core'
import { buildManifest } from '@relup/core/release'
import { IntegrityError, type IntegrityFailure, isCode } from './errors.js'
import type { Expected, Outcome, Received } from './types.js'

/** The stream is the artifact that was published, or this throws why not. */
export function judge(outcome: Outcome, expected: Expected, signal: AbortSignal | undefined): Received {
  const { bytes, sha256: actual, unreadable, sourceError } = outcome
  if (sourceError !== undefined) {
    // A misused source (a string stream) and the caller's own abort are not about the artifact.
    if (sourceError instanceof TypeError || signal?.aborted) throw sourceError
    throw sourceFailed(expected, bytes, sourceError)
  }
  if (outcome.overran) {
    throw integrityError('size-mismatch', expected, null, bytes, 'artifact is larger than its expected size')
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
  if (unreadable !== undefined) throw brokenArtifact(expected, actual, bytes, unreadable)
  return { sha256: actual, size: bytes, files: outcome.files }
}

/** The manifest of the files received; when the hot upgrade declares one, they must match it exactly. */
export function verifyManifest(received: Received, expected: Expected): ModuleManifest {
  const declared = expected.manifest
  if (declared === undefined) return buildManifest(received.files)
  const actual = buildManifest(received.files, declared.nodeAbi)
  const problems = manifestMismatches(declared, actual)
  if (problems.length === 0) return actual
  throw manifestMismatch(expected, received, problems)
}

/** The bytes are not the expected ones (or not all of them arrived). */
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

/** The source failed mid-way: a download to retry. */
function sourceFailed(expected: Expected, bytes: number, cause: unknown): IntegrityError {
  const message =
    `reading artifact ${expected.label} failed after ${bytes} bytes (${describe(cause)}): ` +
    `expected sha256 ${expected.sha256}, got no complete stream to hash; the upgrade was not applied. Retry the download.`
  return new IntegrityError({
    reason: 'source-error',
    message,
    expectedSha256: expected.sha256,
    actualSha256: null,
    expectedSize: expected.size ?? null,
    actualSize: bytes,
    cause,
  })
}

/** The right bytes arrived but are not gzip/tar: the published artifact itself is broken. */
function brokenArtifact(expected: Expected, actual: string, bytes: number, cause: Error): IntegrityError {
  const message =
    `artifact ${expected.label} is not a valid gzip/tar archive (${describe(cause)}), although its sha256 ` +
    `matches: expected ${expected.sha256}, got ${actual}. The published artifact itself is broken; ` +
    'the upgrade was not applied. Publish it again.'
  return new IntegrityError({
    reason: 'format',
    message,
    expectedSha256: expected.sha256,
    actualSha256: actual,
    expectedSize: expected.size ?? null,
    actualSize: bytes,
    cause,
  })
}

/** The files are not the ones the hot upgrade declares: the manifest and the artifact were published apart. */
function manifestMismatch(expected: Expected, received: Received, problems: string[]): IntegrityError {
  return new IntegrityError({
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
