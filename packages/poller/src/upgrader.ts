/**
 * Applying the pointer's upgrade, around each attempt (`attempt.ts`): numbering the attempts,
 * backing off after a failure and giving up after `maxAttempts` until something new is published,
 * reporting and pruning; and, when a startup apply cannot be made, booting the machine's last good
 * release (`lastGood.ts`) instead of base code.
 */
import type { HotUpgrade } from '@relup/core'
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

  async apply(upgrade: HotUpgrade, startup: boolean): Promise<AttemptOutcome> {
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
    })
    const report = { upgrade, attempt, startedAt: outcome.startedAt }
    if (outcome.ok) {
      const { marker, stats } = outcome
      host.dispatch({ type: 'upgrade-applied', marker, markerWritten: outcome.markerWritten })
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

  /** The pointer runs this base without hot code: base code is the last good now (only while starting on base code). */
  async forgetLastGood(): Promise<void> {
    const state = this.#host.state()
    if (state.diskMarker === null || state.running !== null) return
    await removeMarker(this.#ctx.options.stateDir).catch(() => {})
    this.#host.dispatch({ type: 'marker-read', marker: null })
  }
}
