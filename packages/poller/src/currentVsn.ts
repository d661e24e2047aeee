/** What a machine runs; also reachable without a handle, like FlyDeploy.current_vsn/0. */
export interface VersionInfo {
  baseRef: string
  /** The hot upgrade's sourceRef, or null on base code. */
  hotRef: string | null
  version: string | null
  upgradeId: string | null
  fingerprint: string
}

let current: VersionInfo | null = null

/** @internal */
export function setCurrentVsn(value: VersionInfo | null): void {
  current = value
}

/** The version of the most recently started relup runtime in this process, or null before it started (or in development mode). */
export function currentVsn(): VersionInfo | null {
  return current
}
