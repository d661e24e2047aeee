/** The machine records (`machines/<machineId>.json`): who runs, on which base, last seen when. */
import {
  isMachineRecent,
  listAll,
  type MachineRecord,
  parseMachineRecord,
  type RelupKeys,
  readDocument,
  type Storage,
} from '@relup/core'

/** Every readable machine record, by machine id (an unreadable record is skipped, as machines rewrite theirs). */
export async function readMachineRecords(storage: Storage, keys: RelupKeys): Promise<MachineRecord[]> {
  const records: MachineRecord[] = []
  for await (const item of listAll(storage, keys.machinesPrefix)) {
    const read = await readDocument(storage, item.key, parseMachineRecord).catch(() => null)
    if (read?.status === 'ok') records.push(read.document)
  }
  return records.sort((a, b) => a.machineId.localeCompare(b.machineId))
}

/** A live machine left out of a publish because it runs another base than the upgrade's. */
export interface OtherBaseMachine {
  machineId: string
  baseRef: string
  region: string | null
  /** What it runs: its hot version, or null on base code. */
  version: string | null
  /** When it last wrote its record. */
  lastSeen: string
}

/** The machines that reported recently and did not stop, split by whether they run `baseRef`. */
export function splitByBase(
  records: readonly MachineRecord[],
  baseRef: string,
  now: Date = new Date(),
): { onBase: MachineRecord[]; otherBases: OtherBaseMachine[] } {
  const live = records.filter((r) => isMachineRecent(r, now))
  return {
    onBase: live.filter((r) => r.baseRef === baseRef),
    otherBases: live
      .filter((r) => r.baseRef !== baseRef)
      .map((r) => ({
        machineId: r.machineId,
        baseRef: r.baseRef,
        region: r.region,
        version: r.version,
        lastSeen: r.updatedAt,
      })),
  }
}

/** "m1, m2 (image-1); m3 (image-0)": other-base machines grouped by base, for messages. */
export function describeOtherBases(machines: readonly OtherBaseMachine[]): string {
  const byBase = new Map<string, string[]>()
  for (const m of machines) byBase.set(m.baseRef, [...(byBase.get(m.baseRef) ?? []), m.machineId])
  return [...byBase].map(([base, ids]) => `${ids.join(', ')} (base ${base})`).join('; ')
}

/**
 * Whether a base's live machines are no more than those on other bases: an upgrade for it reaches
 * at most half of the live fleet. That is what a machine started with a mistyped base leaves
 * (it took the pointer over with a cold deploy), unlike an older generation a rolling cold deploy
 * is still replacing.
 */
export function isMinorityBase(onBase: number, otherBases: number): boolean {
  return otherBases > 0 && onBase <= otherBases
}
