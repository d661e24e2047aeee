/**
 * The runtime: FlyDeploy.Poller for Node.js. `startRelup` replays the pending hot upgrade before
 * it resolves, then polls the pointer with a conditional GET and applies what `decide()` says,
 * writing a result for every attempt and the local marker only after success.
 */
import { EventEmitter } from 'node:events'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { extractArtifact, verifyHotUpgrade } from '@relup/artifact'
import {
  type CurrentPointer,
  DocumentError,
  decide,
  diffManifests,
  fingerprint,
  type HotUpgrade,
  initialPointer,
  isRelupError,
  type LocalMarker,
  type MachineRecord,
  type MachineResult,
  parseCurrentPointer,
  type RelupKeys,
  relupKeys,
  resetPointer,
  type UpgradeStats,
  writeDocument,
} from '@relup/core'
import { manifestOfDirectory } from '@relup/core/release'
import { backoffDelay, jittered } from './backoff.js'
import { setCurrentVsn, type VersionInfo } from './currentVsn.js'
import { ArtifactMissingError, StartupError } from './errors.js'
import { readMarker, writeMarker } from './markerFile.js'
import { type RelupOptions, type ResolvedOptions, resolveOptions } from './options.js'

export interface LastUpgrade {
  upgradeId: string
  version: string
  status: 'completed' | 'failed'
  at: Date
  attempt: number
  stats: UpgradeStats | null
  error: { code: string; message: string; phase?: string | undefined } | null
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
  /** Consecutive failed attempts of the pending upgrade, and when the next one is due. */
  upgradeFailures: number
  nextRetry: Date | null
  nextPoll: Date | null
  pointerSeq: number | null
}

export interface RelupEvents {
  'upgrade:started': [{ upgrade: HotUpgrade; attempt: number; startup: boolean }]
  'upgrade:completed': [{ upgrade: HotUpgrade; stats: UpgradeStats; startup: boolean }]
  'upgrade:failed': [
    { upgrade: HotUpgrade; error: Error; attempt: number; retryInMs: number; startup: boolean },
  ]
  'poll:error': [{ error: Error; consecutiveFailures: number }]
  'storage:recovered': [{ downMs: number }]
}

interface Attempt {
  count: number
  nextAt: number
}

type ReadOutcome =
  | { status: 'ok'; pointer: CurrentPointer }
  | { status: 'not-modified' }
  | { status: 'not-found' }

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

export class Relup extends EventEmitter<RelupEvents> {
  readonly #o: ResolvedOptions
  readonly #keys: RelupKeys
  #mode: RelupState['mode'] = 'running'
  #etag: string | null = null
  #pointer: CurrentPointer | null = null
  #running: LocalMarker | null = null
  #diskMarker: LocalMarker | null = null
  #attempts = new Map<string, Attempt>()
  #reportedBadPointers = new Set<string>()
  #logged = new Set<string>()
  #outage: { since: number; failures: number } | null = null
  #timer: NodeJS.Timeout | null = null
  #tick: Promise<void> | null = null
  #lastCheck: Date | null = null
  #lastUpgrade: LastUpgrade | null = null
  #upgradeCount = 0
  #nextPoll: Date | null = null
  #lastRecordAt = 0
  #startupPending = false
  #started = false
  readonly #startedAt = new Date()

  /** Use `startRelup`; the constructor does no I/O. */
  constructor(options: RelupOptions) {
    super()
    this.#o = resolveOptions(options)
    this.#keys = relupKeys(this.#o.app, { prefix: this.#o.prefix })
  }

  /** What this machine runs now, or null in development mode. */
  currentVsn(): VersionInfo | null {
    const baseRef = this.#o.baseRef
    if (baseRef === null) return null
    const hotRef = this.#running?.sourceRef ?? null
    return {
      baseRef,
      hotRef,
      version: this.#running?.version ?? null,
      upgradeId: this.#running?.upgradeId ?? null,
      fingerprint: fingerprint(baseRef, hotRef),
    }
  }

  getState(): RelupState {
    const pending = this.#pointer?.hot ? this.#attempts.get(this.#pointer.hot.upgradeId) : undefined
    return {
      app: this.#o.app,
      machineId: this.#o.machineId,
      mode: this.#mode,
      baseRef: this.#o.baseRef,
      etag: this.#etag,
      lastCheck: this.#lastCheck,
      lastUpgrade: this.#lastUpgrade,
      upgradeCount: this.#upgradeCount,
      consecutiveFailures: this.#outage?.failures ?? 0,
      upgradeFailures: pending?.count ?? 0,
      nextRetry: pending ? new Date(pending.nextAt) : null,
      nextPoll: this.#nextPoll,
      pointerSeq: this.#pointer?.seq ?? null,
    }
  }

  /** Poll now instead of waiting for the timer (resolves when that poll, and any apply, is done). */
  async checkNow(): Promise<void> {
    if (this.#mode !== 'running') return
    if (this.#tick) await this.#tick
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    await this.#runTick()
  }

  /** Stop polling. Waits for an upgrade in progress, marks the machine stopped, leaves no timer behind. */
  async stop(): Promise<void> {
    if (this.#mode === 'stopped') return
    const wasRunning = this.#mode === 'running'
    this.#mode = 'stopped'
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#nextPoll = null
    if (this.#tick) await this.#tick.catch(() => {})
    if (wasRunning && this.#o.baseRef !== null) {
      // Best effort, bounded: a stopping process should not hang on a slow store.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        this.#writeMachineRecord(new Date()).catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 2000)
        }),
      ])
      clearTimeout(timer)
    }
  }

  // ---- startup -------------------------------------------------------------------------------

  /**
   * The blocking startup replay, then polling. `startRelup(options)` is `new Relup(options)` +
   * `start()`; call them yourself to subscribe to the startup replay's events first.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('relup.start() was already called; create a new Relup to start again')
    this.#started = true
    const { baseRef, logger } = this.#o
    if (baseRef === null) {
      this.#mode = 'development'
      logger.warn(
        { app: this.#o.app },
        'development mode: no baseRef (set the baseRef option, RELUP_BASE_REF or FLY_IMAGE_REF); hot upgrades are neither replayed nor polled',
      )
      setCurrentVsn(null)
      return
    }
    await mkdir(join(this.#o.stateDir, 'releases'), { recursive: true })
    this.#diskMarker = await readMarker(this.#o.stateDir).catch((error: unknown) => {
      logger.warn({ err: error }, 'ignoring an unreadable local marker')
      return null
    })
    setCurrentVsn(this.currentVsn())
    try {
      await this.#startupReplay()
    } catch (error) {
      if (this.#o.onStartupFailure === 'throw') {
        await this.stop()
        throw error instanceof StartupError
          ? error
          : new StartupError(`relup startup replay failed: ${(error as Error).message}`, { cause: error })
      }
      logger.error(
        { err: error },
        'startup replay failed; booting on the code this process has and retrying in the background',
      )
      // Polls finish the startup's work (first pointer, cold-deploy reset) once storage answers.
      this.#startupPending = true
    }
    await this.#writeMachineRecord().catch((error: unknown) =>
      logger.warn({ err: error }, 'could not write the machine record'),
    )
    this.#schedule(jittered(this.#o.pollInterval))
  }

  async #startupReplay(deadline = Date.now() + this.#o.startupTimeout, fromPoll = false): Promise<void> {
    const { storage, baseRef, machineId, logger } = this.#o
    for (let round = 0; round < 10; round++) {
      const read = await this.#readUntil(deadline)
      if (read.status === 'not-modified') throw new Error('unreachable: startup reads are unconditional')
      const pointer = read.status === 'ok' ? read.pointer : null
      const decision = decide({ pointer, baseRef: baseRef!, marker: this.#running })
      const context = { setBy: `machine:${machineId}` }
      switch (decision.action) {
        case 'init': {
          const next = initialPointer(this.#o.app, baseRef!, context)
          const put = await writeDocument(storage, this.#keys.current, next, { ifNoneMatch: '*' })
          if (put.status === 'precondition-failed') continue // another machine was first: read theirs
          this.#accept(next, put.etag)
          logger.info({ baseRef }, 'first boot of the app: wrote the initial pointer')
          return
        }
        case 'reset': {
          const next = resetPointer(pointer!, baseRef!, context)
          const put = await writeDocument(storage, this.#keys.current, next, { ifMatch: this.#etag! })
          if (put.status === 'precondition-failed') continue // someone moved it meanwhile: decide again
          this.#accept(next, put.etag)
          logger.info(
            { baseRef, from: decision.fromBaseRef },
            'cold deploy detected: the pointer now names this base',
          )
          return
        }
        case 'skip':
          logger.info(
            { baseRef, current: decision.currentBaseRef },
            'this machine runs an older base than the pointer; running base code and leaving the pointer alone',
          )
          return
        case 'noop':
          return
        case 'apply': {
          const outcome = await this.#apply(decision.upgrade, !fromPoll)
          // From a poll, a failed apply is already reported and scheduled for a retry.
          if (!outcome.ok && !fromPoll) throw outcome.error
          return
        }
      }
    }
    throw new StartupError('the pointer kept changing during startup (10 rounds of compare-and-swap lost)')
  }

  /** Read the pointer, retrying transport failures until the deadline. */
  async #readUntil(deadline: number): Promise<ReadOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#readPointer(false)
      } catch (error) {
        if (error instanceof DocumentError || Date.now() >= deadline) throw error
        const delay = Math.min(backoffDelay(attempt, 250, 5000), Math.max(0, deadline - Date.now()))
        this.#o.logger.warn({ err: error, retryInMs: delay }, 'cannot read the pointer yet; retrying')
        await sleep(delay)
      }
    }
  }

  // ---- polling -------------------------------------------------------------------------------

  #schedule(delay: number): void {
    if (this.#mode !== 'running') return
    this.#nextPoll = new Date(Date.now() + delay)
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.#runTick()
    }, delay)
    this.#timer.unref()
  }

  async #runTick(): Promise<void> {
    const tick = this.#poll().finally(() => {
      this.#tick = null
    })
    this.#tick = tick
    await tick
    if (this.#mode !== 'running' || this.#timer) return
    const delay = this.#outage
      ? backoffDelay(this.#outage.failures, this.#o.pollInterval, this.#o.maxPollBackoff)
      : jittered(this.#o.pollInterval)
    this.#schedule(delay)
  }

  async #poll(): Promise<void> {
    const { logger } = this.#o
    this.#lastCheck = new Date()
    try {
      if (this.#startupPending) {
        await this.#startupReplay(Date.now(), true)
        this.#startupPending = false
      }
      const read = await this.#readPointer(true)
      if (this.#outage) {
        const downMs = Date.now() - this.#outage.since
        logger.warn({ downMs }, `storage reachable again after ${Math.round(downMs / 1000)} s`)
        this.#outage = null
        this.emit('storage:recovered', { downMs })
      }
      if (read.status === 'not-found')
        this.#once('pointer-missing', () =>
          logger.warn(
            'the pointer disappeared from storage; keeping the running code (a restarting machine re-creates it)',
          ),
        )
      await this.#evaluate()
      if (Date.now() - this.#lastRecordAt >= this.#o.heartbeatInterval) {
        await this.#writeMachineRecord().catch((error: unknown) =>
          logger.debug({ err: error }, 'heartbeat failed'),
        )
      }
    } catch (error) {
      if (error instanceof DocumentError) {
        this.emit('poll:error', { error, consecutiveFailures: 0 })
        return
      }
      const failures = (this.#outage?.failures ?? 0) + 1
      if (!this.#outage) {
        this.#outage = { since: Date.now(), failures }
        logger.warn({ err: error }, 'storage unreachable; keeping the running code and backing off')
      } else {
        this.#outage.failures = failures
      }
      this.emit('poll:error', { error: error as Error, consecutiveFailures: failures })
    }
  }

  /**
   * Read the pointer (conditionally when polling). A malformed pointer is reported (a failed
   * result when it names an upgrade) and never used; its etag is kept so the body is not
   * downloaded again every second.
   */
  async #readPointer(conditional: boolean): Promise<ReadOutcome> {
    const result = await this.#o.storage.get(
      this.#keys.current,
      conditional && this.#etag ? { ifNoneMatch: this.#etag } : {},
    )
    if (result.status === 'not-found') {
      this.#etag = null
      return result
    }
    if (result.status === 'not-modified') return result
    let pointer: CurrentPointer
    try {
      pointer = parseCurrentPointer(result.body, this.#keys.current)
    } catch (error) {
      this.#etag = result.etag
      await this.#reportBadPointer(result.etag, result.body, error as Error)
      throw error
    }
    if (this.#pointer && pointer.seq < this.#pointer.seq) {
      // A stale read (an eventually consistent replica): never go back to an older pointer.
      this.#o.logger.warn({ seq: pointer.seq, known: this.#pointer.seq }, 'ignoring a stale pointer read')
      return { status: 'not-modified' }
    }
    this.#accept(pointer, result.etag)
    return { status: 'ok', pointer }
  }

  #accept(pointer: CurrentPointer, etag: string): void {
    this.#pointer = pointer
    this.#etag = etag
  }

  async #reportBadPointer(etag: string, body: Uint8Array, error: Error): Promise<void> {
    if (this.#reportedBadPointers.has(etag)) return
    this.#reportedBadPointers.add(etag)
    this.#o.logger.error({ err: error }, 'the pointer is malformed; keeping the running code')
    let raw: { hot?: { upgradeId?: unknown; version?: unknown } } | null = null
    try {
      raw = JSON.parse(new TextDecoder().decode(body))
    } catch {}
    const upgradeId = raw?.hot?.upgradeId
    if (typeof upgradeId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(upgradeId)) return
    const version =
      typeof raw?.hot?.version === 'string' && raw.hot.version !== '' ? raw.hot.version : 'unknown'
    const now = new Date().toISOString()
    await this.#writeResult(upgradeId, {
      version,
      status: 'failed',
      attempt: 1,
      startedAt: now,
      finishedAt: now,
      stats: null,
      error: {
        code: (error as { code?: string }).code ?? 'ERR_RELUP_DOCUMENT',
        message: error.message,
        phase: 'pointer',
      },
    }).catch(() => {})
  }

  async #evaluate(): Promise<void> {
    const pointer = this.#pointer
    if (!pointer || this.#mode !== 'running') return
    const decision = decide({ pointer, baseRef: this.#o.baseRef!, marker: this.#running })
    switch (decision.action) {
      case 'skip':
        this.#once(`skip:${pointer.baseRef}`, () =>
          this.#o.logger.info(
            { current: pointer.baseRef },
            'the fleet moved to a newer base; this machine keeps its code',
          ),
        )
        return
      case 'reset':
        this.#once(`reset:${pointer.baseRef}`, () =>
          this.#o.logger.warn(
            { current: pointer.baseRef },
            'the pointer names a base this machine does not know; only a starting machine resets it (restart this one to make its base current)',
          ),
        )
        return
      case 'apply': {
        const attempt = this.#attempts.get(decision.upgrade.upgradeId)
        if (attempt && attempt.nextAt > Date.now()) return // backing off after a failure
        await this.#apply(decision.upgrade, false)
        return
      }
      default:
        return
    }
  }

  // ---- applying ------------------------------------------------------------------------------

  async #apply(upgrade: HotUpgrade, startup: boolean): Promise<{ ok: true } | { ok: false; error: Error }> {
    const { logger, engine } = this.#o
    const attempt = (this.#attempts.get(upgrade.upgradeId)?.count ?? 0) + 1
    const started = performance.now()
    const startedAt = new Date().toISOString()
    this.emit('upgrade:started', { upgrade, attempt, startup })
    logger.info(
      { version: upgrade.version, upgradeId: upgrade.upgradeId, attempt },
      `applying ${upgrade.version}`,
    )
    let releaseDir: string | null = null
    let fresh = false
    let phase = 'report'
    try {
      await this.#writeResult(upgrade.upgradeId, {
        version: upgrade.version,
        status: 'pending',
        attempt,
        startedAt,
        finishedAt: null,
        stats: null,
        error: null,
      })
      phase = 'verify'
      if (this.#o.trustedKeys.length > 0) verifyHotUpgrade(upgrade, this.#o.trustedKeys)
      phase = 'download'
      const downloadStarted = performance.now()
      ;({ releaseDir, fresh } = await this.#obtainRelease(upgrade))
      const downloadMs = performance.now() - downloadStarted
      phase = 'swap'
      const engineStats = await engine.upgrade(releaseDir, {
        manifest: upgrade.manifest,
        version: upgrade.version,
        suspendTimeout: this.#o.suspendTimeout,
      })
      phase = 'marker'
      const marker: LocalMarker = {
        schema: 1,
        app: this.#o.app,
        baseRef: this.#o.baseRef!,
        upgradeId: upgrade.upgradeId,
        version: upgrade.version,
        sourceRef: upgrade.sourceRef,
        artifactSha256: upgrade.artifact.sha256,
        releaseDir,
        appliedAt: new Date().toISOString(),
      }
      const previous = this.#running
      this.#running = marker
      this.#attempts.delete(upgrade.upgradeId)
      this.#upgradeCount++
      setCurrentVsn(this.currentVsn())
      // The code already runs; a marker that cannot be written only costs a download after a restart.
      await writeMarker(this.#o.stateDir, marker)
        .then(() => {
          this.#diskMarker = marker
        })
        .catch((error: unknown) => logger.error({ err: error }, 'could not write the local marker'))
      const stats: UpgradeStats = {
        modulesReloaded: engineStats.modulesReloaded,
        moduleNames: engineStats.moduleNames,
        unitsMigrated: engineStats.unitsMigrated,
        unitNames: engineStats.unitNames,
        unitsFailed: engineStats.unitsFailed,
        pauseMs: engineStats.pauseMs,
        totalMs: performance.now() - started,
        downloadMs,
      }
      const last: LastUpgrade = {
        upgradeId: upgrade.upgradeId,
        version: upgrade.version,
        status: 'completed',
        at: new Date(),
        attempt,
        stats,
        error: null,
      }
      // The record first: whoever sees `completed` (relup publish) then finds the machine current.
      await this.#writeMachineRecord(undefined, last).catch((error: unknown) =>
        logger.warn({ err: error }, 'could not write the machine record'),
      )
      await this.#writeResult(upgrade.upgradeId, {
        version: upgrade.version,
        status: 'completed',
        attempt,
        startedAt,
        finishedAt: new Date().toISOString(),
        stats,
        error: null,
      }).catch((error: unknown) => logger.error({ err: error }, 'could not write the completed result'))
      await this.#pruneReleases([marker.releaseDir, previous?.releaseDir])
      // Last, so that whoever sees lastUpgrade (or the event) sees a finished upgrade.
      this.#lastUpgrade = last
      logger.info(
        {
          version: upgrade.version,
          pauseMs: stats.pauseMs,
          totalMs: stats.totalMs,
          modules: stats.modulesReloaded,
        },
        `running ${upgrade.version}`,
      )
      this.emit('upgrade:completed', { upgrade, stats, startup })
      return { ok: true }
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught))
      const retryInMs = backoffDelay(attempt, this.#o.retryBaseDelay, this.#o.retryMaxDelay)
      this.#attempts.set(upgrade.upgradeId, { count: attempt, nextAt: Date.now() + retryInMs })
      if (fresh && releaseDir && releaseDir !== this.#running?.releaseDir)
        await rm(releaseDir, { recursive: true, force: true })
      const code = isRelupError(error) ? error.code : 'ERR_RELUP_UPGRADE_FAILED'
      const errorPhase = (error as { phase?: unknown }).phase
      const reported = {
        code,
        message: error.message,
        phase: typeof errorPhase === 'string' ? errorPhase : phase,
      }
      const last: LastUpgrade = {
        upgradeId: upgrade.upgradeId,
        version: upgrade.version,
        status: 'failed',
        at: new Date(),
        attempt,
        stats: null,
        error: reported,
      }
      logger.error(
        { err: error, version: upgrade.version, attempt, retryInMs },
        `upgrade to ${upgrade.version} failed (${reported.phase}); still running ${this.#running?.version ?? 'the base code'}, retrying in ${Math.round(retryInMs / 1000)} s`,
      )
      await this.#writeResult(upgrade.upgradeId, {
        version: upgrade.version,
        status: 'failed',
        attempt,
        startedAt,
        finishedAt: new Date().toISOString(),
        stats: null,
        error: reported,
      }).catch((writeError: unknown) => logger.warn({ err: writeError }, 'could not write the failed result'))
      await this.#writeMachineRecord(undefined, last).catch(() => {})
      this.#lastUpgrade = last
      this.emit('upgrade:failed', { upgrade, error, attempt, retryInMs, startup })
      return { ok: false, error }
    }
  }

  /** The verified release directory: reused from disk when the marker names it and it is intact, else downloaded. */
  async #obtainRelease(upgrade: HotUpgrade): Promise<{ releaseDir: string; fresh: boolean }> {
    const dest = join(this.#o.stateDir, 'releases', upgrade.upgradeId)
    const marker = this.#diskMarker
    if (marker?.upgradeId === upgrade.upgradeId && marker.releaseDir === dest && (await exists(dest))) {
      const onDisk = await manifestOfDirectory(dest).catch(() => null)
      const diff = onDisk && diffManifests(upgrade.manifest, onDisk)
      if (diff && diff.added.length + diff.changed.length + diff.removed.length === 0)
        return { releaseDir: dest, fresh: false }
    }
    // Whatever is there (a crash mid-extraction, a tampered directory) is not trusted.
    await rm(dest, { recursive: true, force: true })
    const download = await this.#o.storage.getStream(upgrade.artifact.key)
    if (download.status !== 'ok') throw new ArtifactMissingError(upgrade.artifact.key, upgrade.version)
    // The declared manifest is checked against the extracted files too: the archive's hash is
    // what the publisher uploaded, the manifest is what it claims (and signed).
    await extractArtifact(download.body, {
      dest,
      sha256: upgrade.artifact.sha256,
      size: upgrade.artifact.size,
      limits: this.#o.limits,
      manifest: upgrade.manifest,
      name: `${upgrade.version} (${upgrade.artifact.key})`,
    })
    return { releaseDir: dest, fresh: true }
  }

  /** Keep the running release and the one before it (two versions, as Erlang does); remove the rest. */
  async #pruneReleases(keep: (string | undefined)[]): Promise<void> {
    const root = join(this.#o.stateDir, 'releases')
    const kept = new Set(keep.filter(Boolean))
    for (const entry of await readdir(root).catch(() => [] as string[])) {
      const dir = join(root, entry)
      if (!kept.has(dir)) await rm(dir, { recursive: true, force: true }).catch(() => {})
    }
  }

  // ---- reporting -----------------------------------------------------------------------------

  async #writeResult(
    upgradeId: string,
    fields: Pick<
      MachineResult,
      'version' | 'status' | 'attempt' | 'startedAt' | 'finishedAt' | 'stats' | 'error'
    >,
  ): Promise<void> {
    const result: MachineResult = {
      schema: 1,
      upgradeId,
      machineId: this.#o.machineId,
      region: this.#o.region,
      baseRef: this.#o.baseRef!,
      ...fields,
    }
    const put = await writeDocument(this.#o.storage, this.#keys.result(upgradeId, this.#o.machineId), result)
    if (put.status !== 'ok') throw new Error('unexpected precondition failure on an unconditional write')
  }

  async #writeMachineRecord(stoppedAt?: Date, last: LastUpgrade | null = this.#lastUpgrade): Promise<void> {
    const vsn = this.currentVsn()!
    const record: MachineRecord = {
      schema: 1,
      app: this.#o.app,
      machineId: this.#o.machineId,
      region: this.#o.region,
      baseRef: vsn.baseRef,
      hotRef: vsn.hotRef,
      version: vsn.version,
      upgradeId: vsn.upgradeId,
      fingerprint: vsn.fingerprint,
      startedAt: this.#startedAt.toISOString(),
      updatedAt: new Date().toISOString(),
      lastResult: last
        ? {
            upgradeId: last.upgradeId,
            version: last.version,
            status: last.status,
            at: last.at.toISOString(),
            error: last.error?.message ?? null,
          }
        : null,
      heartbeatMs: this.#o.heartbeatInterval,
      stoppedAt: stoppedAt ? stoppedAt.toISOString() : null,
      pid: process.pid,
      host: hostname(),
    }
    this.#lastRecordAt = Date.now()
    await writeDocument(this.#o.storage, this.#keys.machine(this.#o.machineId), record)
  }

  #once(key: string, log: () => void): void {
    if (this.#logged.has(key)) return
    this.#logged.add(key)
    log()
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/**
 * Start the runtime. Resolves after the startup replay: the pending hot upgrade (if any) is
 * applied before your server starts serving. Place it before `server.listen()`.
 */
export async function startRelup(options: RelupOptions): Promise<Relup> {
  const relup = new Relup(options)
  await relup.start()
  return relup
}
