/**
 * The runtime: FlyDeploy.Poller for Node.js. `startRelup` replays the pending hot upgrade before
 * it resolves, then polls the pointer with a conditional GET and applies what `decide()` says,
 * writing a result for every attempt and the local marker only after success. This file is the
 * lifecycle (start → poll → apply → stop); the state it moves through is `state.ts`.
 */
import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { type Decision, decide, isRelupError, type Notifier, relupKeys } from '@relup/core'
import type { AttemptOutcome } from './attempt.js'
import { backoffDelay, jittered } from './backoff.js'
import { CandidateGate } from './candidateGate.js'
import {
  registerRuntime,
  unregisterRuntime,
  type VersionInfo,
  type VersionSource,
  versionInfo,
} from './currentVsn.js'
import { type DevEmit, type DevLoop, startDevelopment, warnIfDevIgnored } from './devMode.js'
import { StartupError } from './errors.js'
import { watchEventLoop } from './health.js'
import { acquireMachineLock, type MachineLock } from './machineLock.js'
import { readMarker } from './markerFile.js'
import { instrumentRuntime } from './metrics.js'
import { NoticeListener, resolveNotifier } from './notices.js'
import {
  baseDigestOf,
  baseReleaseOf,
  type RelupOptions,
  type ResolvedOptions,
  resolveOptions,
} from './options.js'
import { type MalformedPointer, type PointerRead, PointerReader } from './pointerReader.js'
import { prepareReleases } from './releaseStore.js'
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
import { baseAttemptsKey, Upgrader } from './upgrader.js'

/** What a runtime with a base works with; development mode never has one. */
interface Live {
  ctx: RuntimeContext
  reader: PointerReader
  reporter: Reporter
  upgrader: Upgrader
  gate: CandidateGate
}

type StartupOutcome = { ok: true } | { ok: false; error: unknown; pointerSettled: boolean }

export class Relup extends EventEmitter<RelupEvents> {
  readonly #o: ResolvedOptions
  #state: RuntimeState = initialState
  #live: Live | null = null
  #lock: MachineLock | null = null
  #dev: DevLoop | null = null
  #timer: NodeJS.Timeout | null = null
  /** With a notifier: the subscription whose notices make the runtime check the pointer at once. */
  #notices: NoticeListener | null = null
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
    instrumentRuntime(this, this.#o)
  }

  // ---- startup -------------------------------------------------------------------------------

  /** `start()` failed before there was anything to stop: no runtime counts, none is left started. */
  readonly #abandon = (error: unknown): never => {
    unregisterRuntime(this.#versionSource)
    this.#dispatch({ type: 'stop' })
    this.#dispatch({ type: 'stopped' })
    throw error
  }

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
      this.#dev = await startDevelopment(this.#o, this.emit.bind(this) as DevEmit).catch(this.#abandon)
      return
    }
    warnIfDevIgnored(this.#o)
    const keys = relupKeys(this.#o.app, { prefix: this.#o.prefix })
    if (this.#o.notifier !== null) this.#notices = await this.#noticeListener(this.#o.notifier, keys.current)
    const ctx: RuntimeContext = {
      options: this.#o,
      baseRef,
      // Before any upgrade: the engine's manifest is still the base's.
      baseDigest: baseDigestOf(this.#o.engine, logger),
      baseRelease: baseReleaseOf(this.#o.engine),
      keys,
      startedAt: new Date(),
      refused: new Set(),
    }
    watchEventLoop() // the "before" of a candidate's probation
    try {
      await mkdir(this.#o.stateDir, { recursive: true })
      this.#lock = await acquireMachineLock(this.#o.stateDir, this.#o.machineId)
    } catch (error) {
      this.#abandon(error)
    }
    const reporter = new Reporter(ctx)
    const upgrader = new Upgrader(ctx, reporter, {
      state: () => this.#state,
      dispatch: (event) => this.#dispatch(event),
      emit: (event, ...args) => this.emit(event, ...(args as never)),
    })
    const gate = new CandidateGate(ctx, reporter, {
      state: () => this.#state,
      dispatch: (event) => this.#dispatch(event),
      emit: (event, ...args) => this.emit(event, ...(args as never)),
      serialize: async (work) => {
        while (this.#busy) await this.#busy.catch(() => {})
        if (this.#lifecycle() !== 'running' && this.#lifecycle() !== 'starting') return
        await this.#whileBusy(work())
      },
      evaluate: () => this.#evaluate(live),
    })
    const live: Live = { ctx, reader: new PointerReader(ctx), reporter, upgrader, gate }
    this.#live = live
    const startup = await this.#whileBusy(this.#startup(live)).catch(async (error: unknown) => {
      await this.stop() // the state directory is unusable: give the lock back
      throw error
    })
    if (!startup.ok) {
      const { error } = startup
      if (this.#o.onStartupFailure === 'throw') {
        await this.stop()
        throw error instanceof StartupError
          ? error
          : new StartupError(`relup startup replay failed: ${(error as Error).message}`, { cause: error })
      }
      const running = this.#state.running
      const what = running ? `${running.version}, its last good release` : 'the base code'
      const why = isRelupError(error, 'ERR_RELUP_STORAGE_TRANSPORT') ? ' (storage did not answer)' : ''
      // A malformed pointer was reported as it was read: one error line is enough.
      if (!isRelupError(error, 'ERR_RELUP_DOCUMENT'))
        logger.error(
          { err: error },
          startup.pointerSettled
            ? `the startup upgrade failed; booting on ${what} and retrying it with backoff`
            : `the startup replay could not finish${why}; booting on ${what}; polls finish it once the pointer can be read`,
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
    this.#notices?.start()
    this.#schedule(live, jittered(this.#o.pollInterval))
  }

  /** A missing adapter package fails `start()`: the notifier was asked for. Its outages never do. */
  async #noticeListener(notifier: Notifier | string, pointerKey: string): Promise<NoticeListener> {
    const { logger, pollInterval } = this.#o
    const resolved = await resolveNotifier(notifier, logger).catch(this.#abandon)
    return new NoticeListener(
      {
        notifier: resolved.notifier,
        pointerKey,
        pollInterval,
        logger,
        check: () => this.checkNow(),
        onState: (state, name) =>
          this.emit('notifier:state', { state, notifier: name, connected: state === 'connected' }),
      },
      resolved.owned,
    )
  }

  /**
   * Read the local marker, settle the pointer, then apply the upgrade it names. Throws only when
   * the state directory cannot be created; any other failure is an outcome the caller boots on:
   * the last good release when there is one (an upgrade that failed restores it itself).
   */
  async #startup(live: Live): Promise<StartupOutcome> {
    const outcome = await this.#replay(live)
    if (!outcome.ok && !outcome.pointerSettled) await live.upgrader.restoreLastGood(null)
    return outcome
  }

  async #replay(live: Live): Promise<StartupOutcome> {
    const { ctx, reader, reporter } = live
    await prepareReleases(ctx)
    const marker = await readMarker(this.#o.stateDir).catch((error: unknown) => {
      this.#o.logger.warn({ err: error }, 'ignoring an unreadable local marker')
      return null
    })
    this.#dispatch({ type: 'marker-read', marker })
    await live.gate.recover() // a probation the last process died on
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
      await this.#settledOn(live, replay.decision, true)
      if (replay.due === null || this.#lifecycle() !== 'starting') return { ok: true }
      // A failed apply is reported and scheduled for a retry with backoff; the pointer is settled.
      const outcome = await this.#apply(live, replay.decision, true)
      if (outcome === null) return { ok: true }
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
      this.emit('poll:completed', { status: read.status, pointer: live.reader.known?.pointer ?? null })
      if (read.status === 'malformed') return await this.#malformed(live, read)
      if (this.#state.startupPending) {
        if (!(await this.#finishStartup(live, read))) return
      } else if (read.status === 'not-found') {
        this.#once('pointer-missing', () =>
          logger.warn(
            'the pointer disappeared from storage; keeping the running code and following whatever pointer appears next (a restarting machine or `relup publish --base-ref` creates one)',
          ),
        )
      }
      if (read.status === 'ok') this.#logged.delete('pointer-missing') // say it again if it goes again
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
    await this.#settledOn(live, replay.decision, false)
    return true
  }

  async #malformed(live: Live, read: MalformedPointer): Promise<void> {
    await live.reporter.badPointer(read)
    this.emit('poll:error', { error: read.error, consecutiveFailures: 0 })
  }

  async #evaluate(live: Live): Promise<void> {
    const pointer = live.reader.known?.pointer
    if (!pointer || this.#lifecycle() !== 'running') return
    const { baseRef, baseDigest, options, refused } = live.ctx
    const running = this.#state.running
    const decision = decide({
      pointer,
      baseRef,
      marker: running,
      baseDigest,
      machineId: options.machineId,
      refused: [...refused],
    })
    // The candidate on probation here is no longer what the pointer runs here: withdrawn.
    if (live.gate.active && decision.action !== 'noop') await live.gate.withdraw()
    switch (decision.action) {
      case 'skip':
      case 'reset': // only a starting machine resets the pointer
        return live.reporter.keptOut(pointer, decision)
      case 'apply':
        // Not while backing off after a failure, nor once given up on (maxAttempts).
        if (live.upgrader.due(decision.upgrade.upgradeId)) await this.#apply(live, decision, false)
        return
      case 'base': {
        const key = baseAttemptsKey(pointer)
        if (live.upgrader.due(key))
          await live.upgrader.applyBase(key, live.gate.isRevert(running, pointer.badUpgrades))
        return
      }
    }
  }

  /**
   * Apply what `decide()` named: a rollout's candidate goes on probation after its commit; going
   * back from a candidate that is not kept (refused here, or a rollout's bad upgrade) is a revert.
   */
  async #apply(live: Live, decision: Decision, startup: boolean): Promise<AttemptOutcome | null> {
    if (decision.action !== 'apply') return null
    const pointer = live.reader.known?.pointer
    const running = this.#state.running
    const windowMs = decision.candidate ? pointer?.candidate?.rollout.healthWindowMs : undefined
    const outcome = await live.upgrader.apply(decision.upgrade, startup, {
      probationMs: windowMs,
      revert: live.gate.isRevert(running, pointer?.badUpgrades),
    })
    if (outcome.ok && windowMs !== undefined)
      await live.gate.start(decision.upgrade, outcome, running ?? this.#state.diskMarker, windowMs)
    return outcome
  }

  /**
   * What the startup replay settled on: a skip is said once. At a blocking startup, a pointer
   * without hot code for this base (a rollback to base, a new pointer) makes base code the last
   * good, so a later restart without storage does not boot the hot release run before it.
   */
  async #settledOn(live: Live, decision: Decision, blocking: boolean): Promise<void> {
    const pointer = live.reader.known?.pointer
    if (decision.action === 'skip' && pointer) return live.reporter.keptOut(pointer, decision)
    if (blocking && pointer?.hot === null && pointer.baseRef === live.ctx.baseRef)
      await live.upgrader.forgetLastGood()
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
    await this.#notices?.stop()
    while (this.#busy) await this.#busy.catch(() => {})
    await this.#live?.gate.stop()
    await this.#dev?.stop()
    unregisterRuntime(this.#versionSource)
    if (this.#live !== null && (was === 'starting' || was === 'running')) {
      const { running, lastUpgrade: last } = this.#state
      await this.#live.reporter.stoppedRecord({ running, last, stoppedAt: new Date() })
    } else await this.#live?.reporter.settle() // no record follows a stop
    await this.#lock?.release().catch(() => {})
    this.#lock = null
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
