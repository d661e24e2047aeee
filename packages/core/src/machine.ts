/**
 * `machines/<machineId>.json`: a machine announces itself at start, after each upgrade and on
 * a slow heartbeat. It is how `relup publish` knows whom to wait for and how `relup status`
 * shows the fleet.
 */
import { isoDate, nonEmpty } from './patterns.js'
import {
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
import { type Supervised, supervisedSchema } from './supervised.js'

export interface LastResult {
  upgradeId: string
  version: string
  status: 'completed' | 'failed'
  at: string
  error: string | null
  /** A completed upgrade whose old unit instances failed to dispose: the machine should be restarted when convenient. */
  degraded?: boolean | undefined
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
  /** How often the machine refreshes this record; publishers treat it as gone after a few missed beats. */
  heartbeatMs?: number | undefined
  /** How often the machine reads the pointer: a live machine acknowledges a new upgrade within about this long. */
  pollIntervalMs?: number | undefined
  /**
   * The machine subscribes to a notifier: once a publisher's notice reached it, it acknowledges
   * within seconds; `pollIntervalMs` is then only its safety net for missed notices.
   */
  notified?: boolean | undefined
  /** Set when the machine stopped cleanly: publishers do not wait for it. */
  stoppedAt?: string | null | undefined
  pid?: number | undefined
  host?: string | undefined
  /**
   * The machine runs under `relup run` (and whether its supervisor follows the app's cold
   * releases); null: under no supervisor; absent: a runtime from before relup recorded it.
   */
  supervised?: Supervised | null | undefined
}

export const lastResultSchema: Schema<LastResult> = object<LastResult>({
  upgradeId: nonEmpty,
  version: nonEmpty,
  status: oneOf(['completed', 'failed'] as const),
  at: isoDate,
  error: nullable(string()),
  degraded: optional(boolean),
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
  heartbeatMs: optional(number({ min: 0 })),
  pollIntervalMs: optional(number({ min: 0 })),
  notified: optional(boolean),
  stoppedAt: optional(nullable(isoDate)),
  pid: optional(number({ integer: true, min: 0 })),
  host: optional(string()),
  supervised: optional(nullable(supervisedSchema)),
})

/** A machine counts as alive when it wrote its record within three heartbeats (at least two minutes). */
export function isMachineRecent(record: MachineRecord, now: Date = new Date()): boolean {
  if (record.stoppedAt) return false
  const window = Math.max(3 * (record.heartbeatMs ?? 60_000), 120_000)
  return now.getTime() - Date.parse(record.updatedAt) <= window
}

export function parseMachineRecord(input: unknown, key?: string): MachineRecord {
  return parseWith(machineRecordSchema, input, { document: 'machine record', key })
}
