/**
 * The fleet as storage tells it: the pointer, the deploy lock, and every machine record with the
 * state it is in relative to the pointer (what `relup status` shows).
 */
import {
  type CurrentPointer,
  DocumentError,
  fingerprint,
  isMachineRecent,
  type LockDocument,
  type MachineRecord,
  parseLock,
  parseMachineResult,
  type RelupKeys,
  readDocument,
  relupKeys,
  type Storage,
} from '@relup/core'
import { mapConcurrently } from './concurrently.js'
import { LockUnreadableError } from './errors.js'
import { type OtherBaseMachine, readMachineRecords, splitByBase } from './machines.js'
import { readPointerState } from './pointer.js'

/**
 * - `current`: runs what the pointer says;
 * - `degraded`: runs it, but old unit instances failed to dispose (restart it when convenient);
 * - `behind`: on the pointer's base, not (yet) on its upgrade; `failed`: its attempt failed;
 * - `older base`: booted from a cold build the pointer moved away from;
 * - `stopped`, `not seen recently`: publishers do not wait for it.
 */
export type MachineState =
  | 'current'
  /** It runs the candidate of the rollout in progress (its wave reached it). */
  | 'candidate'
  | 'degraded'
  | 'behind'
  | 'failed'
  | 'older base'
  | 'stopped'
  | 'not seen recently'

export interface FleetMachine extends MachineRecord {
  state: MachineState
}

export interface FleetStatus {
  app: string
  /** The storage's name ("file:///srv/relup", "s3://bucket/prefix"). */
  storage: string
  /** Null when no machine booted and nothing was published yet, or when it is corrupt. */
  pointer: CurrentPointer | null
  /** Why `current.json` cannot be used (it is malformed): says to run `relup repair`. */
  pointerProblem: string | null
  /** The fingerprint a machine running the pointer reports. */
  expectedFingerprint: string | null
  lock: LockDocument | null
  /** Why `lock.json` cannot be read: it blocks every publish until `relup unlock` removes it. */
  lockProblem: string | null
  /** By machine id. */
  machines: FleetMachine[]
  /** Live machines on another base than the pointer's: hot upgrades for the pointer's base do not reach them. */
  otherBaseMachines: OtherBaseMachine[]
}

export function machineState(
  machine: MachineRecord,
  pointer: {
    baseRef: string
    hot: { upgradeId: string } | null
    candidate?: { upgrade: { upgradeId: string } } | null | undefined
  } | null,
  now: Date = new Date(),
): MachineState {
  if (machine.stoppedAt) return 'stopped'
  if (!isMachineRecent(machine, now)) return 'not seen recently'
  const last = machine.lastResult
  const degraded = last?.status === 'completed' && last.degraded === true
  if (!pointer) return degraded ? 'degraded' : 'current'
  if (machine.baseRef !== pointer.baseRef) return 'older base'
  const wanted = pointer.hot?.upgradeId ?? null
  if (machine.upgradeId === wanted) return degraded ? 'degraded' : 'current'
  if (pointer.candidate && machine.upgradeId === pointer.candidate.upgrade.upgradeId) return 'candidate'
  if (last && last.upgradeId === wanted && last.status === 'failed') return 'failed'
  return 'behind'
}

export async function readFleetStatus(options: {
  storage: Storage
  app: string
  prefix?: string | undefined
  now?: Date | undefined
}): Promise<FleetStatus> {
  const { storage, app } = options
  const keys = relupKeys(app, { prefix: options.prefix })
  const state = await readPointerState(storage, keys)
  const pointer = state.status === 'ok' ? state.pointer : null
  let lock: LockDocument | null = null
  let lockProblem: string | null = null
  try {
    const read = await readDocument(storage, keys.lock, parseLock)
    if (read.status === 'ok') lock = read.document
  } catch (error) {
    if (!(error instanceof DocumentError)) throw error
    lockProblem = new LockUnreadableError(app, error.message).message
  }
  const records = await readMachineRecords(storage, keys)
  const machines = records.map((machine) => ({
    ...machine,
    state: machineState(machine, pointer, options.now),
  }))
  return {
    app,
    storage: storage.name,
    pointer,
    pointerProblem: state.status === 'corrupt' ? state.error.message.replaceAll('<app>', app) : null,
    expectedFingerprint: pointer ? fingerprint(pointer.baseRef, pointer.hot?.sourceRef ?? null) : null,
    lock,
    lockProblem,
    machines: await caughtUp(storage, keys, machines, pointer, options.now),
    otherBaseMachines: pointer ? splitByBase(records, pointer.baseRef, options.now).otherBases : [],
  }
}

/** Result reads in flight at once (a fleet of 1,000 that has just been published to looks behind). */
const RESULT_READS = 16

/**
 * A machine's record follows its `completed` result within the runtime's `recordDelay` (2 s by
 * default): a machine that looks behind but has completed the pointer's upgrade since its record
 * was written is shown as running it, so `relup status` right after `relup publish` agrees with
 * the publish. One GET per machine that looks behind (none on a settled fleet).
 */
async function caughtUp(
  storage: Storage,
  keys: RelupKeys,
  machines: FleetMachine[],
  pointer: CurrentPointer | null,
  now: Date | undefined,
): Promise<FleetMachine[]> {
  const hot = pointer?.hot ?? null
  if (hot === null) return machines
  return mapConcurrently(machines, RESULT_READS, async (machine) => {
    if (machine.state !== 'behind') return machine
    const read = await readDocument(
      storage,
      keys.result(hot.upgradeId, machine.machineId),
      parseMachineResult,
    ).catch(() => null) // a result that cannot be read changes nothing: the record stands
    if (read?.status !== 'ok') return machine
    const { status, finishedAt, baseRef, stats } = read.document
    if (status !== 'completed' || finishedAt === null || baseRef !== machine.baseRef) return machine
    if (Date.parse(finishedAt) <= Date.parse(machine.updatedAt)) return machine
    // The record as the machine is about to write it.
    const record: MachineRecord = {
      ...machine,
      version: hot.version,
      upgradeId: hot.upgradeId,
      hotRef: hot.sourceRef,
      fingerprint: fingerprint(machine.baseRef, hot.sourceRef),
      lastResult: {
        upgradeId: hot.upgradeId,
        version: hot.version,
        status: 'completed',
        at: finishedAt,
        error: null,
        degraded: stats?.degraded === true,
      },
    }
    return { ...record, state: machineState(record, pointer, now) }
  })
}
