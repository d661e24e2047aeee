/**
 * The fleet as storage tells it: the pointer, the deploy lock, and every machine record with the
 * state it is in relative to the pointer (what `relup status` shows).
 */
import {
  type CurrentPointer,
  fingerprint,
  isMachineRecent,
  type LockDocument,
  listAll,
  type MachineRecord,
  parseLock,
  parseMachineRecord,
  readDocument,
  relupKeys,
  type Storage,
} from '@relup/core'
import { readPointer } from './pointer.js'

/**
 * - `current`: runs what the pointer says;
 * - `degraded`: runs it, but old unit instances failed to dispose (restart it when convenient);
 * - `behind`: on the pointer's base, not (yet) on its upgrade; `failed`: its attempt failed;
 * - `older base`: booted from a cold build the pointer moved away from;
 * - `stopped`, `not seen recently`: publishers do not wait for it.
 */
export type MachineState =
  | 'current'
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
  /** Null when no machine booted and nothing was published yet. */
  pointer: CurrentPointer | null
  /** The fingerprint a machine running the pointer reports. */
  expectedFingerprint: string | null
  lock: LockDocument | null
  /** By machine id. */
  machines: FleetMachine[]
}

export function machineState(
  machine: MachineRecord,
  pointer: { baseRef: string; hot: { upgradeId: string } | null } | null,
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
  const pointer = (await readPointer(storage, keys))?.pointer ?? null
  const lockRead = await readDocument(storage, keys.lock, parseLock).catch(() => null)
  const records: MachineRecord[] = []
  for await (const item of listAll(storage, keys.machinesPrefix)) {
    const read = await readDocument(storage, item.key, parseMachineRecord).catch(() => null)
    if (read?.status === 'ok') records.push(read.document)
  }
  records.sort((a, b) => a.machineId.localeCompare(b.machineId))
  return {
    app,
    storage: storage.name,
    pointer,
    expectedFingerprint: pointer ? fingerprint(pointer.baseRef, pointer.hot?.sourceRef ?? null) : null,
    lock: lockRead?.status === 'ok' ? lockRead.document : null,
    machines: records.map((machine) => ({ ...machine, state: machineState(machine, pointer, options.now) })),
  }
}
