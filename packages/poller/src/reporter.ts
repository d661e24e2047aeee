/**
 * What a machine tells the fleet through storage: a result per attempt
 * (`results/<upgradeId>/<machineId>.json`), its machine record (`machines/<machineId>.json`) and
 * a failed result for a malformed pointer that names an upgrade, so a publisher never waits on it.
 */
import { hostname } from 'node:os'
import {
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
import type { MalformedPointer } from './pointerReader.js'
import type { LastUpgrade, RuntimeContext } from './types.js'

type ResultFields = Pick<
  MachineResult,
  'version' | 'status' | 'attempt' | 'startedAt' | 'finishedAt' | 'stats' | 'error'
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
  #recordWrittenAt = 0

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

  async machineRecord({ running, last, stoppedAt }: MachineRecordFields): Promise<void> {
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
      stoppedAt: stoppedAt ? stoppedAt.toISOString() : null,
      pid: process.pid,
      host: hostname(),
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

  /** The record first: whoever sees `completed` (relup publish) then finds the machine current. */
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
    return last
  }

  async failed(
    report: AttemptReport & { error: Error; reported: ResultError; retryInMs: number },
  ): Promise<LastUpgrade> {
    const { logger } = this.#ctx.options
    const { upgrade, attempt, startedAt, running, error, reported, retryInMs } = report
    logger.error(
      { err: error, version: upgrade.version, attempt, retryInMs },
      `upgrade to ${upgrade.version} failed (${reported.phase}); still running ${running?.version ?? 'the base code'}, retrying in ${Math.round(retryInMs / 1000)} s`,
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
