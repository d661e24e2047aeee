/**
 * The errors of @relup/artifact. Each is a `RelupError` with a stable `code`; the message says
 * what happened and what to do next.
 */
import { RelupError } from '@relup/core'
import { printable } from '@relup/core/release'

export type IntegrityFailure =
  /** The bytes read do not hash to the expected sha256. */
  | 'sha256-mismatch'
  /** More or fewer bytes than the expected size. */
  | 'size-mismatch'
  /** The stream ended before the expected size (or before the end of the gzip/tar data). */
  | 'truncated'
  /** The bytes hash correctly but are not a valid gzip/tar archive: the published artifact is broken. */
  | 'format'
  /** The source stream failed mid-way. */
  | 'source-error'
  /** The archive content differs from the module manifest the hot upgrade declares. */
  | 'manifest-mismatch'

/** The artifact is not the one that was published (or is not readable): nothing was applied. */
export class IntegrityError extends RelupError {
  static readonly code = 'ERR_RELUP_INTEGRITY'
  readonly reason: IntegrityFailure
  readonly expectedSha256: string
  /** null when the stream failed before its end, so no hash of the whole could be computed. */
  readonly actualSha256: string | null
  readonly expectedSize: number | null
  /** Bytes read from the source. */
  readonly actualSize: number

  constructor(details: {
    reason: IntegrityFailure
    message: string
    expectedSha256: string
    actualSha256: string | null
    expectedSize: number | null
    actualSize: number
    cause?: unknown
  }) {
    super(IntegrityError.code, details.message, { cause: details.cause })
    this.reason = details.reason
    this.expectedSha256 = details.expectedSha256
    this.actualSha256 = details.actualSha256
    this.expectedSize = details.expectedSize
    this.actualSize = details.actualSize
  }
}

/** An archive entry that could write outside the release, or is not a plain file or directory. */
export class UnsafeArchiveError extends RelupError {
  static readonly code = 'ERR_RELUP_UNSAFE_ARCHIVE'
  /** The entry's path as the archive spells it (NUL and control characters escaped). */
  readonly entry: string
  readonly reason: string

  constructor(entry: string, reason: string) {
    super(
      UnsafeArchiveError.code,
      `unsafe archive entry ${printable(entry)}: ${reason}. Nothing was extracted and the upgrade was not applied; ` +
        'publish an artifact made by `relup pack` (or @relup/artifact pack()).',
    )
    this.entry = entry
    this.reason = reason
  }
}

export type ArchiveLimit = 'maxTotalBytes' | 'maxEntries' | 'maxFileBytes'

/** The archive (or the directory being packed) is larger than a configured cap. */
export class ArchiveLimitError extends RelupError {
  static readonly code = 'ERR_RELUP_ARCHIVE_LIMIT'
  readonly limit: ArchiveLimit
  readonly max: number
  /** The entry that crossed the limit, when one did. */
  readonly entry: string | undefined

  constructor(details: {
    limit: ArchiveLimit
    max: number
    entry?: string
    what: string
    side: 'pack' | 'extract'
  }) {
    const where = details.entry === undefined ? '' : ` at entry ${printable(details.entry)}`
    const next =
      details.side === 'extract'
        ? 'Nothing was extracted and the upgrade was not applied; if the release is really this large, raise `limits.' +
          `${details.limit}\` on the machines.`
        : `Machines refuse such an artifact; shrink the release or raise \`limits.${details.limit}\` on both the publisher and the machines.`
    super(
      ArchiveLimitError.code,
      `${details.what}${where}: the limit ${details.limit} is ${details.max}. ${next}`,
    )
    this.limit = details.limit
    this.max = details.max
    this.entry = details.entry
  }
}

/** A directory that cannot be packed as it is. */
export class PackError extends RelupError {
  static readonly code = 'ERR_RELUP_PACK'
  /** The directory being packed. */
  readonly dir: string
  /** The offending path relative to `dir`, or '' for the directory itself. */
  readonly path: string

  constructor(dir: string, path: string, problem: string) {
    super(
      PackError.code,
      path === '' ? `cannot pack ${dir}: ${problem}` : `cannot pack ${dir}: ${printable(path)} ${problem}`,
    )
    this.dir = dir
    this.path = path
  }
}

/** `extractArtifact` was asked to write into a destination that already exists. */
export class DestinationExistsError extends RelupError {
  static readonly code = 'ERR_RELUP_DESTINATION_EXISTS'
  readonly dest: string

  constructor(dest: string, problem = 'already exists') {
    super(
      DestinationExistsError.code,
      `release directory ${dest} ${problem}; nothing was extracted. Extract each upgrade into a fresh directory ` +
        "(e.g. releases/<upgradeId>), or pass ifExists: 'replace'.",
    )
    this.dest = dest
  }
}

export type SignatureFailure = 'missing' | 'unknown-key' | 'invalid'

/** The hot upgrade is unsigned, signed by a key this machine does not trust, or the signature does not verify. */
export class SignatureError extends RelupError {
  static readonly code = 'ERR_RELUP_SIGNATURE'
  readonly reason: SignatureFailure
  /** The key id the upgrade claims to be signed with, when it carries a signature. */
  readonly keyId: string | null

  constructor(reason: SignatureFailure, message: string, keyId: string | null) {
    super(SignatureError.code, message)
    this.reason = reason
    this.keyId = keyId
  }
}

export function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code
}
