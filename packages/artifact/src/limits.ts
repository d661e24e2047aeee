/**
 * Caps on what an artifact may contain. Machines enforce them while extracting, so a hostile or
 * broken archive cannot fill the disk; the publisher enforces the same defaults while packing,
 * so it never uploads an artifact the machines would refuse.
 */
import { ConfigError } from '@relup/core'

export interface ArchiveLimits {
  /** Sum of the sizes of all files. Default 1 GiB. */
  maxTotalBytes: number
  /** Files plus directories. Default 100,000. */
  maxEntries: number
  /** Size of any single file. Default 256 MiB. */
  maxFileBytes: number
}

export const DEFAULT_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxTotalBytes: 1024 * 1024 * 1024,
  maxEntries: 100_000,
  maxFileBytes: 256 * 1024 * 1024,
})

export function resolveLimits(limits: Partial<ArchiveLimits> | undefined): ArchiveLimits {
  const resolved = { ...DEFAULT_LIMITS, ...stripUndefined(limits ?? {}) }
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ConfigError(
        `limits.${name}`,
        `limits.${name} must be a non-negative integer, got ${String(value)}`,
      )
    }
  }
  return resolved
}

/**
 * Headroom for tar headers around the file data: a 512-byte header, up to 511 bytes of padding
 * and a small extended (pax) header per entry fit in 2 KiB.
 */
const TAR_OVERHEAD_PER_ENTRY = 2048

/**
 * The most bytes a tar stream within `limits` can take, headers included. The uncompressed
 * stream, and the compressed one when its size is not known up front, may not exceed it.
 */
export function maxTarStreamBytes(limits: ArchiveLimits): number {
  return limits.maxTotalBytes + limits.maxEntries * TAR_OVERHEAD_PER_ENTRY + 1024 * 1024
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
