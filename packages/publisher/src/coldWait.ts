/**
 * Waiting for the fleet to take a cold release, as a hot publish waits: without `expect`, the
 * machines that reported recently (their records, read before the pointer moved) and that a cold
 * release reaches are waited for, each until its result under `results/<releaseId>/` is final or
 * it is counted absent (it did not acknowledge within its grace). A machine whose record says it
 * runs under no supervisor that follows the app's cold releases (`relup run --app`) is left out,
 * not waited for; one whose runtime does not say (from before relup recorded it) is waited for.
 * A rollback is a release of its own (a new id), so no result of an earlier time counts.
 */
import {
  type ColdRelease,
  coldBaseRef,
  isMachineRecent,
  type MachineRecord,
  type MachineResult,
  relupKeys,
  type Storage,
} from '@relup/core'
import { readMachineRecords } from './machines.js'
import { type MachineOutcome, type WaitProgress, waitForResults } from './wait.js'

/** The default of `timeoutMs`, as for hot upgrades. */
const DEFAULT_TIMEOUT_MS = 120_000

export interface WaitForColdOptions {
  storage: Storage
  app: string
  prefix?: string | undefined
  release: ColdRelease
  /**
   * The live machines, read before the pointer moved (`coldFleet`): those it reaches are waited
   * for, the others left out. Not waited for with `expect`.
   */
  expected: readonly MachineRecord[]
  /** Wait for exactly this many machines' results instead (none is ever absent). */
  expect?: number | undefined
  /** Default 120 s. */
  timeoutMs?: number | undefined
  /** A machine's grace to acknowledge, at least (default 15 s, or three of its poll intervals). */
  ackTimeoutMs?: number | undefined
  pollMs?: number | undefined
  signal?: AbortSignal | undefined
  onProgress?: ((progress: WaitProgress) => void) | undefined
  onResult?: ((result: MachineResult) => void) | undefined
  onAbsent?: ((machine: MachineRecord, graceMs: number) => void) | undefined
  onStorageError?: ((error: unknown) => void) | undefined
}

export interface ColdWaitOutcome {
  outcomes: MachineOutcome[]
  /** Live machines a cold release does not reach, not waited for (see `coldReach`). */
  leftOut: LeftOutMachine[]
  /** With `expect`: how many machines never gave a final result. */
  missing: number
  /**
   * Every machine waited for completed or is absent, none is missing, and one completed if any
   * is absent or left out.
   */
  ok: boolean
}

export interface LeftOutMachine {
  machine: MachineRecord
  /** "not under relup run: a cold release does not reach it" */
  why: string
}

/** Which live machines a cold release reaches (by what their records say of their supervisor), and which not and why. */
export function coldReach(
  app: string,
  machines: readonly MachineRecord[],
): { reached: MachineRecord[]; leftOut: LeftOutMachine[] } {
  const reached: MachineRecord[] = []
  const leftOut: LeftOutMachine[] = []
  for (const machine of machines) {
    const { supervised } = machine
    // Absent: a runtime from before relup recorded it, which may well be under relup run --app.
    if (supervised === undefined || supervised?.followsColdReleases) reached.push(machine)
    else
      leftOut.push({
        machine,
        why:
          supervised === null
            ? 'not under relup run: a cold release does not reach it'
            : `under relup run without --app ${app}: it does not follow cold releases`,
      })
  }
  return { reached, leftOut }
}

/** The machines a cold release waits for: every live one (cold releases change the base). */
export async function coldFleet(storage: Storage, app: string, prefix?: string): Promise<MachineRecord[]> {
  const records = await readMachineRecords(storage, relupKeys(app, { prefix }))
  return records.filter((record) => isMachineRecent(record))
}

export async function waitForColdRelease(options: WaitForColdOptions): Promise<ColdWaitOutcome> {
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const { reached, leftOut } = coldReach(options.app, options.expected)
  const expected = options.expect === undefined ? reached : []
  const outcomes = await waitForResults(options.storage, keys, expected, {
    upgradeId: options.release.releaseId,
    baseRef: coldBaseRef(options.release.releaseId),
    expect: options.expect,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    pollMs: options.pollMs,
    ackTimeoutMs: options.ackTimeoutMs,
    signal: options.signal,
    onProgress: options.onProgress,
    onResult: options.onResult,
    onAbsent: options.onAbsent,
    onStorageError: options.onStorageError,
  })
  const final = outcomes.filter((o) => o.status === 'completed' || o.status === 'failed').length
  const missing = options.expect === undefined ? 0 : Math.max(0, options.expect - final)
  const completed = outcomes.filter((o) => o.status === 'completed').length
  const absent = outcomes.filter((o) => o.status === 'absent').length
  const notTaken = absent + (options.expect === undefined ? leftOut.length : 0)
  const ok =
    missing === 0 &&
    outcomes.every((o) => o.status === 'completed' || o.status === 'absent') &&
    (notTaken === 0 || completed > 0)
  return { outcomes, leftOut, missing, ok }
}
