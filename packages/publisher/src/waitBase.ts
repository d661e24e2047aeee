/**
 * Waiting for a rollback to base. Going back to base code has no upgrade id, so machines report
 * it in their machine record, not in a results folder: `upgradeId: null` once they run their base
 * release again, or a `lastResult` with upgrade id `base` that failed. Storage blips are ridden out
 * for the whole timeout, as in `waitForResults`.
 */
import {
  type MachineRecord,
  type MachineResult,
  parseMachineRecord,
  type RelupKeys,
  readDocument,
  type Storage,
} from '@relup/core'
import { sleep } from './cancellation.js'
import { isTransientStorageError } from './transient.js'
import { ackGraceMs, type MachineOutcome } from './wait.js'

/** The upgrade id a machine reports a return to base under (`@relup/poller`'s). */
export const BASE_UPGRADE_ID = 'base'

export interface WaitForBaseOptions {
  baseRef: string
  /** When the pointer moved: only what a machine wrote afterwards counts. */
  movedAt: Date
  timeoutMs: number
  pollMs?: number | undefined
  ackTimeoutMs?: number | undefined
  signal?: AbortSignal | undefined
  onResult?: ((result: MachineResult) => void) | undefined
  /** Storage failed while waiting (said once per outage; the wait goes on until the timeout). */
  onStorageError?: ((error: unknown) => void) | undefined
}

/** Wait until every machine of `expected` (those running hot code) is back on its base code, failed, or absent. */
export async function waitForBase(
  storage: Storage,
  keys: RelupKeys,
  expected: readonly MachineRecord[],
  options: WaitForBaseOptions,
): Promise<MachineOutcome[]> {
  const started = Date.now()
  const deadline = started + options.timeoutMs
  const outcomes = new Map<string, MachineOutcome>()
  const latest = new Map(expected.map((record) => [record.machineId, record]))
  const since = options.movedAt.getTime()
  let failing = false
  while (true) {
    for (const machine of expected) {
      if (outcomes.has(machine.machineId)) continue
      let record: MachineRecord | null = null
      try {
        const read = await readDocument(storage, keys.machine(machine.machineId), parseMachineRecord)
        record = read.status === 'ok' ? read.document : null
        failing = false
      } catch (error) {
        if (!isTransientStorageError(error)) throw error
        if (!failing) options.onStorageError?.(error)
        failing = true
        continue
      }
      if (record) latest.set(machine.machineId, record)
      const outcome = record && judge(record, machine, since, options.baseRef)
      if (outcome) {
        outcomes.set(machine.machineId, outcome)
        options.onResult?.(outcome.result as MachineResult)
      } else if (
        Date.now() - started > ackGraceMs(machine, options.ackTimeoutMs) &&
        !changed(record, machine)
      ) {
        outcomes.set(machine.machineId, { ...fields(record ?? machine), status: 'absent', result: null })
      }
    }
    if (outcomes.size === expected.length || Date.now() >= deadline) break
    await sleep(Math.min(options.pollMs ?? 500, Math.max(0, deadline - Date.now())), options.signal)
  }
  return expected.map(
    (machine) =>
      outcomes.get(machine.machineId) ?? {
        ...fields(latest.get(machine.machineId) ?? machine),
        status: 'timed-out',
        result: null,
      },
  )
}

/** Whether the machine wrote its record since `before` (read before the pointer moved): it is alive. */
const changed = (record: MachineRecord | null, before: MachineRecord) =>
  record !== null && record.updatedAt !== before.updatedAt

/**
 * The machine's answer in its record, compared with the record read before the pointer moved
 * (`before`, which ran hot code); null while it has none.
 */
function judge(
  record: MachineRecord,
  before: MachineRecord,
  since: number,
  baseRef: string,
): MachineOutcome | null {
  if (!changed(record, before)) return null
  const last = record.lastResult
  const result = (status: 'completed' | 'failed', error: string | null): MachineResult => ({
    schema: 1,
    upgradeId: BASE_UPGRADE_ID,
    machineId: record.machineId,
    region: record.region,
    baseRef,
    version: BASE_UPGRADE_ID,
    status,
    attempt: 1,
    startedAt: new Date(since).toISOString(),
    finishedAt: last?.at ?? record.updatedAt,
    stats: null,
    error: error === null ? null : { code: 'ERR_RELUP_UPGRADE_FAILED', message: error, phase: 'swap' },
  })
  if (record.upgradeId === null)
    return { ...fields(record), status: 'completed', result: result('completed', null) }
  const newFailure = last?.at !== before.lastResult?.at
  if (last?.upgradeId === BASE_UPGRADE_ID && last.status === 'failed' && newFailure)
    return { ...fields(record), status: 'failed', result: result('failed', last.error) }
  return null
}

function fields(record: MachineRecord) {
  return { machineId: record.machineId, region: record.region, degraded: false, lastSeen: record.updatedAt }
}
