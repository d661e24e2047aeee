/**
 * The health gate: while a rollout's candidate is on probation, what the machine watches, per
 * version, against what the version before it did: calls through hot handles that threw or
 * rejected and HTTP responses answered 5xx (both counted by the engine, `callStats`), uncaught
 * exceptions and unhandled rejections thrown from the candidate's release (`threwFrom`), the
 * event-loop delay, and the app's own `healthCheck()`. Unhealthy as soon as a threshold is
 * crossed; healthy when the window ends without one.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import type { HealthFigures } from '@relup/core'
import type { UpgradeEngine } from './options.js'

/** When a candidate is unhealthy. Every field has a default (`DEFAULT_HEALTH`). */
export interface HealthThresholds {
  /** Fewer errors (or 5xx answers) than this never make a candidate unhealthy: noise. Default 3. */
  minErrors: number
  /** Its error rate may exceed the previous version's by this much (0.01 = 1 point). Default 0.01. */
  errorRateIncrease: number
  /** Its 5xx rate may exceed the previous version's by this much. Default 0.01. */
  serverErrorRateIncrease: number
  /** Uncaught exceptions or unhandled rejections from its release tolerated. Default 0. */
  maxUncaught: number
  /**
   * Its event-loop delay p90 may exceed the one before the upgrade by this much, ms (and it is
   * only held against it when it is also twice what it was). Default 250: a slow path that
   * blocks the loop, not the noise of a busy host (other processes on the same cores move it by
   * tens of milliseconds, even 150 ms on an overloaded one).
   */
  eventLoopDelayIncreaseMs: number
  /** How long the app's `healthCheck()` may take before it counts as failed, ms. Default 5,000. */
  healthCheckTimeoutMs: number
}

export const DEFAULT_HEALTH: HealthThresholds = {
  minErrors: 3,
  errorRateIncrease: 0.01,
  serverErrorRateIncrease: 0.01,
  maxUncaught: 0,
  eventLoopDelayIncreaseMs: 250,
  healthCheckTimeoutMs: 5_000,
}

/** The app's own check, called at the end of the window: a throw, a rejection or `false` fails it. */
export type HealthCheck = (candidate: { version: string; upgradeId: string }) => unknown

type Calls = { calls: number; errors: number; responses: number; serverErrors: number }
const ZERO: Calls = { calls: 0, errors: 0, responses: 0, serverErrors: 0 }

/**
 * The event-loop delay since the last probation (or since the runtime started): the "before" of
 * the next one. One histogram per process, cheap enough to keep running.
 */
let loopDelay: IntervalHistogram | null = null
function loopHistogram(): IntervalHistogram {
  if (loopDelay === null) {
    loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
  }
  return loopDelay
}
/** Start measuring the event-loop delay now, so that a probation has a "before" to compare with. */
export function watchEventLoop(): void {
  loopHistogram()
}
const p90Ms = (histogram: IntervalHistogram) =>
  histogram.count === 0 ? 0 : Math.max(0, histogram.percentile(90) / 1e6 - 10)

export interface ProbationInput {
  engine: UpgradeEngine
  version: string
  upgradeId: string
  previousVersion: string
  releaseDir: string
  windowMs: number
  thresholds: HealthThresholds
  healthCheck: HealthCheck | null
}

export type Verdict = { healthy: boolean; health: HealthFigures }

/**
 * One candidate's probation. `verdict` resolves when the window ends (healthy unless the app's
 * check fails) or as soon as a threshold is crossed (unhealthy); `cancel()` ends it early with
 * the figures so far (the rollout was withdrawn, the runtime stops).
 */
export class Probation {
  readonly verdict: Promise<Verdict>
  readonly #input: ProbationInput
  readonly #started = performance.now()
  readonly #before: Calls
  readonly #previousLoopP90: number
  readonly #loop: IntervalHistogram
  #uncaught = 0
  #timer: NodeJS.Timeout | null = null
  #settle!: (verdict: Verdict) => void
  #done = false
  #checked: HealthFigures['healthCheck'] = 'none'

  constructor(input: ProbationInput) {
    this.#input = input
    this.#before = input.engine.callStats?.(input.previousVersion) ?? ZERO
    const histogram = loopHistogram()
    this.#previousLoopP90 = p90Ms(histogram)
    histogram.reset()
    this.#loop = histogram
    this.verdict = new Promise((resolve) => {
      this.#settle = resolve
    })
    process.on('uncaughtExceptionMonitor', this.#onUncaught)
    this.#tick()
  }

  /** The figures so far. */
  figures(reasons: string[] = []): HealthFigures {
    const { engine, version, windowMs } = this.#input
    const now = engine.callStats?.(version) ?? ZERO
    return {
      windowMs,
      elapsedMs: Math.round(performance.now() - this.#started),
      calls: now.calls,
      errors: now.errors,
      errorRate: rate(now.errors, now.calls),
      previousErrorRate: rate(this.#before.errors, this.#before.calls),
      responses: now.responses,
      serverErrors: now.serverErrors,
      serverErrorRate: rate(now.serverErrors, now.responses),
      previousServerErrorRate: rate(this.#before.serverErrors, this.#before.responses),
      uncaught: this.#uncaught,
      eventLoopDelayP90Ms: round(p90Ms(this.#loop)),
      previousEventLoopDelayP90Ms: round(this.#previousLoopP90),
      healthCheck: this.#checked,
      reasons,
    }
  }

  /** End now, with the figures so far; the verdict says healthy (nothing was crossed yet). */
  cancel(): void {
    this.#finish(true, this.figures())
  }

  readonly #onUncaught = (error: unknown) => {
    const { engine, releaseDir } = this.#input
    if (engine.threwFrom?.(error, releaseDir) ?? false) this.#uncaught++
  }

  #tick(): void {
    if (this.#done) return
    const reasons = this.#crossed()
    if (reasons.length > 0) {
      this.#finish(false, this.figures(reasons))
      return
    }
    const left = this.#input.windowMs - (performance.now() - this.#started)
    if (left <= 0) {
      void this.#end()
      return
    }
    this.#timer = setTimeout(() => this.#tick(), Math.min(250, left))
    this.#timer.unref()
  }

  async #end(): Promise<void> {
    const { healthCheck, thresholds, version, upgradeId } = this.#input
    const reasons: string[] = []
    if (healthCheck) {
      const passed = await runCheck(healthCheck, { version, upgradeId }, thresholds.healthCheckTimeoutMs)
      this.#checked = passed === true ? 'passed' : 'failed'
      if (passed !== true) reasons.push(`healthCheck() ${passed}`)
    }
    reasons.push(...this.#crossed())
    this.#finish(reasons.length === 0, this.figures(reasons))
  }

  /** The thresholds crossed so far, one line each. */
  #crossed(): string[] {
    const t = this.#input.thresholds
    const f = this.figures()
    const reasons: string[] = []
    if (f.errors >= t.minErrors && f.errorRate > f.previousErrorRate + t.errorRateIncrease)
      reasons.push(
        `${f.errors} of ${f.calls} calls threw or rejected (${pct(f.errorRate)}, the version before: ${pct(f.previousErrorRate)})`,
      )
    if (
      f.serverErrors >= t.minErrors &&
      f.serverErrorRate > f.previousServerErrorRate + t.serverErrorRateIncrease
    )
      reasons.push(
        `${f.serverErrors} of ${f.responses} responses were 5xx (${pct(f.serverErrorRate)}, the version before: ${pct(f.previousServerErrorRate)})`,
      )
    if (f.uncaught > t.maxUncaught)
      reasons.push(`${f.uncaught} uncaught exception(s) or unhandled rejection(s) thrown from its code`)
    if (
      f.eventLoopDelayP90Ms > f.previousEventLoopDelayP90Ms + t.eventLoopDelayIncreaseMs &&
      f.eventLoopDelayP90Ms > 2 * f.previousEventLoopDelayP90Ms
    )
      reasons.push(
        `event-loop delay p90 ${f.eventLoopDelayP90Ms} ms (before: ${f.previousEventLoopDelayP90Ms} ms)`,
      )
    return reasons
  }

  #finish(healthy: boolean, health: HealthFigures): void {
    if (this.#done) return
    this.#done = true
    if (this.#timer) clearTimeout(this.#timer)
    process.off('uncaughtExceptionMonitor', this.#onUncaught)
    this.#loop.reset() // the next "before" starts here
    this.#settle({ healthy, health })
  }
}

async function runCheck(
  check: HealthCheck,
  candidate: { version: string; upgradeId: string },
  timeoutMs: number,
) {
  let timer: NodeJS.Timeout | undefined
  try {
    const result = await Promise.race([
      Promise.resolve().then(() => check(candidate)),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not answer within ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
    return result === false ? 'returned false' : true
  } catch (error) {
    return `failed: ${(error as Error)?.message ?? String(error)}`
  } finally {
    clearTimeout(timer)
  }
}

const rate = (part: number, whole: number) => (whole === 0 ? 0 : part / whole)
const round = (ms: number) => Math.round(ms * 10) / 10
const pct = (r: number) => `${(r * 100).toFixed(1)} %`
