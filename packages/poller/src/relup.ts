/**
 * The runtime: FlyDeploy.Poller for Node.js. `startRelup` replays the pending hot upgrade before
 * it resolves, then polls the pointer with a conditional GET and applies what `decide()` says,
 * writing a result for every attempt and the local marker only after success. This file is the
 * lifecycle (start → poll → apply → stop); the state it moves through is `state.ts`.
 */
import { EventEmitter } from 'node:events'
import { decide, type HotUpgrade, relupKeys } from '@relup/core'
import { type AttemptOutcome, attemptUpgrade } from './attempt.js'
import { backoffDelay, jittered } from './backoff.js'
import {
  registerRuntime,
  unregisterRuntime,
  type VersionInfo,
  type VersionSource,
  versionInfo,
} from './currentVsn.js'
import { StartupError } from './errors.js'
import { readMarker } from './markerFile.js'
import { type RelupOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { type MalformedPointer, type PointerRead, PointerReader } from './pointerReader.js'
import { prepareReleases, pruneReleases } from './releaseStore.js'
import { Reporter } from './reporter.js'
import { readUntil, replayPointer } from './startupReplay.js'
import {
  initialState,
  type Lifecycle,
  publicState,
  type RuntimeEvent,
  type RuntimeState,
  reduce,
} from './state.js'
import type { RelupEvents, RelupState, RuntimeContext } from './types.js'

/** What a runtime with a base works with; development mode never has one. */
interface Live {
  ctx: RuntimeContext
  reader: PointerReader
  reporter: Reporter
}

type StartupOutcome = { ok: true } | { ok: false; error: unknown; pointerSettled: boolean }

export class Relup extends EventEmitter<RelupEvents> {
  readonly #o: ResolvedOptions
  #state: RuntimeState = initialState
  #live: Live | null = null
  #timer: NodeJS.Timeout | null = null
  /** The startup replay or the poll in progress: what `stop()` and `checkNow()` wait for. */
  #busy: Promise<unknown> | null = null
  #stopping: Promise<void> | null = null
  readonly #logged = new Set<string>()
  /** How module-level `currentVsn()` sees this runtime while it is started. */
  readonly #versionSource: VersionSource

  /** Use `startRelup`; the constructor does no I/O. */
  constructor(options: RelupOptions) {
    super()
    this.#o = resolveOptions(options)
    this.#versionSource = { app: this.#o.app, currentVsn: () => this.currentVsn() }
  }

  // ---- startup -------------------------------------------------------------------------------

  /**
   * The blocking startup replay, then polling. `startRelup(options)` is `new Relup(options)` +
   * `start()`; call them yourself to subscribe to the startup replay's events first.
   */
  async start(): Promise<void> {
    if (this.#lifecycle() !== 'created')
      throw new Error('relup.start() was already called (or stop() was); create a new Relup to start again')
    this.#dispatch({ type: 'start' })
    registerRuntime(this.#versionSource)
    const { baseRef, logger } = this.#o
    if (baseRef === null) {
      this.#dispatch({ type: 'development' })
      logger.warn(
        { app: this.#o.app },
        'development mode: no baseRef (set the baseRef option, RELUP_BASE_REF or FLY_IMAGE_REF); hot upgrades are neither replayed nor polled',
      )
      return
    }
    const ctx: RuntimeContext = {
      options: this.#o,
      baseRef,
      keys: relupKeys(this.#o.app, { prefix: this.#o.prefix }),
      startedAt: new Date(),
    }
    const live: Live = { ctx, reader: new PointerReader(ctx), reporter: new Reporter(ctx) }
    this.#live = live
    const startup = await this.#whileBusy(this.#startup(live))
    if (!startup.ok) {
      const { error } = startup
      if (this.#o.onStartupFailure === 'throw') {
        await this.stop()
        throw error instanceof StartupError
          ? error
          : new StartupError(`relup startup replay failed: ${(error as Error).message}`, { cause: error })
      }
      logger.error(
        { err: error },
        startup.pointerSettled
          ? 'the startup upgrade failed; booting on the code this process has and retrying it with backoff'
          : 'startup replay failed; booting on the code this process has and retrying in the background',
      )
    }
    if (this.#lifecycle() === 'starting')
      await this.#whileBusy(
        this.#writeRecord(live).catch((error: unknown) =>
          logger.warn({ err: error }, 'could not write the machine record'),
        ),
      )
    if (this.#lifecycle() !== 'starting') return // stop() was called meanwhile
    this.#dispatch({ type: 'started' })
    this.#schedule(live, jittered(this.#o.pollInterval))
  }

  /**
   * Read the local marker, settle the pointer, then apply the upgrade it names. Throws only when
   * the state directory cannot be created; any other failure is an outcome the caller boots on.
   */
  async #startup(live: Live): Promise<StartupOutcome> {
    const { ctx, reader, reporter } = live
    await prepareReleases(ctx)
    const marker = await readMarker(this.#o.stateDir).catch((error: unknown) => {
      this.#o.logger.warn({ err: error }, 'ignoring an unreadable local marker')
      return null
    })
    this.#dispatch({ type: 'marker-read', marker })
    try {
      const deadline = Date.now() + this.#o.startupTimeout
      const replay = await replayPointer(ctx, {
        reader,
        running: this.#state.running,
        read: () => readUntil(ctx, reader, deadline),
      })
      if (replay.status === 'malformed') {
        await reporter.badPointer(replay.read)
        return { ok: false, error: replay.read.error, pointerSettled: false }
      }
      if (replay.status === 'unchanged') throw new Error('unreachable: startup reads are unconditional')
      this.#dispatch({ type: 'startup-settled' })
      if (replay.due === null || this.#lifecycle() !== 'starting') return { ok: true }
      // A failed apply is reported and scheduled for a retry with backoff; the pointer is settled.
      const outcome = await this.#apply(live, replay.due, true)
      return outcome.ok ? { ok: true } : { ok: false, error: outcome.error, pointerSettled: true }
    } catch (error) {
      return { ok: false, error, pointerSettled: false }
    }
  }

  // ---- polling -------------------------------------------------------------------------------

  #schedule(live: Live, delay: number): void {
    if (this.#lifecycle() !== 'running') return
    this.#dispatch({ type: 'poll-scheduled', at: new Date(Date.now() + delay) })
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.#tick(live)
    }, delay)
    this.#timer.unref()
  }

  async #tick(live: Live): Promise<void> {
    await this.#whileBusy(this.#poll(live))
    if (this.#lifecycle() !== 'running' || this.#timer) return
    const { outage } = this.#state
    this.#schedule(
      live,
      outage
        ? backoffDelay(outage.failures, this.#o.pollInterval, this.#o.maxPollBackoff)
        : jittered(this.#o.pollInterval),
    )
  }

  async #poll(live: Live): Promise<void> {
    const { logger } = this.#o
    this.#dispatch({ type: 'poll-started', at: new Date() })
    try {
      const read = await live.reader.read(true)
      this.#storageAnswered()
      if (read.status === 'malformed') return await this.#malformed(live, read)
      if (this.#state.startupPending) {
        if (!(await this.#finishStartup(live, read))) return
      } else if (read.status === 'not-found') {
        this.#once('pointer-missing', () =>
          logger.warn(
            'the pointer disappeared from storage; keeping the running code (a restarting machine re-creates it)',
          ),
        )
      }
      await this.#evaluate(live)
      if (
        this.#lifecycle() === 'running' &&
        Date.now() - live.reporter.recordWrittenAt >= this.#o.heartbeatInterval
      ) {
        await this.#writeRecord(live).catch((error: unknown) =>
          logger.debug({ err: error }, 'heartbeat failed'),
        )
      }
    } catch (error) {
      this.#dispatch({ type: 'storage-failed', at: Date.now() })
      const { outage } = this.#state
      const failures = outage?.failures ?? 1
      if (failures === 1)
        logger.warn({ err: error }, 'storage unreachable; keeping the running code and backing off')
      this.emit('poll:error', { error: error as Error, consecutiveFailures: failures })
    }
  }

  #storageAnswered(): void {
    const { outage } = this.#state
    if (!outage) return
    this.#dispatch({ type: 'storage-answered' })
    const downMs = Date.now() - outage.since
    this.#o.logger.warn({ downMs }, `storage reachable again after ${Math.round(downMs / 1000)} s`)
    this.emit('storage:recovered', { downMs })
  }

  /** The startup replay's pointer work, done by a poll once storage answers. True when it is done. */
  async #finishStartup(live: Live, first: PointerRead): Promise<boolean> {
    const { ctx, reader } = live
    const replay = await replayPointer(ctx, {
      reader,
      running: this.#state.running,
      read: (round) => (round === 0 ? Promise.resolve(first) : reader.read(false)),
    })
    if (replay.status === 'malformed') await this.#malformed(live, replay.read)
    if (replay.status !== 'settled') return false
    // The upgrade it names is applied by `#evaluate`, which respects a failed attempt's backoff.
    this.#dispatch({ type: 'startup-settled' })
    return true
  }

  async #malformed(live: Live, read: MalformedPointer): Promise<void> {
    await live.reporter.badPointer(read)
    this.emit('poll:error', { error: read.error, consecutiveFailures: 0 })
  }

  async #evaluate(live: Live): Promise<void> {
    const pointer = live.reader.known?.pointer
    if (!pointer || this.#lifecycle() !== 'running') return
    const decision = decide({ pointer, baseRef: live.ctx.baseRef, marker: this.#state.running })
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
        const attempts = this.#state.attempts.get(decision.upgrade.upgradeId)
        if (attempts && attempts.nextAt > Date.now()) return // backing off after a failure
        await this.#apply(live, decision.upgrade, false)
        return
      }
    }
  }

  // ---- applying ------------------------------------------------------------------------------

  async #apply(live: Live, upgrade: HotUpgrade, startup: boolean): Promise<AttemptOutcome> {
    const { logger } = this.#o
    const { reporter, ctx } = live
    const previous = this.#state.running
    const attempt = (this.#state.attempts.get(upgrade.upgradeId)?.count ?? 0) + 1
    this.emit('upgrade:started', { upgrade, attempt, startup })
    logger.info(
      { version: upgrade.version, upgradeId: upgrade.upgradeId, attempt },
      `applying ${upgrade.version}`,
    )
    const outcome = await attemptUpgrade(ctx, {
      upgrade,
      attempt,
      running: previous,
      diskMarker: this.#state.diskMarker,
      reporter,
    })
    const report = { upgrade, attempt, startedAt: outcome.startedAt }
    if (outcome.ok) {
      const { marker, stats } = outcome
      this.#dispatch({ type: 'upgrade-applied', marker, markerWritten: outcome.markerWritten })
      const last = await reporter.completed({ ...report, running: marker, stats })
      await pruneReleases(ctx, { running: marker, previous })
      // Last, so that whoever sees lastUpgrade (or the event) sees a finished upgrade.
      this.#dispatch({ type: 'upgrade-reported', last })
      this.emit('upgrade:completed', { upgrade, stats, startup })
    } else {
      const { error, reported } = outcome
      const retryInMs = backoffDelay(attempt, this.#o.retryBaseDelay, this.#o.retryMaxDelay)
      this.#dispatch({
        type: 'upgrade-failed',
        upgradeId: upgrade.upgradeId,
        attempt,
        nextAt: Date.now() + retryInMs,
      })
      const last = await reporter.failed({ ...report, running: previous, error, reported, retryInMs })
      this.#dispatch({ type: 'upgrade-reported', last })
      this.emit('upgrade:failed', { upgrade, error, attempt, retryInMs, startup })
    }
    return outcome
  }

  // ---- on demand, and stopping -----------------------------------------------------------------

  /** Poll now instead of waiting for the timer (resolves when that poll, and any apply, is done). */
  async checkNow(): Promise<void> {
    const live = this.#live
    if (live === null || this.#lifecycle() !== 'running') return
    while (this.#busy) await this.#busy.catch(() => {})
    // The poll waited for may have ended in stop(): a stopped runtime does not poll again.
    if (this.#lifecycle() !== 'running') return
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    await this.#tick(live)
  }

  /** Stop polling. Waits for an upgrade in progress, marks the machine stopped, leaves no timer behind. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop(): Promise<void> {
    const was = this.#lifecycle()
    this.#dispatch({ type: 'stop' })
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    while (this.#busy) await this.#busy.catch(() => {})
    unregisterRuntime(this.#versionSource)
    if (this.#live !== null && (was === 'starting' || was === 'running')) {
      const { running, lastUpgrade: last } = this.#state
      await this.#live.reporter.stoppedRecord({ running, last, stoppedAt: new Date() })
    }
    if (this.#lifecycle() === 'stopping') this.#dispatch({ type: 'stopped' })
  }

  // ---- what it runs, and its state -------------------------------------------------------------

  /** What this machine runs now, or null in development mode. */
  currentVsn(): VersionInfo | null {
    const { baseRef } = this.#o
    return baseRef === null ? null : versionInfo(baseRef, this.#state.running)
  }

  getState(): RelupState {
    const reader = this.#live?.reader
    return publicState(this.#state, this.#o, {
      etag: reader?.etag ?? null,
      pointer: reader?.known?.pointer ?? null,
    })
  }

  // ---- helpers -------------------------------------------------------------------------------

  #dispatch(event: RuntimeEvent): void {
    this.#state = reduce(this.#state, event)
  }

  /** Read afresh on every call: any await may have moved the runtime on (stop() above all). */
  #lifecycle(): Lifecycle {
    return this.#state.lifecycle
  }

  async #whileBusy<T>(work: Promise<T>): Promise<T> {
    this.#busy = work
    try {
      return await work
    } finally {
      if (this.#busy === work) this.#busy = null
    }
  }

  #writeRecord(live: Live): Promise<void> {
    return live.reporter.machineRecord({ running: this.#state.running, last: this.#state.lastUpgrade })
  }

  #once(key: string, log: () => void): void {
    if (this.#logged.has(key)) return
    this.#logged.add(key)
    log()
  }
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
