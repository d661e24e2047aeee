/**
 * What the pieces of the runtime share: its public state and events, and the context the running
 * code works in. The pieces (attempt, release store, reporter, pointer reader, startup replay)
 * import this file; none of them imports the runtime class.
 */
import type {
  EngineStats,
  HealthFigures,
  HotUpgrade,
  ModuleManifest,
  NotifierState,
  RelupKeys,
  ResultError,
  UpgradeStats,
} from '@relup/core'
import type { ResolvedOptions } from './options.js'

/**
 * Everything the running code needs, built once `start()` knows the machine has a base. In
 * development mode (no `baseRef`) there is no context, so nothing that polls or applies can run.
 */
export interface RuntimeContext {
  readonly options: ResolvedOptions
  /** The cold build this process booted from. */
  readonly baseRef: string
  /**
   * `manifestDigest` of the base release, read from the engine at start (null when the engine
   * does not report its manifest): what tells a base rebuilt under the same `baseRef` apart.
   */
  readonly baseDigest: string | null
  /** The base release as the engine loaded it (read at start), for a rollback to base; null when the engine does not say. */
  readonly baseRelease: { dir: string; manifest: ModuleManifest; version: string } | null
  readonly keys: RelupKeys
  readonly startedAt: Date
  /**
   * Upgrades this machine found unhealthy on probation (`refused.json` in the state directory):
   * it never applies them again, as a rollout's candidate or otherwise.
   */
  readonly refused: Set<string>
}

export interface LastUpgrade {
  upgradeId: string
  version: string
  status: 'completed' | 'failed'
  at: Date
  attempt: number
  stats: UpgradeStats | null
  error: ResultError | null
}

export interface RelupState {
  app: string
  machineId: string
  mode: 'running' | 'development' | 'stopped'
  baseRef: string | null
  /** ETag of the last pointer read. */
  etag: string | null
  lastCheck: Date | null
  lastUpgrade: LastUpgrade | null
  upgradeCount: number
  /** Consecutive failed polls (a storage outage). */
  consecutiveFailures: number
  /**
   * Failed attempts of the pointer's upgrade, and when the next one is due: null when there is
   * none, or when the machine gave up after `maxAttempts` (until something new is published).
   */
  upgradeFailures: number
  nextRetry: Date | null
  nextPoll: Date | null
  pointerSeq: number | null
}

export interface RelupEvents {
  'upgrade:started': [{ upgrade: HotUpgrade; attempt: number; startup: boolean }]
  'upgrade:completed': [{ upgrade: HotUpgrade; stats: UpgradeStats; startup: boolean }]
  'upgrade:failed': [
    {
      upgrade: HotUpgrade
      error: Error
      attempt: number
      /** When the next attempt is due; null when this was the last (`maxAttempts`). */
      retryInMs: number | null
      startup: boolean
    },
  ]
  /** A rollout's candidate committed: it is on probation for `windowMs`. */
  'probation:started': [{ upgrade: HotUpgrade; windowMs: number }]
  /** The candidate stayed healthy for its window: it is this machine's last good release. */
  'probation:passed': [{ upgrade: HotUpgrade; health: HealthFigures }]
  /** The candidate was unhealthy (`health.reasons`): the machine reverts to the stable release. */
  'probation:failed': [{ upgrade: HotUpgrade; health: HealthFigures }]
  /** A rollback to base swapped the base release back in (on a running machine). */
  'base:restored': [{ stats: EngineStats }]
  /** A rollback to base could not swap the base release in: the hot code keeps running. */
  'base:failed': [{ error: Error; attempt: number; retryInMs: number | null }]
  /** Development mode reloaded the hot directory (`changed`: release-relative paths). */
  'dev:reloaded': [
    { version: string; fromVersion: string; changed: string[]; stats: EngineStats; ms: number },
  ]
  /** Development mode could not reload: `serving` keeps running; `location` is `file:line:column` when known. */
  'dev:failed': [
    { version: string; serving: string; changed: string[]; error: Error; location: string | null },
  ]
  'poll:error': [{ error: Error; consecutiveFailures: number }]
  'storage:recovered': [{ downMs: number }]
  /** The notifier's connection changed state (`disconnected`: upgrades arrive by the safety-net poll until it is back). */
  'notifier:state': [{ state: NotifierState; notifier: string }]
}
