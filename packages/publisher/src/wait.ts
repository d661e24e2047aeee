/**
 * Waiting for the fleet: which machines to expect, and their results as they arrive.
 */
import {
  isMachineRecent,
  listAll,
  type MachineRecord,
  type MachineResult,
  parseMachineRecord,
  parseMachineResult,
  type RelupKeys,
  readDocument,
  type Storage,
} from '@relup/core'

export type MachineOutcome = (
  | { machineId: string; status: 'completed' | 'failed'; result: MachineResult; region: string | null }
  | { machineId: string; status: 'timed-out'; result: MachineResult | null; region: string | null }
) & {
  /**
   * It completed, but old unit instances failed to dispose (`stats.degraded`): the upgrade stands
   * and the machine runs it, yet it may still hold their resources. Restart it when convenient.
   */
  degraded: boolean
}

export interface WaitOptions {
  upgradeId: string
  baseRef: string
  /** Wait for exactly this many machines instead of the recent machine records. */
  expect?: number | undefined
  timeoutMs: number
  pollMs?: number | undefined
  onProgress?: ((progress: WaitProgress) => void) | undefined
  /** Called once per machine when its terminal result arrives. */
  onResult?: ((result: MachineResult) => void) | undefined
}

export interface WaitProgress {
  done: number
  expected: number
  completed: number
  failed: number
  pending: number
}

/** Machines whose record is recent and on this base: the ones a publish waits for. */
export async function expectedMachines(
  storage: Storage,
  keys: RelupKeys,
  baseRef: string,
): Promise<MachineRecord[]> {
  const records: MachineRecord[] = []
  for await (const item of listAll(storage, keys.machinesPrefix)) {
    const read = await readDocument(storage, item.key, parseMachineRecord).catch(() => null)
    if (read?.status === 'ok' && read.document.baseRef === baseRef && isMachineRecent(read.document))
      records.push(read.document)
  }
  return records.sort((a, b) => a.machineId.localeCompare(b.machineId))
}

/** A completed result whose engine reported old instances it could not dispose. */
function isDegraded(result: MachineResult): boolean {
  return result.stats?.degraded === true || (result.stats?.disposeErrors?.length ?? 0) > 0
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function waitForResults(
  storage: Storage,
  keys: RelupKeys,
  expected: MachineRecord[],
  options: WaitOptions,
): Promise<MachineOutcome[]> {
  const deadline = Date.now() + options.timeoutMs
  const pollMs = options.pollMs ?? 500
  const results = new Map<string, MachineResult>()
  const etags = new Map<string, string>()
  const announced = new Set<string>()
  const regions = new Map(expected.map((m) => [m.machineId, m.region]))
  const target = options.expect ?? expected.length
  const terminal = (r: MachineResult | undefined) => r !== undefined && r.status !== 'pending'

  const wanted = () => (options.expect === undefined ? expected.map((m) => m.machineId) : [...results.keys()])
  const doneCount = () =>
    options.expect === undefined
      ? expected.filter((m) => terminal(results.get(m.machineId))).length
      : [...results.values()].filter(terminal).length

  let rounds = 0
  while (true) {
    for await (const item of listAll(storage, keys.results(options.upgradeId))) {
      const machineId = item.key.slice(keys.results(options.upgradeId).length).replace(/\.json$/, '')
      if (terminal(results.get(machineId)) && etags.get(machineId) === item.etag && item.etag !== undefined)
        continue
      const read = await readDocument(storage, item.key, parseMachineResult).catch(() => null)
      if (read?.status !== 'ok') continue
      etags.set(machineId, read.etag)
      results.set(machineId, read.document)
      if (terminal(read.document) && !announced.has(machineId)) {
        announced.add(machineId)
        options.onResult?.(read.document)
      }
    }
    const done = doneCount()
    const values = [...results.values()]
    options.onProgress?.({
      done,
      expected: target,
      completed: values.filter((r) => r.status === 'completed').length,
      failed: values.filter((r) => r.status === 'failed').length,
      pending: values.filter((r) => r.status === 'pending').length,
    })
    if (done >= target || Date.now() >= deadline) break
    // Machines usually answer within a second: look often at first, then settle at pollMs.
    const delay = Math.min(pollMs, 100 * 2 ** Math.min(rounds++, 4))
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())))
  }

  const ids = new Set([...wanted(), ...results.keys()])
  return [...ids].sort().map((machineId): MachineOutcome => {
    const result = results.get(machineId)
    const region = result?.region ?? regions.get(machineId) ?? null
    if (result && result.status !== 'pending') {
      const degraded = result.status === 'completed' && isDegraded(result)
      return { machineId, status: result.status, result, region, degraded }
    }
    return { machineId, status: 'timed-out', result: result ?? null, region, degraded: false }
  })
}
