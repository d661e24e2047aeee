/** What publish and rollback share: their options, how they report progress, what they return. */
import type { KeyObject } from 'node:crypto'
import type { HotUpgrade, MachineResult, Notifier, Storage } from '@relup/core'
import type { ReplacedLock } from './lock.js'
import type { OtherBaseMachine } from './machines.js'
import type { RolloutOptions, RolloutReport } from './rollout.js'
import type { MachineOutcome, WaitProgress } from './wait.js'

/** Progress of a publish or rollback, for a terminal or a log. Every callback is optional. */
export interface Reporter {
  step?(message: string): void
  progress?(progress: WaitProgress): void
  /** Once per machine, when its terminal result arrives. */
  result?(result: MachineResult): void
  /** Also collected in the outcome's `warnings`. */
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
  /**
   * How long an expected machine may take to acknowledge the upgrade before it is counted absent
   * and not waited for, ms: at least this, or three of its poll intervals (default 15,000).
   */
  ackTimeoutMs?: number | undefined
  /** Don't wait for results: move the pointer and return. */
  wait?: boolean | undefined
  /** Wait for exactly this many machines (default: the machines on this base that reported recently). */
  expect?: number | undefined
  /** Take the lock over even when another publisher holds it. */
  force?: boolean | undefined
  /**
   * Succeed even when the upgrade's base runs on no more than half of the live machines (see
   * `isMinorityBase`); machines on other bases are listed either way.
   */
  allowOtherBases?: boolean | undefined
  /** Lock expiry, ms (default: the wait timeout + 60 s). */
  lockTtlMs?: number | undefined
  reporter?: Reporter | undefined
  /**
   * Told once the pointer moved, so machines with the same notifier read it at once
   * (`openNotifierUrl('redis://…')`). A failed announce is a warning; the caller closes it.
   */
  notifier?: Notifier | undefined
  /** Results poll interval while waiting, ms (default 500). */
  pollMs?: number | undefined
  /**
   * Abort to cancel: the lock is released and temporary files removed, then it rejects with a
   * `CancelledError`. A pointer already moved stays moved (machines keep applying the upgrade).
   */
  signal?: AbortSignal | undefined
  /**
   * Roll a hot upgrade out in waves, each machine keeping it on probation (see `RolloutOptions`);
   * `'auto'`: the default plan once `AUTO_MIN_MACHINES` machines are live on the base, else all
   * at once. Default: all at once (every machine at the same time, as before rollouts). Ignored
   * with `expect`.
   */
  rollout?: RolloutOptions | 'auto' | undefined
}

/** What a publish resolves with; `U` is `HotUpgrade | null` for a rollback (`RollbackOutcome`). */
export interface PublishOutcome<U extends HotUpgrade | null = HotUpgrade> {
  /** The hot upgrade the pointer now names; null after `rollback({ to: 'base' })`. */
  upgrade: U
  /** The base the machines waited for run. */
  baseRef: string
  /** True when an identical artifact was already in storage (and verified). */
  artifactReused: boolean
  outcomes: MachineOutcome[]
  /** Machines `expect` asked for that never answered at all. */
  missing: number
  /** Live machines of the app on other bases: the upgrade does not reach them. */
  otherBaseMachines: OtherBaseMachine[]
  waited: boolean
  /**
   * True when every machine waited for completed (degraded ones included: see
   * `MachineOutcome.degraded`), machines counted absent aside as long as one completed, and the
   * upgrade's base is not a minority of the live machines (`isMinorityBase`; unless
   * `allowOtherBases`).
   */
  ok: boolean
  /** Whose lock was taken over, and why; null when the lock was free. */
  replacedLock: ReplacedLock | null
  /** Every warning given to the reporter, in order. */
  warnings: string[]
  durationMs: number
  /** A staged rollout: its waves, failures and end (absent for all at once). */
  rollout?: RolloutReport | undefined
}

/** What a rollback resolves with: `upgrade` is null after `rollback({ to: 'base' })`. */
export type RollbackOutcome = PublishOutcome<HotUpgrade | null>
