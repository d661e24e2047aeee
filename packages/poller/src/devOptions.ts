/**
 * Development mode's options: `startRelup({ dev: true })`, `dev: { … }`, or the environment
 * `relup dev` sets for the process it runs (`RELUP_DEV=1` and the `RELUP_DEV_*` below). It only
 * applies without a base ref: a machine with a `baseRef` is a production machine.
 */
import { resolve } from 'node:path'
import { ConfigError } from '@relup/core'

/** The environment `relup dev` passes to the app (and that enables dev mode without the CLI). */
export const DEV_ENV = {
  /** `1` (or `true`): development mode with hot reload, when there is no base ref. */
  enabled: 'RELUP_DEV',
  /** The directory to watch and reload (default: the engine's release directory at start). */
  hotDir: 'RELUP_DEV_HOT',
  /** Quiet time after the last change of a burst, in ms. */
  debounce: 'RELUP_DEV_DEBOUNCE',
  /** A directory the snapshots go under (the supervisor removes it when it exits). */
  snapshotsDir: 'RELUP_DEV_SNAPSHOTS',
} as const

export interface DevOptions {
  /** The directory to watch and snapshot. Default: `RELUP_DEV_HOT`, else the engine's `releaseDir` at start. */
  hotDir?: string | undefined
  /** ms without changes before a burst of saves is reloaded (default `RELUP_DEV_DEBOUNCE`, else 30). */
  debounce?: number | undefined
  /**
   * Where snapshots of the hot directory go, one directory per reload. Default:
   * `RELUP_DEV_SNAPSHOTS`, else a fresh directory under the OS temp directory; either way this
   * process's own snapshots are in a directory of their own, removed when the process exits.
   */
  snapshotsDir?: string | undefined
  /** Where the human-readable lines go (one per reload or failure). Default: stderr. */
  write?: ((line: string) => void) | undefined
}

export interface ResolvedDevOptions {
  hotDir: string | null
  debounce: number
  snapshotsDir: string | null
  write: (line: string) => void
}

export const DEFAULT_DEV_DEBOUNCE = 30

const env = (name: string) => {
  const value = process.env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

const writeStderr = (line: string) => {
  process.stderr.write(`${line}\n`)
}

/** Whether the environment asks for development mode. */
function envEnabled(): boolean {
  const value = env(DEV_ENV.enabled)?.toLowerCase()
  return value !== undefined && value !== '0' && value !== 'false'
}

/** The dev options in force, or null when development mode with reload is not asked for. */
export function resolveDevOptions(dev: boolean | DevOptions | undefined): ResolvedDevOptions | null {
  if (dev === false || (dev === undefined && !envEnabled())) return null
  const given = typeof dev === 'object' && dev !== null ? dev : {}
  const debounceText = env(DEV_ENV.debounce)
  const debounce =
    given.debounce ?? (debounceText === undefined ? DEFAULT_DEV_DEBOUNCE : Number(debounceText))
  if (!Number.isFinite(debounce) || debounce < 0)
    throw new ConfigError(
      'dev.debounce',
      `dev.debounce (${DEV_ENV.debounce}) must be a number of milliseconds ≥ 0, got ${JSON.stringify(given.debounce ?? debounceText)}`,
    )
  const hotDir = given.hotDir ?? env(DEV_ENV.hotDir)
  const snapshotsDir = given.snapshotsDir ?? env(DEV_ENV.snapshotsDir)
  return {
    hotDir: hotDir === undefined ? null : resolve(hotDir),
    debounce,
    snapshotsDir: snapshotsDir === undefined ? null : resolve(snapshotsDir),
    write: given.write ?? writeStderr,
  }
}
