/**
 * `results/<upgradeId>/<machineId>.json`: what one machine did with one upgrade. Written
 * `pending` before the apply starts, then `completed` or `failed`: every attempt ends in a
 * terminal status, so a publisher never waits on a machine stuck in "pending".
 */
import { isoDate, nonEmpty } from './patterns.js'
import {
  array,
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

export type ResultStatus = 'pending' | 'completed' | 'failed'

export interface UpgradeStats {
  modulesReloaded: number
  moduleNames: string[]
  unitsMigrated: number
  unitNames: string[]
  unitsFailed: number
  /** Gates closed → reopened: the only time calls to the affected units wait. */
  pauseMs: number
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
}

const count = number({ integer: true, min: 0 })
const ms = number({ min: 0 })

export const upgradeStatsSchema: Schema<UpgradeStats> = object<UpgradeStats>({
  modulesReloaded: count,
  moduleNames: array(string()),
  unitsMigrated: count,
  unitNames: array(string()),
  unitsFailed: count,
  pauseMs: ms,
  totalMs: ms,
  downloadMs: optional(ms),
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
  status: oneOf(['pending', 'completed', 'failed'] as const),
  attempt: number({ integer: true, min: 1 }),
  startedAt: isoDate,
  finishedAt: nullable(isoDate),
  stats: nullable(upgradeStatsSchema),
  error: nullable(resultErrorSchema),
})

export function parseMachineResult(input: unknown, key?: string): MachineResult {
  return parseWith(machineResultSchema, input, { document: 'machine result', key })
}
