/**
 * `results/<upgradeId>/<machineId>.json`: what one machine did with one upgrade. Written
 * `pending` before the apply starts, then `completed` or `failed`: every attempt ends in a
 * terminal status, so a publisher never waits on a machine stuck in "pending". A rollout's
 * candidate is `probation` between its commit and the end of its health window, then `completed`
 * (healthy: the machine's new last good release) or `failed` with `ERR_RELUP_UNHEALTHY` (the
 * machine reverted itself), with the `health` figures either way.
 */
import { isoDate, nonEmpty } from './patterns.js'
import {
  array,
  boolean,
  literal,
  nullable,
  number,
  object,
  oneOf,
  optional,
  parseWith,
  type Schema,
  string,
} from './schema.js'

export type ResultStatus = 'pending' | 'probation' | 'completed' | 'failed'

/** What a machine measured while a candidate was on probation, against the version before it. */
export interface HealthFigures {
  /** The health window, and how long the candidate ran in it (shorter when it was found unhealthy). */
  windowMs: number
  elapsedMs: number
  /** Calls through hot handles to the candidate, and those that threw or rejected. */
  calls: number
  errors: number
  /** Error rates (errors / calls) of the candidate, and of the previous version before the upgrade. */
  errorRate: number
  previousErrorRate: number
  /** HTTP responses the candidate's calls answered, and those with a 5xx status. */
  responses: number
  serverErrors: number
  serverErrorRate: number
  previousServerErrorRate: number
  /** Uncaught exceptions and unhandled rejections thrown from the candidate's release. */
  uncaught: number
  /** Event-loop delay p90, ms, during the window and before the upgrade. */
  eventLoopDelayP90Ms: number
  previousEventLoopDelayP90Ms: number
  /** The app's `healthCheck()`: `passed`, `failed`, or `none` when the app gives none. */
  healthCheck: 'passed' | 'failed' | 'none'
  /** Why it is unhealthy, one line per reason; empty when healthy. */
  reasons: string[]
}

/** An old unit instance whose dispose failed after an upgrade committed. */
export interface DisposeFailure {
  unit: string
  /** The version whose instance failed to dispose. */
  version: string
  message: string
}

/**
 * What a swap engine reports for one upgrade. `@relup/swap`'s `SwapStats` is this with a few
 * engine-local fields; the runtime passes it through into the machine's result.
 */
export interface EngineStats {
  modulesReloaded: number
  moduleNames: string[]
  unitsMigrated: number
  unitNames: string[]
  /** Replaced units whose old instance failed to dispose: the upgrade stands, the engine is degraded. */
  unitsFailed: number
  /** Gates closed → reopened: the only time calls to the affected units wait. */
  pauseMs: number
  /** The part of the pause spent waiting for in-flight calls to finish. */
  drainMs?: number | undefined
  /** The upgrade inside the engine, from refuse to the end of dispose. */
  totalMs: number
  /** True when an old instance failed to dispose (it may still hold resources): restart when convenient. */
  degraded?: boolean | undefined
  disposeErrors?: DisposeFailure[] | undefined
}

/** The stats of a machine's result: the engine's, with the whole apply's duration and the download. */
export interface UpgradeStats extends EngineStats {
  /** The whole upgrade on the machine, download and verification included. */
  totalMs: number
  downloadMs?: number | undefined
}

export interface ResultError {
  code: string
  message: string
  phase?: string | undefined
}

export interface MachineResult {
  schema: 1
  upgradeId: string
  machineId: string
  region: string | null
  baseRef: string
  version: string
  status: ResultStatus
  attempt: number
  startedAt: string
  finishedAt: string | null
  stats: UpgradeStats | null
  error: ResultError | null
  /** The health figures of a rollout's candidate: set from `probation` on. */
  health?: HealthFigures | null | undefined
}

const count = number({ integer: true, min: 0 })
const ms = number({ min: 0 })

const disposeFailureSchema: Schema<DisposeFailure> = object<DisposeFailure>({
  unit: string(),
  version: string(),
  message: string(),
})

export const upgradeStatsSchema: Schema<UpgradeStats> = object<UpgradeStats>({
  modulesReloaded: count,
  moduleNames: array(string()),
  unitsMigrated: count,
  unitNames: array(string()),
  unitsFailed: count,
  pauseMs: ms,
  drainMs: optional(ms),
  totalMs: ms,
  degraded: optional(boolean),
  disposeErrors: optional(array(disposeFailureSchema)),
  downloadMs: optional(ms),
})

const rate = number({ min: 0, max: 1 })

export const healthFiguresSchema: Schema<HealthFigures> = object<HealthFigures>({
  windowMs: ms,
  elapsedMs: ms,
  calls: count,
  errors: count,
  errorRate: rate,
  previousErrorRate: rate,
  responses: count,
  serverErrors: count,
  serverErrorRate: rate,
  previousServerErrorRate: rate,
  uncaught: count,
  eventLoopDelayP90Ms: ms,
  previousEventLoopDelayP90Ms: ms,
  healthCheck: oneOf(['passed', 'failed', 'none'] as const),
  reasons: array(string()),
})

export const resultErrorSchema: Schema<ResultError> = object<ResultError>({
  code: nonEmpty,
  message: string(),
  phase: optional(string()),
})

export const machineResultSchema: Schema<MachineResult> = object<MachineResult>({
  schema: literal(1),
  upgradeId: nonEmpty,
  machineId: nonEmpty,
  region: nullable(string()),
  baseRef: nonEmpty,
  version: nonEmpty,
  status: oneOf(['pending', 'probation', 'completed', 'failed'] as const),
  attempt: number({ integer: true, min: 1 }),
  startedAt: isoDate,
  finishedAt: nullable(isoDate),
  stats: nullable(upgradeStatsSchema),
  error: nullable(resultErrorSchema),
  health: optional(nullable(healthFiguresSchema)),
})

export function parseMachineResult(input: unknown, key?: string): MachineResult {
  return parseWith(machineResultSchema, input, { document: 'machine result', key })
}
