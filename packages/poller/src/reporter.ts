/**
 * What a machine tells the fleet through storage: a result per attempt
 * (`results/<upgradeId>/<machineId>.json`), its machine record (`machines/<machineId>.json`), and
 * a failed result for an upgrade it cannot take (a malformed pointer that names one, a base
 * rebuilt under the pointer's ref), so a publisher never waits on it; and, once, to the operator,
 * why it keeps out of the fleet's upgrades.
 */
import { hostname } from 'node:os'
import {
  type CurrentPointer,
  type Decision,
  type HealthFigures,
  type HotUpgrade,
  type LastResult,
  type LocalMarker,
  type MachineRecord,
  type MachineResult,
  type ResultError,
  type UpgradeStats,
  writeDocument,
} from '@relup/core'
import { versionInfo } from './currentVsn.js'
import { BaseRebuiltError } from './errors.js'
import type { MalformedPointer } from './pointerReader.js'
import type { LastUpgrade, RuntimeContext } from './types.js'

type ResultFields = Pick<
  MachineResult,
  'version' | 'status' | 'attempt' | 'startedAt' | 'finishedAt' | 'stats' | 'error' | 'health'
>

export interface MachineRecordFields {
  /** What the machine runs (null: base code). */
  running: LocalMarker | null
  last: LastUpgrade | null
  stoppedAt?: Date | undefined
}

const STOPPED_RECORD_TIMEOUT_MS = 2000

interface AttemptReport {
  upgrade: HotUpgrade
  attempt: number
  startedAt: string
  /** What the machine runs after the attempt. */
  running: LocalMarker | null
}

export class Reporter {
  readonly #ctx: RuntimeContext
  readonly #badPointers = new Set<string>()
  readonly #refused = new Set<string>()
  #rebuiltSaid = false
  readonly #keptOutSaid = new Set<string>()
  #recordWrittenAt = 0
  /** A record that follows a completed result (`recordDelay`), and its write once under way. */
  #followTimer: NodeJS.Timeout | null = null
  #followWrite: Promise<void> | null = null

  constructor(ctx: RuntimeContext) {
    this.#ctx = ctx
  }

  /** When the machine record was last written (epoch ms, 0: never): the heartbeat's clock. */
  get recordWrittenAt(): number {
    return this.#recordWrittenAt
  }

  async result(upgradeId: string, fields: ResultFields): Promise<void> {
    const { options, keys, baseRef } = this.#ctx
    const result: MachineResult = {
      schema: 1,
      upgradeId,
      machineId: options.machineId,
      region: options.region,
      baseRef,
      ...fields,
    }
    const put = await writeDocument(options.storage, keys.result(upgradeId, options.machineId), result)
    if (put.status !== 'ok') throw new Error('unexpected precondition failure on an unconditional write')
  }

  /** Write the record now: it replaces one that was to follow a result, and lands after it. */
  async machineRecord(fields: MachineRecordFields): Promise<void> {
    await this.settle()
    await this.#writeRecord(fields)
  }

  /** The record that was to follow a result is dropped (a later one replaces it), or has landed. */
  async settle(): Promise<void> {
    this.#dropFollow()
    await this.#followWrite
  }

  #dropFollow(): void {
    if (this.#followTimer) clearTimeout(this.#followTimer)
    this.#followTimer = null
  }

  /** The record after a completed result, at a random moment within `recordDelay`. */
  #followResult(fields: MachineRecordFields): void {
    this.#dropFollow()
    this.#followTimer = setTimeout(() => {
      this.#followTimer = null
      const write = this.#writeRecord(fields)
        .catch((error: unknown) =>
          this.#ctx.options.logger.warn({ err: error }, 'could not write the machine record'),
        )
        .finally(() => {
          if (this.#followWrite === write) this.#followWrite = null
        })
      this.#followWrite = write
    }, Math.random() * this.#ctx.options.recordDelay)
    this.#followTimer.unref()
  }

  async #writeRecord({ running, last, stoppedAt }: MachineRecordFields): Promise<void> {
    const { options, keys, baseRef, startedAt } = this.#ctx
    const vsn = versionInfo(baseRef, running)
    const record: MachineRecord = {
      schema: 1,
      app: options.app,
      machineId: options.machineId,
      region: options.region,
      baseRef: vsn.baseRef,
      hotRef: vsn.hotRef,
      version: vsn.version,
      upgradeId: vsn.upgradeId,
      fingerprint: vsn.fingerprint,
      startedAt: startedAt.toISOString(),
      updatedAt: new Date().toISOString(),
      lastResult: last ? lastResult(last) : null,
      heartbeatMs: options.heartbeatInterval,
      // A live machine acknowledges a new upgrade (its `pending` result) within about this long.
      pollIntervalMs: options.pollInterval,
      notified: options.notifier !== null,
      stoppedAt: stoppedAt ? stoppedAt.toISOString() : null,
      pid: process.pid,
      host: hostname(),
      supervised: options.supervised,
    }
    this.#recordWrittenAt = Date.now()
    await writeDocument(options.storage, keys.machine(options.machineId), record)
  }

  /** The last record, marking the machine stopped; best effort and bounded (a stopping process should not hang on a slow store). */
  async stoppedRecord(fields: MachineRecordFields & { stoppedAt: Date }): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.machineRecord(fields).catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, STOPPED_RECORD_TIMEOUT_MS)
      }),
    ])
    clearTimeout(timer)
  }

  /** A rollout's candidate committed and is on probation: the record, then a `probation` result. */
  async probation(report: AttemptReport & { stats: UpgradeStats; windowMs: number }): Promise<void> {
    const { logger } = this.#ctx.options
    const { upgrade, attempt, startedAt, running, stats, windowMs } = report
    logger.info(
      { version: upgrade.version, pauseMs: stats.pauseMs, windowMs },
      `running ${upgrade.version} on probation for ${Math.round(windowMs / 100) / 10} s (a rollout's candidate)`,
    )
    await this.machineRecord({ running, last: null }).catch((error: unknown) =>
      logger.warn({ err: error }, 'could not write the machine record'),
    )
    await this.result(upgrade.upgradeId, {
      version: upgrade.version,
      status: 'probation',
      attempt,
      startedAt,
      finishedAt: null,
      stats,
      error: null,
      health: null,
    }).catch((error: unknown) => logger.error({ err: error }, 'could not write the probation result'))
  }

  /**
   * The end of a candidate's probation: `completed` with the figures (healthy), or `failed` with
   * `ERR_RELUP_UNHEALTHY` and the reasons (the machine reverts itself next).
   */
  async probationEnded(
    report: AttemptReport & { stats: UpgradeStats | null; health: HealthFigures; error: ResultError | null },
  ): Promise<LastUpgrade> {
    const { upgrade, attempt, startedAt, running, stats, health, error } = report
    const status = error === null ? 'completed' : 'failed'
    const last = lastUpgrade(report, { status, stats, error })
    await this.machineRecord({ running, last }).catch(() => {})
    await this.result(upgrade.upgradeId, {
      version: upgrade.version,
      status,
      attempt,
      startedAt,
      finishedAt: new Date().toISOString(),
      stats,
      error,
      health,
    }).catch((writeError: unknown) =>
      this.#ctx.options.logger.warn({ err: writeError }, `could not write the ${status} result`),
    )
    return last
  }

  /**
   * The `completed` result, then the record within `recordDelay` (0: the record first, so that
   * whoever sees `completed` finds the machine current).
   */
  async completed(report: AttemptReport & { stats: UpgradeStats }): Promise<LastUpgrade> {
    const { logger } = this.#ctx.options
    const { upgrade, attempt, startedAt, running, stats } = report
    const { pauseMs, totalMs, modulesReloaded: modules } = stats
    logger.info({ version: upgrade.version, pauseMs, totalMs, modules }, `running ${upgrade.version}`)
    if (stats.degraded)
      logger.warn(
        { version: upgrade.version, disposeErrors: stats.disposeErrors },
        `${upgrade.version} runs, but old unit instances failed to dispose (the engine is degraded); restart this machine when convenient`,
      )
    const last = lastUpgrade(report, { status: 'completed', stats, error: null })
    const recordFirst = this.#ctx.options.recordDelay === 0
    if (recordFirst)
      await this.machineRecord({ running, last }).catch((error: unknown) =>
        logger.warn({ err: error }, 'could not write the machine record'),
      )
    await this.result(upgrade.upgradeId, {
      version: upgrade.version,
      status: 'completed',
      attempt,
      startedAt,
      finishedAt: new Date().toISOString(),
      stats,
      error: null,
    }).catch((error: unknown) => logger.error({ err: error }, 'could not write the completed result'))
    if (!recordFirst) this.#followResult({ running, last })
    return last
  }

  async failed(
    report: AttemptReport & { error: Error; reported: ResultError; retryInMs: number | null },
  ): Promise<LastUpgrade> {
    const { logger } = this.#ctx.options
    const { upgrade, attempt, startedAt, running, error, reported, retryInMs } = report
    const next =
      retryInMs === null
        ? `giving up after ${attempt} attempt${attempt === 1 ? '' : 's'} until something new is published (fix it and publish again, or roll back)`
        : `retrying in ${Math.round(retryInMs / 1000)} s`
    logger.error(
      { err: error, version: upgrade.version, attempt, retryInMs },
      `upgrade to ${upgrade.version} failed (${reported.phase}); still running ${running?.version ?? 'the base code'}, ${next}`,
    )
    const last = lastUpgrade(report, { status: 'failed', stats: null, error: reported })
    await this.result(upgrade.upgradeId, {
      version: upgrade.version,
      status: 'failed',
      attempt,
      startedAt,
      finishedAt: new Date().toISOString(),
      stats: null,
      error: reported,
    }).catch((writeError: unknown) => logger.warn({ err: writeError }, 'could not write the failed result'))
    await this.machineRecord({ running, last }).catch(() => {})
    return last
  }

  /**
   * `decide()` kept this machine out of the pointer's upgrade. An older generation keeps its code
   * quietly (one info line per base); a running machine does not reset the pointer to its base
   * (one warning). A base rebuilt under the pointer's `baseRef`: one error line saying so and what
   * to set, and a failed result for each upgrade it will not try (a publisher waits for every
   * machine of the pointer's base, so silence would cost it its whole timeout).
   */
  async keptOut(pointer: CurrentPointer, decision: Decision & { action: 'skip' | 'reset' }): Promise<void> {
    const { baseRef, baseDigest, options } = this.#ctx
    if (decision.action === 'reset' || decision.reason === 'older-base') {
      const said = `${decision.action}:${pointer.baseRef}`
      if (this.#keptOutSaid.has(said)) return
      this.#keptOutSaid.add(said)
      if (decision.action === 'reset')
        options.logger.warn(
          { current: pointer.baseRef },
          'the pointer names a base this machine does not know; only a starting machine resets it (restart this one to make its base current)',
        )
      else
        options.logger.info(
          { baseRef, current: pointer.baseRef },
          'the fleet moved to a newer base; this machine keeps its code and leaves the pointer alone',
        )
      return
    }
    const error = new BaseRebuiltError(baseRef, {
      machine: baseDigest ?? 'unknown',
      fleet: pointer.baseDigest ?? 'unknown',
    })
    if (!this.#rebuiltSaid) {
      this.#rebuiltSaid = true
      options.logger.error(
        { code: error.code, baseRef, baseDigest, fleetBaseDigest: pointer.baseDigest },
        error.message,
      )
    }
    const upgrade = pointer.hot
    if (upgrade === null || this.#refused.has(upgrade.upgradeId)) return
    this.#refused.add(upgrade.upgradeId)
    const now = new Date().toISOString()
    await this.result(upgrade.upgradeId, {
      version: upgrade.version,
      status: 'failed',
      attempt: 1,
      startedAt: now,
      finishedAt: now,
      stats: null,
      error: { code: error.code, message: error.message, phase: 'base' },
    }).catch((writeError: unknown) => {
      this.#refused.delete(upgrade.upgradeId) // the next poll tries again
      options.logger.warn({ err: writeError }, 'could not write the failed result')
    })
  }

  /** Once per malformed document: log it, and fail the upgrade it names (if it names one legibly). */
  async badPointer(read: MalformedPointer): Promise<void> {
    if (this.#badPointers.has(read.etag)) return
    this.#badPointers.add(read.etag)
    this.#ctx.options.logger.error({ err: read.error }, 'the pointer is malformed; keeping the running code')
    let raw: { hot?: { upgradeId?: unknown; version?: unknown } } | null = null
    try {
      raw = JSON.parse(new TextDecoder().decode(read.body))
    } catch {}
    const upgradeId = raw?.hot?.upgradeId
    if (typeof upgradeId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(upgradeId)) return
    const version =
      typeof raw?.hot?.version === 'string' && raw.hot.version !== '' ? raw.hot.version : 'unknown'
    const now = new Date().toISOString()
    await this.result(upgradeId, {
      version,
      status: 'failed',
      attempt: 1,
      startedAt: now,
      finishedAt: now,
      stats: null,
      error: { code: read.error.code, message: read.error.message, phase: 'pointer' },
    }).catch(() => {})
  }
}

function lastUpgrade(
  { upgrade, attempt }: AttemptReport,
  end: Pick<LastUpgrade, 'status' | 'stats' | 'error'>,
): LastUpgrade {
  return { upgradeId: upgrade.upgradeId, version: upgrade.version, at: new Date(), attempt, ...end }
}

function lastResult(last: LastUpgrade): LastResult {
  const result: LastResult = {
    upgradeId: last.upgradeId,
    version: last.version,
    status: last.status,
    at: last.at.toISOString(),
    error: last.error?.message ?? null,
  }
  // A completed upgrade says whether it left the engine degraded (an old instance failed to dispose).
  if (last.status === 'completed') result.degraded = last.stats?.degraded === true
  return result
}
