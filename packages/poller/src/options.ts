import type { KeyObject } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MeterProvider } from '@opentelemetry/api'
import type { ArchiveLimits } from '@relup/artifact'
import {
  assertAppName,
  ConfigError,
  type EngineStats,
  type Logger,
  type ModuleManifest,
  manifestDigest,
  type Notifier,
  notifierPackageFor,
  type Storage,
  type Supervised,
  supervisedFromEnv,
} from '@relup/core'
import { type DevOptions, type ResolvedDevOptions, resolveDevOptions } from './devOptions.js'
import { DEFAULT_HEALTH, type HealthCheck, type HealthThresholds } from './health.js'
import { quietLogger } from './logger.js'
import { defaultMachineId } from './machineId.js'

/** Core's `EngineStats`, under the name this package has always exported. */
export type { EngineStats }

/** What the runtime needs from a swap engine (`@relup/swap` provides it). */
export interface UpgradeEngine {
  /** Swap the release in `releaseDir` in; its stats reach the machine's result as they are. */
  upgrade(
    releaseDir: string,
    options: {
      manifest: ModuleManifest
      version: string
      suspendTimeout: number
      /** The files were verified against `manifest` just before (extraction, or a reuse check). */
      verified: boolean
      /** Going back to an older release (an unhealthy candidate): units migrate with `downgrade`. */
      revert?: boolean
    },
  ): Promise<EngineStats>
  /**
   * Calls into `version` through the engine's handles, those that threw or rejected, and the HTTP
   * responses handed to them with their 5xx count: what the health gate compares. Optional:
   * without it, a candidate's probation watches only uncaught errors, the event loop and `healthCheck`.
   */
  callStats?(version?: string): { calls: number; errors: number; responses: number; serverErrors: number }
  /** Whether `error` was thrown from code of the release in `releaseDir` (for uncaught errors on probation). */
  threwFrom?(error: unknown, releaseDir?: string): boolean
  /**
   * The absolute release directories that live modules' files come from. A module shared with a
   * newer release keeps the `__dirname` of the release that first evaluated it, so the runtime
   * never prunes these. Optional: without it, only the running release and the one before stay.
   */
  releaseDirsInUse?(): string[]
  /**
   * The manifest of the live release. Read once at `start()`, before any upgrade: its digest is
   * the identity of the base this process booted from, so a base rebuilt under the same
   * `baseRef` is told apart. Optional: without it, a rebuilt base goes unnoticed.
   */
  readonly manifest?: ModuleManifest | undefined
  /**
   * The directory of the live release, read once at `start()` with `manifest`: the base release,
   * which a rollback to base swaps back in on a running machine. Optional: without it, a machine
   * returns to base code only when it restarts.
   */
  readonly releaseDir?: string | undefined
  /** The version name of the live release, read once at `start()`: the base's, which a rollback to base reports. */
  readonly version?: string | undefined
}

/** The release `engine` runs (read before any upgrade: its base), or null when it does not say. */
export function baseReleaseOf(
  engine: UpgradeEngine,
): { dir: string; manifest: ModuleManifest; version: string } | null {
  const { releaseDir, manifest, version } = engine
  if (typeof releaseDir !== 'string' || !manifest) return null
  return { dir: releaseDir, manifest, version: typeof version === 'string' ? version : 'base' }
}

/** The digest of the release `engine` runs (read before any upgrade: its base), or null when it does not say. */
export function baseDigestOf(engine: UpgradeEngine, logger: Logger): string | null {
  try {
    return engine.manifest ? manifestDigest(engine.manifest) : null
  } catch (error) {
    logger.warn({ err: error }, 'the engine could not give its manifest; a rebuilt base will go unnoticed')
    return null
  }
}

export interface RelupOptions {
  /** The app's name: keys live under `relup/<app>/`. */
  app: string
  storage: Storage
  engine: UpgradeEngine
  /** The cold build this process booted from. Default: `RELUP_BASE_REF`, then `FLY_IMAGE_REF`; none → development mode. */
  baseRef?: string | undefined
  /**
   * Default: `RELUP_MACHINE_ID`; else `FLY_MACHINE_ID` or the hostname, followed by `-<n>` for a
   * PM2 instance (`NODE_APP_INSTANCE`) or `-w<id>` for a node:cluster worker. Two live processes
   * with the same id and state directory are refused (`MachineIdInUseError`).
   */
  machineId?: string | undefined
  /** Default: `FLY_REGION`, else null. */
  region?: string | undefined
  /** Key prefix (default `relup/<app>/`). */
  prefix?: string | undefined
  /**
   * How often to check the pointer, ms, with ±10 % jitter. Default 1000; with a `notifier`,
   * 60,000: the poll is then only the safety net for notices lost while the notifier was down.
   */
  pollInterval?: number | undefined
  /**
   * A doorbell that makes the machine check the pointer as soon as a publisher moved it: a
   * `Notifier` (`redisNotifier`, `natsNotifier`) or its URL (`redis://…`, `nats://…`, loading
   * `@relup/notifier-redis` / `@relup/notifier-nats`). Default: `RELUP_NOTIFY`, else none.
   * Notices carry no authority: the machine always reads and validates the pointer itself.
   */
  notifier?: Notifier | string | undefined
  /** How long the swap may wait for in-flight calls to drain, ms (default 10,000). */
  suspendTimeout?: number | undefined
  /** Releases and the local marker. Default: `RELUP_STATE_DIR`, else `<tmpdir>/relup/<app>/<machineId>`. */
  stateDir?: string | undefined
  /** Ed25519 public keys (PEM or KeyObject). When set, unsigned or wrongly signed upgrades are refused. */
  trustedKeys?: (string | KeyObject)[] | undefined
  /** Any pino-compatible logger. Default: warnings and errors to stderr, nothing else. */
  logger?: Logger | undefined
  /** A failed startup replay: `'base'` (default) boots on base code and reports the failure; `'throw'` rejects. */
  onStartupFailure?: 'base' | 'throw' | undefined
  /** Caps for artifact extraction (total bytes, entries, file size). */
  limits?: Partial<ArchiveLimits> | undefined
  /** First retry of a failed upgrade after this many ms, doubling up to `retryMaxDelay` (default 5,000 / 300,000). */
  retryBaseDelay?: number | undefined
  retryMaxDelay?: number | undefined
  /**
   * Attempts of one failed upgrade (the first included) before the machine gives up on it until
   * something new is published (default 5: with the default delays, the last within about 40-75 s).
   */
  maxAttempts?: number | undefined
  /** During a storage outage, polls back off from `pollInterval` up to this many ms (default 15,000; 60,000 with a `notifier`). */
  maxPollBackoff?: number | undefined
  /** How often the machine refreshes `machines/<id>.json`, ms (default 60,000; 600,000 with a `notifier`, so an idle machine costs under 72 requests an hour). */
  heartbeatInterval?: number | undefined
  /**
   * A download still running after this many ms is acknowledged with a `pending` result, so that
   * a waiting publisher knows the machine is at work (default 2,000; 0: always, before the
   * download). A quicker upgrade writes only its terminal result.
   */
  pendingAfter?: number | undefined
  /**
   * After a completed upgrade, `machines/<id>.json` follows the `completed` result at a random
   * moment within this many ms (default 2,000; 0: before the result, at once), so that a fleet
   * upgrading together does not double its burst of writes. The result is what a publisher waits
   * for, and what `relup status` reads while the record has not followed.
   */
  recordDelay?: number | undefined
  /** How long the startup replay keeps trying to reach storage before giving up, ms (default 30,000). */
  startupTimeout?: number | undefined
  /**
   * Without a base ref: watch the hot directory and reload it on save, through the engine's
   * upgrade transaction (`relup dev` sets this with `RELUP_DEV=1`). Ignored when there is a base ref.
   */
  dev?: boolean | DevOptions | undefined
  /**
   * The app's own check of a rollout's candidate, called at the end of its health window: a throw,
   * a rejection or `false` makes it unhealthy (the machine reverts it).
   */
  healthCheck?: HealthCheck | undefined
  /** When a candidate on probation is unhealthy: see `HealthThresholds` for each default. */
  health?: Partial<HealthThresholds> | undefined
  /** Where the runtime's metrics go (see metrics.ts). Default: the global OpenTelemetry meter provider. */
  meterProvider?: MeterProvider | undefined
}

export interface ResolvedOptions {
  app: string
  storage: Storage
  engine: UpgradeEngine
  baseRef: string | null
  machineId: string
  region: string | null
  prefix: string | undefined
  pollInterval: number
  /** The notifier, or the URL to open it from at `start()`; null without one. */
  notifier: Notifier | string | null
  suspendTimeout: number
  stateDir: string
  trustedKeys: (string | KeyObject)[]
  logger: Logger
  onStartupFailure: 'base' | 'throw'
  limits: Partial<ArchiveLimits> | undefined
  retryBaseDelay: number
  retryMaxDelay: number
  maxAttempts: number
  maxPollBackoff: number
  heartbeatInterval: number
  pendingAfter: number
  recordDelay: number
  startupTimeout: number
  dev: ResolvedDevOptions | null
  healthCheck: HealthCheck | null
  health: HealthThresholds
  meterProvider: MeterProvider | undefined
  /** What the environment says of the supervisor this process runs under (`relup run`); null: none. */
  supervised: Supervised | null
}

/** With a notifier: the safety-net poll and the heartbeat (60 GETs + 6 PUTs an idle machine-hour). */
export const SAFETY_NET_POLL = 60_000
export const SAFETY_NET_HEARTBEAT = 600_000
/** Defaults of `pendingAfter` and `recordDelay`: a fleet upgrading together writes once per machine. */
export const PENDING_AFTER_MS = 2000
export const RECORD_DELAY_MS = 2000

const positive = (name: string, value: number | undefined, fallback: number) => {
  const v = value ?? fallback
  if (!Number.isFinite(v) || v <= 0)
    throw new ConfigError(name, `${name} must be a positive number of milliseconds, got ${value}`)
  return v
}

const nonNegative = (name: string, value: number | undefined, fallback: number) => {
  const v = value ?? fallback
  if (!Number.isFinite(v) || v < 0)
    throw new ConfigError(name, `${name} must be a number of milliseconds, 0 or more, got ${value}`)
  return v
}

const count = (name: string, value: number | undefined, fallback: number) => {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 1)
    throw new ConfigError(name, `${name} must be a whole number of at least 1, got ${value}`)
  return v
}

const env = (name: string) => {
  const value = process.env[name]
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

export function resolveOptions(options: RelupOptions): ResolvedOptions {
  if (!options || typeof options !== 'object')
    throw new ConfigError('options', 'startRelup needs an options object: { app, storage, engine }')
  assertAppName(options.app)
  if (!options.storage)
    throw new ConfigError(
      'storage',
      'startRelup needs a `storage` (fsStorage, s3Storage, memoryStorage or your own adapter)',
    )
  if (!options.engine || typeof options.engine.upgrade !== 'function') {
    throw new ConfigError(
      'engine',
      'startRelup needs an `engine` with an upgrade() method (createSwapEngine from @relup/swap)',
    )
  }
  const machineId = options.machineId ?? defaultMachineId()
  if (!/^[A-Za-z0-9._+@=-]{1,128}$/.test(machineId)) {
    throw new ConfigError(
      'machineId',
      `machineId ${JSON.stringify(machineId)} must be 1-128 letters, digits or . _ + @ = -`,
    )
  }
  const onStartupFailure = options.onStartupFailure ?? 'base'
  if (onStartupFailure !== 'base' && onStartupFailure !== 'throw') {
    throw new ConfigError(
      'onStartupFailure',
      `onStartupFailure must be 'base' or 'throw', got ${JSON.stringify(onStartupFailure)}`,
    )
  }
  const notifier = options.notifier ?? env('RELUP_NOTIFY') ?? null
  if (typeof notifier === 'string')
    notifierPackageFor(notifier) // an unknown scheme fails here, not at start()
  else if (notifier !== null && typeof notifier.subscribe !== 'function')
    throw new ConfigError(
      'notifier',
      'notifier must be a Notifier (redisNotifier, natsNotifier) or a URL such as redis://host:6379 or nats://host:4222',
    )
  return {
    app: options.app,
    storage: options.storage,
    engine: options.engine,
    baseRef: options.baseRef ?? env('RELUP_BASE_REF') ?? env('FLY_IMAGE_REF') ?? null,
    machineId,
    region: options.region ?? env('FLY_REGION') ?? null,
    prefix: options.prefix,
    pollInterval: positive('pollInterval', options.pollInterval, notifier ? SAFETY_NET_POLL : 1000),
    notifier,
    suspendTimeout: positive('suspendTimeout', options.suspendTimeout, 10_000),
    stateDir: options.stateDir ?? env('RELUP_STATE_DIR') ?? join(tmpdir(), 'relup', options.app, machineId),
    trustedKeys: options.trustedKeys ?? [],
    logger: options.logger ?? quietLogger,
    onStartupFailure,
    limits: options.limits,
    retryBaseDelay: positive('retryBaseDelay', options.retryBaseDelay, 5000),
    retryMaxDelay: positive('retryMaxDelay', options.retryMaxDelay, 300_000),
    maxAttempts: count('maxAttempts', options.maxAttempts, 5),
    // With a notifier, an outage must not poll more often than the healthy safety net does.
    maxPollBackoff: positive('maxPollBackoff', options.maxPollBackoff, notifier ? SAFETY_NET_POLL : 15_000),
    heartbeatInterval: positive(
      'heartbeatInterval',
      options.heartbeatInterval,
      notifier ? SAFETY_NET_HEARTBEAT : 60_000,
    ),
    pendingAfter: nonNegative('pendingAfter', options.pendingAfter, PENDING_AFTER_MS),
    recordDelay: nonNegative('recordDelay', options.recordDelay, RECORD_DELAY_MS),
    startupTimeout: positive('startupTimeout', options.startupTimeout, 30_000),
    dev: resolveDevOptions(options.dev),
    healthCheck: resolveHealthCheck(options.healthCheck),
    health: resolveHealth(options.health),
    meterProvider: options.meterProvider,
    supervised: supervisedFromEnv(process.env, options.app),
  }
}

function resolveHealthCheck(check: unknown): HealthCheck | null {
  if (check === undefined || check === null) return null
  if (typeof check !== 'function')
    throw new ConfigError('healthCheck', `healthCheck must be a function, got ${typeof check}`)
  return check as HealthCheck
}

function resolveHealth(health: Partial<HealthThresholds> | undefined): HealthThresholds {
  const resolved = { ...DEFAULT_HEALTH }
  for (const [key, value] of Object.entries(health ?? {})) {
    if (!(key in DEFAULT_HEALTH))
      throw new ConfigError(
        `health.${key}`,
        `health.${key} is not a threshold; use one of ${Object.keys(DEFAULT_HEALTH).join(', ')}`,
      )
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new ConfigError(
        `health.${key}`,
        `health.${key} must be a number >= 0, got ${JSON.stringify(value)}`,
      )
    resolved[key as keyof HealthThresholds] = value
  }
  return resolved
}
