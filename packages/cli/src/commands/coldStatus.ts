/**
 * The cold side of `relup status`: the cold release `cold.json` names (version, id, published
 * when and by whom, signed or not), its machines' results, and per machine the cold release it
 * runs, which its record says through its base (`cold-<releaseId>`, what the supervisor starts
 * a release's process with).
 */
import {
  type ColdPointer,
  type ColdRelease,
  coldKey,
  DocumentError,
  formatRolloutPlan,
  type MachineRecord,
  type MachineResult,
  parseColdPointer,
  readDocument,
  relupKeys,
  type Storage,
} from '@relup/core'
import { coldResults } from '@relup/publisher'
import { ago, type Output, table } from '../output.js'

export interface ColdStatus {
  /** Null when nothing was ever published cold (or when it is corrupt). */
  pointer: ColdPointer | null
  /** Why `cold.json` cannot be read. */
  problem: string | null
  /** The results of the current cold release, by machine id. */
  results: MachineResult[]
  /** Machines whose record says they run a cold release, and which. */
  machines: { machineId: string; releaseId: string; version: string | null; current: boolean }[]
}

const COLD_BASE = /^cold-(.+)$/

export async function readColdStatus(
  storage: Storage,
  app: string,
  prefix: string | undefined,
  records: readonly MachineRecord[],
): Promise<ColdStatus> {
  const keys = relupKeys(app, { prefix })
  let pointer: ColdPointer | null = null
  let problem: string | null = null
  try {
    const read = await readDocument(storage, coldKey(keys), parseColdPointer)
    if (read.status === 'ok') pointer = read.document
  } catch (error) {
    if (!(error instanceof DocumentError)) throw error
    problem = `${error.message}; publish a cold release again (relup publish --cold) to replace it`
  }
  const release = pointer?.release ?? null
  const known = new Map<string, ColdRelease>(
    [release, pointer?.candidate?.release ?? null, ...(pointer?.previous ?? [])]
      .filter((r) => r !== null)
      .map((r) => [r.releaseId, r]),
  )
  const results = release ? await coldResults(storage, keys, release.releaseId) : []
  const machines = records.flatMap((record) => {
    const releaseId = COLD_BASE.exec(record.baseRef)?.[1]
    if (releaseId === undefined) return []
    return [
      {
        machineId: record.machineId,
        releaseId,
        version: known.get(releaseId)?.version ?? null,
        current: releaseId === release?.releaseId,
      },
    ]
  })
  return {
    pointer,
    problem,
    results: results.sort((a, b) => a.machineId.localeCompare(b.machineId)),
    machines,
  }
}

/** What makes status exit 1 on the cold side. */
export function coldProblems(cold: ColdStatus): string[] {
  const problems: string[] = []
  if (cold.problem) problems.push('the cold pointer is corrupt')
  const failed = cold.results.filter((r) => r.status === 'failed').length
  if (failed > 0) problems.push(`${failed} machine(s) failed the cold release`)
  return problems
}

/** The `cold` line under the hot pointer, and every machine's cold release and result. */
export function printColdStatus(out: Output, cold: ColdStatus, machineIds: readonly string[]): void {
  if (cold.problem) {
    out.line(`cold     CORRUPT: ${cold.problem}`)
    return
  }
  const release = cold.pointer?.release
  if (release)
    out.line(
      `cold     ${release.version} · release ${release.releaseId} · published ${release.publishedAt} (${ago(release.publishedAt)})` +
        `${release.publishedBy ? ` by ${release.publishedBy}` : ''}${release.signature ? ' · signed' : ''}` +
        `${release.reason ? ` · ${release.reason}` : ''}`,
    )
  const candidate = cold.pointer?.candidate
  if (candidate) {
    const { rollout } = candidate
    out.line(
      `cold rollout ${candidate.release.version} · release ${candidate.release.releaseId} · wave ${rollout.wave + 1}/${rollout.plan.length} of ${formatRolloutPlan(rollout.plan)} · ${rollout.state} · health window ${rollout.healthWindowMs / 1000} s (see relup rollout status --cold)`,
    )
  }
  if (!release) return
  const running = new Map(cold.machines.map((m) => [m.machineId, m]))
  const ids = [...new Set([...machineIds, ...cold.results.map((r) => r.machineId)])].sort()
  if (ids.length === 0) return
  out.line()
  out.line(
    table(
      ['COLD MACHINE', 'RUNS', 'RESULT'],
      ids.map((id) => {
        const runs = running.get(id)
        const result = cold.results.find((r) => r.machineId === id)
        return [
          id,
          runs ? `${runs.version ?? 'unknown release'} (${runs.releaseId})` : 'no cold release',
          result
            ? `${result.status} ${release.version}${result.error ? `: ${result.error.message}` : ''}`
            : '-',
        ]
      }),
    ),
  )
}
