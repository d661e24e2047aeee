/** What publish and rollback share: their options, how they report progress, what they return. */
import type { KeyObject } from 'node:crypto'
import type { HotUpgrade, MachineResult, Storage } from '@relup/core'
import type { MachineOutcome, WaitProgress } from './wait.js'

/** Progress of a publish or rollback, for a terminal or a log. Every callback is optional. */
export interface Reporter {
  step?(message: string): void
  progress?(progress: WaitProgress): void
  /** Once per machine, when its terminal result arrives. */
  result?(result: MachineResult): void
  warn?(message: string): void
}

/** What publish and rollback share: where, who signs, how long to wait, the lock. */
export interface DeployOptions {
  storage: Storage
  app: string
  /** Key prefix (default `relup/<app>/`). */
  prefix?: string | undefined
  /** Private key (PEM or KeyObject) to sign the hot upgrade with. */
  sign?: string | KeyObject | undefined
  /** How long to wait for the machines, ms (default 120,000). */
  timeoutMs?: number | undefined
  /** Don't wait for results: move the pointer and return. */
  wait?: boolean | undefined
  /** Wait for exactly this many machines (default: the machines on this base that reported recently). */
  expect?: number | undefined
  /** Take the lock over even when another publisher holds it. */
  force?: boolean | undefined
  /** Lock expiry, ms (default: the wait timeout + 60 s). */
  lockTtlMs?: number | undefined
  reporter?: Reporter | undefined
  /** Results poll interval while waiting, ms (default 500). */
  pollMs?: number | undefined
}

export interface PublishOutcome {
  upgrade: HotUpgrade
  /** True when an identical artifact was already in storage. */
  artifactReused: boolean
  outcomes: MachineOutcome[]
  /** Machines `expect` asked for that never answered at all. */
  missing: number
  waited: boolean
  /**
   * True when every expected machine completed, degraded ones included (see
   * `MachineOutcome.degraded`: they run the upgrade, but should be restarted when convenient).
   */
  ok: boolean
  /** Whose lock was taken over (expired or forced), if any. */
  replacedLock: string | null
  durationMs: number
}
