/**
 * Applying the pointer's upgrade, around each attempt (`attempt.ts`): numbering the attempts,
 * backing off after a failure and giving up after `maxAttempts` until something new is published,
 * reporting and pruning; and, when a startup apply cannot be made, booting the machine's last good
 * release (`lastGood.ts`) instead of base code.
 */
import type { CurrentPointer, HotUpgrade, ResultError } from '@relup/core'
import { isRelupError } from '@relup/core'
import { type AttemptOutcome, attemptUpgrade } from './attempt.js'
import { backoffDelay } from './backoff.js'
import { bootLastGood, checkLastGood } from './lastGood.js'
import { removeMarker } from './markerFile.js'
import { pruneReleases } from './releaseStore.js'
import type { Reporter } from './reporter.js'
import type { RuntimeEvent, RuntimeState } from './state.js'
import type { RelupEvents, RuntimeContext } from './types.js'

/** What the runtime lends the upgrader: its state, its reducer and its events. */
export interface UpgraderHost {
  state(): RuntimeState
  dispatch(event: RuntimeEvent): void
  emit<K extends keyof RelupEvents>(event: K, ...args: RelupEvents[K]): boolean
}

/** The upgrade id a return to base reports under (in the machine record), and its attempts' key per pointer write. */
export const BASE_UPGRADE_ID = 'base'
export const baseAttemptsKey = (pointer: CurrentPointer) =>
  `${BASE_UPGRADE_ID}:${pointer.lineage ?? ''}:${pointer.seq}`

export class Upgrader {
  readonly #ctx: RuntimeContext
  readonly #reporter: Reporter
  readonly #host: UpgraderHost

  constructor(ctx: RuntimeContext, reporter: Reporter, host: UpgraderHost) {
    this.#ctx = ctx
    this.#reporter = reporter
    this.#host = host
  }

  /** Whether `upgrade` may be attempted now: not while backing off, not after `maxAttempts`. */
  due(upgradeId: string, now = Date.now()): boolean {
    const attempts = this.#host.state().attempts.get(upgradeId)
    return !attempts || (attempts.nextAt !== null && attempts.nextAt <= now)
  }

  /**
   * `probationMs`: a rollout's candidate, reported `probation` instead of `completed` (the
   * runtime's health gate ends it). `revert`: going back from an unhealthy candidate.
   */
  async apply(
    upgrade: HotUpgrade,
    startup: boolean,
    mode: { probationMs?: number | undefined; revert?: boolean | undefined } = {},
  ): Promise<AttemptOutcome> {
    const { options } = this.#ctx
    const host = this.#host
    const reporter = this.#reporter
    const previous = host.state().running
    const attempt = (host.state().attempts.get(upgrade.upgradeId)?.count ?? 0) + 1
    host.emit('upgrade:started', { upgrade, attempt, startup })
    options.logger.info(
      { version: upgrade.version, upgradeId: upgrade.upgradeId, attempt },
      `applying ${upgrade.version}`,
    )
    const outcome = await attemptUpgrade(this.#ctx, {
      upgrade,
      attempt,
      running: previous,
      diskMarker: host.state().diskMarker,
      reporter,
      revert: mode.revert,
    })
    const report = { upgrade, attempt, startedAt: outcome.startedAt }
    if (outcome.ok) {
      const { marker, stats } = outcome
      host.dispatch({ type: 'upgrade-applied', marker, markerWritten: outcome.markerWritten })
      if (mode.probationMs !== undefined) {
        // Not pruned: the release before it is where an unhealthy candidate goes back to.
        await reporter.probation({ ...report, running: marker, stats, windowMs: mode.probationMs })
        host.emit('upgrade:completed', { upgrade, stats, startup })
        return outcome
      }
      const last = await reporter.completed({ ...report, running: marker, stats })
      await pruneReleases(this.#ctx, { running: marker, previous, onDisk: host.state().diskMarker })
      // Last, so that whoever sees lastUpgrade (or the event) sees a finished upgrade.
      host.dispatch({ type: 'upgrade-reported', last })
      host.emit('upgrade:completed', { upgrade, stats, startup })
      return outcome
    }
    const { error, reported } = outcome
    const retryInMs =
      attempt >= options.maxAttempts
        ? null
        : backoffDelay(attempt, options.retryBaseDelay, options.retryMaxDelay)
    host.dispatch({
      type: 'upgrade-failed',
      upgradeId: upgrade.upgradeId,
      attempt,
      nextAt: retryInMs === null ? null : Date.now() + retryInMs,
    })
    // Before the report, so that it says what the machine runs after all.
    if (startup) await this.restoreLastGood(upgrade.upgradeId)
    const last = await reporter.failed({
      ...report,
      running: host.state().running,
      error,
      reported,
      retryInMs,
    })
    host.dispatch({ type: 'upgrade-reported', last })
    host.emit('upgrade:failed', { upgrade, error, attempt, retryInMs, startup })
    return outcome
  }

  /**
   * During a startup that could not bring the machine to the pointer's upgrade, boot the last good
   * release instead of base code. Not when the startup is about to throw (`onStartupFailure:
   * 'throw'`), nor with hot code already running; `failedUpgradeId` has just failed, so it is not
   * tried again.
   */
  async restoreLastGood(failedUpgradeId: string | null): Promise<void> {
    const { logger, onStartupFailure } = this.#ctx.options
    const state = this.#host.state()
    if (onStartupFailure !== 'base' || state.running !== null || state.lifecycle !== 'starting') return
    const check = checkLastGood(this.#ctx, state.diskMarker)
    if (check.status === 'ignored') logger.warn(`${check.reason}: not booting it`)
    if (check.status !== 'usable' || check.release.upgradeId === failedUpgradeId) return
    const { release } = check
    try {
      await bootLastGood(this.#ctx, release)
    } catch (error) {
      logger.error(
        { err: error },
        `could not boot the last good release ${release.version}; running the base code`,
      )
      return
    }
    this.#host.dispatch({ type: 'release-restored', marker: release })
    logger.warn(
      { version: release.version, upgradeId: release.upgradeId },
      `booted the last good release ${release.version} (upgrade ${release.upgradeId}) from ${release.releaseDir}`,
    )
  }

  /**
   * A rollback to base on a running machine: swap the base release back in through the same
   * transaction, then forget the marker (base code is the last good now). Reported in the machine
   * record (`lastResult` with upgrade id `base`), where `relup rollback --to base` looks; retried
   * with backoff like an upgrade. Without the engine's base release, said once: it takes a restart.
   */
  async applyBase(attemptsKey: string, revert = false): Promise<void> {
    const { options } = this.#ctx
    const base = this.#ctx.baseRelease
    const host = this.#host
    if (base === null) {
      if (!this.#saidNoBase)
        options.logger.warn(
          'the pointer went back to base code, but the engine does not report its base release (releaseDir and manifest): this machine runs its hot code until it restarts',
        )
      this.#saidNoBase = true
      return
    }
    const attempt = (host.state().attempts.get(attemptsKey)?.count ?? 0) + 1
    const started = new Date()
    const running = host.state().running
    options.logger.info(
      { attempt },
      `going back to the base code (a rollback to base) from ${running?.version}`,
    )
    try {
      const stats = await options.engine.upgrade(base.dir, {
        manifest: base.manifest,
        version: base.version,
        suspendTimeout: options.suspendTimeout,
        // Read again: the base directory belongs to the app, nothing extracted it for us.
        verified: false,
        ...(revert ? { revert: true } : {}),
      })
      await removeMarker(options.stateDir).catch(() => {})
      host.dispatch({ type: 'base-applied', attemptsKey })
      const last = {
        upgradeId: BASE_UPGRADE_ID,
        version: BASE_UPGRADE_ID,
        status: 'completed' as const,
        at: new Date(),
        attempt,
        stats: { ...stats },
        error: null,
      }
      await this.#reporter
        .machineRecord({ running: null, last })
        .catch((error: unknown) => options.logger.warn({ err: error }, 'could not write the machine record'))
      host.dispatch({ type: 'upgrade-reported', last })
      options.logger.info({ pauseMs: stats.pauseMs }, 'running the base code again')
      host.emit('base:restored', { stats })
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught))
      const retryInMs =
        attempt >= options.maxAttempts
          ? null
          : backoffDelay(attempt, options.retryBaseDelay, options.retryMaxDelay)
      host.dispatch({
        type: 'upgrade-failed',
        upgradeId: attemptsKey,
        attempt,
        nextAt: retryInMs === null ? null : Date.now() + retryInMs,
      })
      const phase = (error as { phase?: unknown }).phase
      const reported: ResultError = {
        code: isRelupError(error) ? error.code : 'ERR_RELUP_UPGRADE_FAILED',
        message: error.message,
        phase: typeof phase === 'string' ? phase : 'swap',
      }
      options.logger.error(
        { err: error, attempt, retryInMs },
        `could not go back to the base code; still running ${running?.version}${retryInMs === null ? '' : `, retrying in ${Math.round(retryInMs / 1000)} s`}`,
      )
      const last = {
        upgradeId: BASE_UPGRADE_ID,
        version: BASE_UPGRADE_ID,
        status: 'failed' as const,
        at: started,
        attempt,
        stats: null,
        error: reported,
      }
      await this.#reporter.machineRecord({ running, last }).catch(() => {})
      host.dispatch({ type: 'upgrade-reported', last })
      host.emit('base:failed', { error, attempt, retryInMs })
    }
  }

  #saidNoBase = false

  /** The pointer runs this base without hot code: base code is the last good now (only while starting on base code). */
  async forgetLastGood(): Promise<void> {
    const state = this.#host.state()
    if (state.diskMarker === null || state.running !== null) return
    await removeMarker(this.#ctx.options.stateDir).catch(() => {})
    this.#host.dispatch({ type: 'marker-read', marker: null })
  }
}
