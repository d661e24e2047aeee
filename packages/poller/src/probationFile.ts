/**
 * What survives a restart of a rollout's probation, in the state directory: `probation.json`
 * while a candidate is on probation (with the marker of the release before it), so a process
 * that died during probation is known at its next start; and `refused.json`, the upgrades this
 * machine found unhealthy, which it never applies again.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { type LocalMarker, parseLocalMarker } from '@relup/core'
import { writeStateFile } from './markerFile.js'

export interface ProbationRecord {
  upgradeId: string
  version: string
  startedAt: string
  /** What ran before the candidate: what the machine's last good release is again if it fails. */
  previous: LocalMarker | null
}

const probationPath = (stateDir: string) => join(stateDir, 'probation.json')
const refusedPath = (stateDir: string) => join(stateDir, 'refused.json')
/** Refused upgrade ids kept: the newest. */
const REFUSED_KEPT = 50

export async function writeProbation(stateDir: string, record: ProbationRecord): Promise<void> {
  await writeStateFile(stateDir, probationPath(stateDir), record)
}

/** The probation a previous process left unfinished, or null. An unreadable file is ignored. */
export async function readProbation(stateDir: string): Promise<ProbationRecord | null> {
  try {
    const raw = JSON.parse(await readFile(probationPath(stateDir), 'utf8')) as ProbationRecord
    if (typeof raw.upgradeId !== 'string' || typeof raw.version !== 'string') return null
    return {
      upgradeId: raw.upgradeId,
      version: raw.version,
      startedAt: String(raw.startedAt),
      previous: raw.previous ? parseLocalMarker(raw.previous) : null,
    }
  } catch {
    return null
  }
}

export async function clearProbation(stateDir: string): Promise<void> {
  await rm(probationPath(stateDir), { force: true })
}

export async function readRefused(stateDir: string): Promise<string[]> {
  try {
    const list = JSON.parse(await readFile(refusedPath(stateDir), 'utf8')) as unknown
    return Array.isArray(list) ? list.filter((id): id is string => typeof id === 'string') : []
  } catch {
    return []
  }
}

export async function writeRefused(stateDir: string, refused: readonly string[]): Promise<void> {
  await writeStateFile(stateDir, refusedPath(stateDir), refused.slice(-REFUSED_KEPT))
}
