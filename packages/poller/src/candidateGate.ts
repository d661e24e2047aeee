/**
 * A rollout's candidate on this machine, from its commit to the end of its probation: the health
 * gate (`health.ts`) watches it; healthy, it becomes the machine's last good release and is
 * reported `completed`; unhealthy, it is refused for good (`refused.json`), the last good release
 * on disk goes back to the one before it, it is reported `failed` with `ERR_RELUP_UNHEALTHY` and
 * the figures, and the runtime reverts to the stable release in process, with no publisher needed.
 * A process that dies on probation is found out at its next start (`probation.json`).
 */
import type { HotUpgrade, LocalMarker, ResultError, UpgradeStats } from '@relup/core'
import type { AttemptSucceeded } from './attempt.js'
import { Probation, type Verdict } from './health.js'
import { removeMarker, writeMarker } from './markerFile.js'
import { clearProbation, readProbation, readRefused, writeProbation, writeRefused } from './probationFile.js'
import { pruneReleases } from './releaseStore.js'
import type { Reporter } from './reporter.js'
import type { RuntimeContext } from './types.js'
import type { UpgraderHost } from './upgrader.js'

export const UNHEALTHY_CODE = 'ERR_RELUP_UNHEALTHY'
export const WITHDRAWN_CODE = 'ERR_RELUP_ROLLOUT_HALTED'

interface OnProbation {
  upgrade: HotUpgrade
  probation: Probation
  attempt: number
  startedAt: string
  stats: UpgradeStats
  marker: LocalMarker
  /** What ran before the candidate. */
  previous: LocalMarker | null
}

export interface GateHost extends UpgraderHost {
  /** Run `work` when nothing else of the runtime runs (a poll, an apply), and not after stop(). */
  serialize(work: () => Promise<void>): Promise<void>
  /** Decide again now (after an unhealthy verdict: revert to the stable release). */
  evaluate(): Promise<void>
}

export class CandidateGate {
  readonly #ctx: RuntimeContext
  readonly #reporter: Reporter
  readonly #host: GateHost
  #active: OnProbation | null = null

  constructor(ctx: RuntimeContext, reporter: Reporter, host: GateHost) {
    this.#ctx = ctx
    this.#reporter = reporter
    this.#host = host
  }

  /** The candidate on probation now, or null. */
  get active(): HotUpgrade | null {
    return this.#active?.upgrade ?? null
  }

  /**
   * At start, before the pointer is read: the refused upgrades, and a probation a previous process
   * left unfinished (it died on it): that candidate is refused, the release before it is the last
   * good again, and the candidate is reported failed.
   */
  async recover(): Promise<void> {
    const { options } = this.#ctx
    for (const id of await readRefused(options.stateDir)) this.#ctx.refused.add(id)
    const left = await readProbation(options.stateDir)
    if (left === null) return
    await this.#refuse(left.upgradeId, left.previous)
    const message = `the process ended while ${left.version} was on probation (since ${left.startedAt}): a crash, or a kill; it is not applied again on this machine`
    options.logger.error({ version: left.version, upgradeId: left.upgradeId }, message)
    const now = new Date().toISOString()
    await this.#reporter
      .result(left.upgradeId, {
        version: left.version,
        status: 'failed',
        attempt: 1,
        startedAt: left.startedAt,
        finishedAt: now,
        stats: null,
        error: { code: UNHEALTHY_CODE, message, phase: 'probation' },
      })
      .catch(() => {})
  }

  /** The candidate committed: start its probation. */
  async start(
    upgrade: HotUpgrade,
    outcome: AttemptSucceeded,
    previous: LocalMarker | null,
    windowMs: number,
  ) {
    const { options } = this.#ctx
    await writeProbation(options.stateDir, {
      upgradeId: upgrade.upgradeId,
      version: upgrade.version,
      startedAt: new Date().toISOString(),
      previous,
    }).catch((error: unknown) => options.logger.warn({ err: error }, 'could not write probation.json'))
    const probation = new Probation({
      engine: options.engine,
      version: upgrade.version,
      upgradeId: upgrade.upgradeId,
      previousVersion: previous?.version ?? this.#ctx.baseRelease?.version ?? 'base',
      releaseDir: outcome.marker.releaseDir,
      windowMs,
      thresholds: options.health,
      healthCheck: options.healthCheck,
    })
    const active: OnProbation = {
      upgrade,
      probation,
      attempt: 1,
      startedAt: outcome.startedAt,
      stats: outcome.stats,
      marker: outcome.marker,
      previous,
    }
    this.#active = active
    this.#host.emit('probation:started', { upgrade, windowMs })
    void probation.verdict.then((verdict) => {
      if (this.#active !== active) return // withdrawn or stopped meanwhile
      return this.#host.serialize(() => this.#conclude(active, verdict))
    })
  }

  /**
   * The pointer no longer runs this candidate here (the rollout halted, was aborted, or moved on to
   * another one): end its probation; the runtime then applies what the pointer says, as a revert.
   */
  async withdraw(): Promise<void> {
    const active = this.#active
    if (active === null) return
    this.#active = null
    active.probation.cancel()
    const health = active.probation.figures(['the rollout was halted or aborted'])
    await this.#refuse(active.upgrade.upgradeId, active.previous, false)
    await this.#reporter.probationEnded({
      upgrade: active.upgrade,
      attempt: active.attempt,
      startedAt: active.startedAt,
      running: active.marker,
      stats: active.stats,
      health,
      error: {
        code: WITHDRAWN_CODE,
        message: `the rollout of ${active.upgrade.version} was withdrawn while it was on probation here; going back to the stable release`,
        phase: 'probation',
      },
    })
  }

  /**
   * The runtime stops: end the probation without a verdict. The release before the candidate is
   * the last good one on disk, so a restart boots that, then follows the pointer again.
   */
  async stop(): Promise<void> {
    const active = this.#active
    if (active === null) return
    this.#active = null
    active.probation.cancel()
    await this.#restoreMarker(active.previous)
    await clearProbation(this.#ctx.options.stateDir).catch(() => {})
  }

  /** Whether reverting from `running` (the release running now): it is a candidate that is not kept. */
  isRevert(running: LocalMarker | null, badUpgrades: readonly string[] = []): boolean {
    return (
      running !== null &&
      (this.#ctx.refused.has(running.upgradeId) || badUpgrades.includes(running.upgradeId))
    )
  }

  async #conclude(active: OnProbation, { healthy, health }: Verdict): Promise<void> {
    if (this.#active !== active) return
    this.#active = null
    const { options } = this.#ctx
    const report = {
      upgrade: active.upgrade,
      attempt: active.attempt,
      startedAt: active.startedAt,
      running: active.marker,
      stats: active.stats,
      health,
    }
    if (healthy) {
      await clearProbation(options.stateDir).catch(() => {})
      const last = await this.#reporter.probationEnded({ ...report, error: null })
      this.#host.dispatch({ type: 'upgrade-reported', last })
      await pruneReleases(this.#ctx, {
        running: active.marker,
        previous: active.previous,
        onDisk: this.#host.state().diskMarker,
      })
      options.logger.info(
        { version: active.upgrade.version, calls: health.calls, errors: health.errors },
        `${active.upgrade.version} passed its probation: it is this machine's last good release`,
      )
      this.#host.emit('probation:passed', { upgrade: active.upgrade, health })
      return
    }
    await this.#refuse(active.upgrade.upgradeId, active.previous)
    const error: ResultError = {
      code: UNHEALTHY_CODE,
      message: `${active.upgrade.version} was unhealthy on probation: ${health.reasons.join('; ')}`,
      phase: 'probation',
    }
    options.logger.error(
      { version: active.upgrade.version, health },
      `${error.message}; reverting to the stable release`,
    )
    const last = await this.#reporter.probationEnded({ ...report, error })
    this.#host.dispatch({ type: 'upgrade-reported', last })
    this.#host.emit('probation:failed', { upgrade: active.upgrade, health })
    await this.#host.evaluate()
  }

  /** Never again here; the release before it is the last good one; probation over. */
  async #refuse(upgradeId: string, previous: LocalMarker | null, remember = true): Promise<void> {
    const { options, refused } = this.#ctx
    if (remember) {
      refused.add(upgradeId)
      await writeRefused(options.stateDir, [...refused]).catch((error: unknown) =>
        options.logger.warn({ err: error }, 'could not write refused.json'),
      )
    }
    await this.#restoreMarker(previous)
    await clearProbation(options.stateDir).catch(() => {})
  }

  async #restoreMarker(previous: LocalMarker | null): Promise<void> {
    const { stateDir, logger } = this.#ctx.options
    try {
      if (previous === null) await removeMarker(stateDir)
      else await writeMarker(stateDir, previous)
      this.#host.dispatch({ type: 'marker-read', marker: previous })
    } catch (error) {
      logger.warn({ err: error }, 'could not put the last good marker back')
    }
  }
}
