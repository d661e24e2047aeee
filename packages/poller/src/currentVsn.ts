/**
 * What a machine runs, also reachable without a handle, like FlyDeploy.current_vsn/0. Every
 * runtime started in this process registers here until it stops, so several runtimes (one per
 * app, or tests) never overwrite each other.
 */
import { fingerprint, type LocalMarker } from '@relup/core'
import { AmbiguousVersionError } from './errors.js'

export interface VersionInfo {
  baseRef: string
  /** The hot upgrade's sourceRef, or null on base code. */
  hotRef: string | null
  version: string | null
  upgradeId: string | null
  fingerprint: string
}

/** The version of a machine on `baseRef` running `running` (null: the base code). */
export function versionInfo(baseRef: string, running: LocalMarker | null): VersionInfo {
  const hotRef = running?.sourceRef ?? null
  return {
    baseRef,
    hotRef,
    version: running?.version ?? null,
    upgradeId: running?.upgradeId ?? null,
    fingerprint: fingerprint(baseRef, hotRef),
  }
}

/** A started runtime, as the registry sees it. */
export interface VersionSource {
  readonly app: string
  currentVsn(): VersionInfo | null
}

const started = new Set<VersionSource>()

/** @internal called by `start()` */
export function registerRuntime(runtime: VersionSource): void {
  started.add(runtime)
}

/** @internal called by `stop()` */
export function unregisterRuntime(runtime: VersionSource): void {
  started.delete(runtime)
}

/**
 * What the relup runtime of this process runs: null when none is started (or it is in
 * development mode). With several runtimes started, name the app; when that still leaves more
 * than one (or none is named), it throws `AmbiguousVersionError` instead of guessing; use each
 * runtime's own `relup.currentVsn()` then.
 */
export function currentVsn(app?: string): VersionInfo | null {
  const candidates = [...started].filter((runtime) => app === undefined || runtime.app === app)
  const [only, ...others] = candidates
  if (only === undefined) return null
  if (others.length > 0)
    throw new AmbiguousVersionError(
      app,
      candidates.map((runtime) => runtime.app),
    )
  return only.currentVsn()
}
