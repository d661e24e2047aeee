/**
 * Waiting for the fleet: which machines to expect, and their results as they arrive. A machine
 * acknowledges a new upgrade (writes `pending`) within about one poll interval; one that has not
 * within its grace is counted absent instead of being waited for (it died without saying so).
 * Storage failing for a while does not end the wait: it is ridden out until the timeout.
 */
import {
  listAll,
  type MachineRecord,
  type MachineResult,
  parseMachineResult,
  type RelupKeys,
  readDocument,
  type Storage,
} from '@relup/core'
import { cancelled, sleep } from './cancellation.js'
import { readMachineRecords, splitByBase } from './machines.js'
import { isTransientStorageError } from './transient.js'

interface OutcomeFields {
  machineId: string
  region: string | null
  /**
   * It completed, but old unit instances failed to dispose (`stats.degraded`): the upgrade stands
   * and the machine runs it, yet it may still hold their resources. Restart it when convenient.
   */
  degraded: boolean
  /** When the machine last wrote its record (null when it has none). */
  lastSeen: string | null
}

export type MachineOutcome = OutcomeFields &
  (
    | { status: 'completed' | 'failed'; result: MachineResult }
    | { status: 'timed-out'; result: MachineResult | null }
    /** It did not acknowledge the upgrade within its grace (see `ackTimeoutMs`): not waited for. */
    | { status: 'absent'; result: null }
  )

/** How long a machine may take to acknowledge: the default `ackTimeoutMs`. */
export const DEFAULT_ACK_TIMEOUT_MS = 15_000
/** The poll interval assumed for a machine whose record does not say (written before relup 0.1). */
const UNKNOWN_POLL_INTERVAL_MS = 10_000

/**
 * A machine's grace to acknowledge: `ackTimeoutMs` or three of its poll intervals, whichever is
 * longer; only `ackTimeoutMs` for a machine that hears a notifier the publisher just told
 * (`announced`), since its slow poll is only a safety net. A machine counted absent that
 * answers later is waited for again.
 */
export function ackGraceMs(
  record: MachineRecord,
  ackTimeoutMs = DEFAULT_ACK_TIMEOUT_MS,
  announced = false,
): number {
  if (announced && record.notified === true) return ackTimeoutMs
  return Math.max(ackTimeoutMs, 3 * (record.pollIntervalMs ?? UNKNOWN_POLL_INTERVAL_MS))
}

export interface WaitOptions {
  upgradeId: string
  baseRef: string
  /** Wait for exactly this many machines instead of the recent machine records (none is ever absent). */
  expect?: number | undefined
  timeoutMs: number
  pollMs?: number | undefined
  /** Grace to acknowledge, at least (see `ackGraceMs`); default 15 s. Time storage was failing does not count. */
  ackTimeoutMs?: number | undefined
  /** The notifier was told of this pointer move: machines that hear it acknowledge within `ackTimeoutMs`. */
  announced?: boolean | undefined
  signal?: AbortSignal | undefined
  onProgress?: ((progress: WaitProgress) => void) | undefined
  /** Called once per machine when its terminal result arrives. */
  onResult?: ((result: MachineResult) => void) | undefined
  /** Called once per storage outage during the wait, with its first error. */
  onStorageError?: ((error: unknown) => void) | undefined
  onStorageRecovered?: ((downMs: number) => void) | undefined
  /** Called when an expected machine is counted absent. */
  onAbsent?: ((machine: MachineRecord, graceMs: number) => void) | undefined
}

export interface WaitProgress {
  done: number
  expected: number
  completed: number
  failed: number
  pending: number
  absent: number
}

/** Machines whose record is recent and on this base: the ones a publish waits for. */
export async function expectedMachines(
  storage: Storage,
  keys: RelupKeys,
  baseRef: string,
): Promise<MachineRecord[]> {
  return splitByBase(await readMachineRecords(storage, keys), baseRef).onBase
}

/** A completed result whose engine reported old instances it could not dispose. */
function isDegraded(result: MachineResult): boolean {
  return result.stats?.degraded === true || (result.stats?.disposeErrors?.length ?? 0) > 0
}

/** Finished: `pending` and a candidate's `probation` are not. */
const terminal = (r: MachineResult | undefined) =>
  r !== undefined && r.status !== 'pending' && r.status !== 'probation'

export async function waitForResults(
  storage: Storage,
  keys: RelupKeys,
  expected: MachineRecord[],
  options: WaitOptions,
): Promise<MachineOutcome[]> {
  const started = Date.now()
  const deadline = started + options.timeoutMs
  const pollMs = options.pollMs ?? 500
  const prefix = keys.results(options.upgradeId)
  const results = new Map<string, MachineResult>()
  const etags = new Map<string, string>()
  const announced = new Set<string>()
  const absent = new Set<string>()
  const records = new Map(expected.map((m) => [m.machineId, m]))
  const target = options.expect ?? expected.length
  let outageSince: number | null = null
  let outageMs = 0

  async function scan(): Promise<void> {
    for await (const item of listAll(storage, prefix)) {
      const machineId = item.key.slice(prefix.length).replace(/\.json$/, '')
      if (terminal(results.get(machineId)) && etags.get(machineId) === item.etag && item.etag !== undefined)
        continue
      const read = await readDocument(storage, item.key, parseMachineResult).catch(() => null)
      if (read?.status !== 'ok') continue
      etags.set(machineId, read.etag)
      results.set(machineId, read.document)
      absent.delete(machineId) // it answered after all
      if (terminal(read.document) && !announced.has(machineId)) {
        announced.add(machineId)
        options.onResult?.(read.document)
      }
    }
  }

  /** Expected machines that have not acknowledged within their grace of reachable storage. */
  function markAbsent(): void {
    if (options.expect !== undefined) return
    const reachableMs = Date.now() - started - outageMs
    for (const record of expected) {
      const grace = ackGraceMs(record, options.ackTimeoutMs, options.announced)
      if (results.has(record.machineId) || absent.has(record.machineId) || reachableMs < grace) continue
      absent.add(record.machineId)
      options.onAbsent?.(record, grace)
    }
  }

  const doneCount = () =>
    options.expect === undefined
      ? expected.filter((m) => terminal(results.get(m.machineId)) || absent.has(m.machineId)).length
      : [...results.values()].filter(terminal).length

  let rounds = 0
  while (true) {
    if (options.signal?.aborted) throw cancelled(options.signal, 'cancelled while waiting for the machines')
    try {
      await scan()
      if (outageSince !== null) {
        const downMs = Date.now() - outageSince
        outageMs += downMs
        outageSince = null
        options.onStorageRecovered?.(downMs)
      }
      markAbsent()
    } catch (error) {
      if (!isTransientStorageError(error)) throw error
      if (outageSince === null) {
        outageSince = Date.now()
        options.onStorageError?.(error)
      }
    }
    const done = doneCount()
    const values = [...results.values()]
    options.onProgress?.({
      done,
      expected: target,
      completed: values.filter((r) => r.status === 'completed').length,
      failed: values.filter((r) => r.status === 'failed').length,
      pending: values.filter((r) => !terminal(r)).length,
      absent: absent.size,
    })
    if ((done >= target && outageSince === null) || Date.now() >= deadline) break
    // Machines usually answer within a second: look often at first, then settle at pollMs.
    const delay = outageSince === null ? Math.min(pollMs, 100 * 2 ** Math.min(rounds++, 4)) : 1000
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), options.signal)
  }

  const wanted = options.expect === undefined ? expected.map((m) => m.machineId) : []
  const ids = new Set([...wanted, ...results.keys()])
  return [...ids].sort().map((machineId): MachineOutcome => {
    const result = results.get(machineId)
    const record = records.get(machineId)
    const fields = {
      machineId,
      region: result?.region ?? record?.region ?? null,
      lastSeen: record?.updatedAt ?? null,
    }
    if (result && terminal(result)) {
      if (result.status === 'failed') return { ...fields, status: 'failed', result, degraded: false }
      return { ...fields, status: 'completed', result, degraded: isDegraded(result) }
    }
    if (!result && absent.has(machineId))
      return { ...fields, status: 'absent', result: null, degraded: false }
    return { ...fields, status: 'timed-out', result: result ?? null, degraded: false }
  })
}
