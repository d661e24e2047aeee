/**
 * `machines/<machineId>.json`: a machine announces itself at start, after each upgrade and on
 * a slow heartbeat. It is how `relup publish` knows whom to wait for and how `relup status`
 * shows the fleet.
 */
import { isoDate, nonEmpty } from './patterns.js'
import { literal, nullable, number, object, oneOf, optional, parseWith, type Schema, string } from './schema.js'

export interface LastResult {
  upgradeId: string
  version: string
  status: 'completed' | 'failed'
  at: string
  error: string | null
}

export interface MachineRecord {
  schema: 1
  app: string
  machineId: string
  region: string | null
  baseRef: string
  /** The hot upgrade's sourceRef this machine runs, or null on base code. */
  hotRef: string | null
  version: string | null
  upgradeId: string | null
  fingerprint: string
  startedAt: string
  /** Last time the machine wrote this record: how "recent" machines are told from gone ones. */
  updatedAt: string
  lastResult: LastResult | null
  pid?: number | undefined
  host?: string | undefined
}

export const lastResultSchema: Schema<LastResult> = object<LastResult>({
  upgradeId: nonEmpty,
  version: nonEmpty,
  status: oneOf(['completed', 'failed'] as const),
  at: isoDate,
  error: nullable(string()),
})

export const machineRecordSchema: Schema<MachineRecord> = object<MachineRecord>({
  schema: literal(1),
  app: nonEmpty,
  machineId: nonEmpty,
  region: nullable(string()),
  baseRef: nonEmpty,
  hotRef: nullable(nonEmpty),
  version: nullable(nonEmpty),
  upgradeId: nullable(nonEmpty),
  fingerprint: string({ pattern: /^[0-9a-f]{12}$/, what: '12 lowercase hex characters' }),
  startedAt: isoDate,
  updatedAt: isoDate,
  lastResult: nullable(lastResultSchema),
  pid: optional(number({ integer: true, min: 0 })),
  host: optional(string()),
})

export function parseMachineRecord(input: unknown, key?: string): MachineRecord {
  return parseWith(machineRecordSchema, input, { document: 'machine record', key })
}
