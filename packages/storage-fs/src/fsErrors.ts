/**
 * Filesystem failures as relup errors: `StorageTransportError` with `retryable` saying whether
 * the same call can succeed later without anyone changing the machine's configuration.
 */
import { InvalidKeyError, isRelupError, StorageTransportError } from '@relup/core'
import { LockTimeoutError } from './keyLock.js'
import { CorruptObjectError, isSourceError } from './objectFile.js'

/** Passes by itself: retried in place a few times before giving up. */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set(['EAGAIN', 'EBUSY', 'EINTR', 'EMFILE', 'ENFILE'])

/** Worth retrying later (a full disk is freed, an NFS handle goes stale) but not in a tight loop. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  ...TRANSIENT_CODES,
  'ENOSPC',
  'EDQUOT',
  'ESTALE',
  'ETIMEDOUT',
])

const HINTS: Record<string, string> = {
  EACCES: 'check that this process may read and write the storage directory',
  EPERM: 'check that this process may read and write the storage directory',
  EROFS: 'the filesystem is mounted read-only',
  ENOSPC: 'the disk is full: free some space',
  EDQUOT: 'the disk quota is exhausted: free some space or raise the quota',
  EIO: 'the device reported an I/O error: check the disk',
  EMFILE: 'too many open files: raise the limit (ulimit -n) or lower concurrency',
  ENFILE: 'too many open files on this machine',
  ENOTDIR:
    'something other than relup wrote into the storage directory (a file stands where a folder belongs)',
  EISDIR:
    'something other than relup wrote into the storage directory (a folder stands where an object belongs)',
  EEXIST:
    'something other than relup wrote into the storage directory (a file stands where a folder belongs)',
  ELOOP: 'a symbolic link stands where an object belongs; relup never creates links in its directory',
  EXDEV: 'a mount point inside the storage directory splits it across filesystems; use one filesystem',
  ESTALE: 'the network filesystem handle went stale; prefer a local disk (see the README)',
}

export const errorCode = (error: unknown): string | undefined => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

export const isTransient = (error: unknown) => TRANSIENT_CODES.has(errorCode(error) ?? '')

/**
 * The error to throw for a failure of `operation` on `key`: relup errors, abort errors and the
 * caller's own body errors pass through unchanged; everything from the filesystem becomes a
 * `StorageTransportError`.
 */
export function toStorageError(storageName: string, operation: string, key: string, error: unknown): unknown {
  if (isRelupError(error) || isSourceError(error) || (error as Error | undefined)?.name === 'AbortError')
    return error
  if (error instanceof LockTimeoutError) {
    return new StorageTransportError(`${storageName}: ${operation} "${key}": ${error.message}`, {
      operation,
      key,
      retryable: true,
      cause: error,
    })
  }
  if (error instanceof CorruptObjectError) {
    return new StorageTransportError(
      `${storageName}: ${operation} "${key}": ${error.message}; write the key again (a put without a precondition replaces it) or delete it`,
      { operation, key, retryable: false, cause: error },
    )
  }
  const code = errorCode(error)
  if (code === 'ENAMETOOLONG')
    return new InvalidKeyError(key, 'its path is longer than this filesystem allows')
  if (code === undefined) return error
  const message = (error as Error).message
  const hint = HINTS[code]
  return new StorageTransportError(
    `${storageName}: ${operation} "${key}" failed: ${message}${hint ? `; ${hint}` : ''}`,
    {
      operation,
      key,
      retryable: RETRYABLE_CODES.has(code),
      cause: error,
    },
  )
}
