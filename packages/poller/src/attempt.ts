/**
 * One attempt to apply a hot upgrade: verify the signature, obtain the verified release (reporting
 * `pending` if that takes a while), hand it to the engine, write the local marker. The outcome says
 * what came of it and, for a failure, in which phase; the runtime records it and reports the
 * terminal result.
 */
import { verifyHotUpgrade } from '@relup/artifact'
import {
  type HotUpgrade,
  isRelupError,
  type LocalMarker,
  type ResultError,
  type UpgradeStats,
} from '@relup/core'
import { writeMarker } from './markerFile.js'
import { discardRelease, type ObtainedRelease, obtainRelease } from './releaseStore.js'
import type { Reporter } from './reporter.js'
import type { RuntimeContext } from './types.js'

/**
 * Where an attempt can fail: `report` is the `pending` result, written when `verify` and
 * `download` outlast `pendingAfter` and awaited before `swap`. Once the engine swapped the
 * code in, the attempt cannot fail any more: a marker that cannot be written only costs a download
 * after a restart.
 */
export type AttemptPhase = 'report' | 'verify' | 'download' | 'swap'

export interface AttemptInput {
  upgrade: HotUpgrade
  /** 1 for the first attempt of this upgrade. */
  attempt: number
  /** What runs now: a failed attempt never removes its release directory. */
  running: LocalMarker | null
  /** The marker on disk: its release is reused when still intact. */
  diskMarker: LocalMarker | null
  reporter: Reporter
  /** Going back from an unhealthy candidate: the engine migrates units with their `downgrade`. */
  revert?: boolean | undefined
}

export interface AttemptSucceeded {
  ok: true
  startedAt: string
  /** The marker of what now runs; `markerWritten` says whether it reached the disk. */
  marker: LocalMarker
  markerWritten: boolean
  /** The engine's stats as they are, with the whole apply's `totalMs` and the `downloadMs`. */
  stats: UpgradeStats
}

export interface AttemptFailed {
  ok: false
  startedAt: string
  phase: AttemptPhase
  error: Error
  /** What the result says: the error's code and message, and the engine's own phase when it has one. */
  reported: ResultError
}

export type AttemptOutcome = AttemptSucceeded | AttemptFailed

export async function attemptUpgrade(ctx: RuntimeContext, input: AttemptInput): Promise<AttemptOutcome> {
  const { options, baseRef, baseDigest } = ctx
  const { upgrade, attempt, reporter } = input
  const started = performance.now()
  const startedAt = new Date().toISOString()
  let phase: AttemptPhase = 'report'
  let release: ObtainedRelease | null = null
  // A slow download is acknowledged while it runs; the acknowledgement has landed before the swap,
  // and before any later result of this attempt.
  // A quick one writes only its terminal result: one write per machine and upgrade, not two, when
  // a whole fleet upgrades at once (a publisher grants 15 s to acknowledge by default).
  const ack: { pending: Promise<void> | null } = { pending: null }
  const acknowledge = () => {
    ack.pending = reporter.result(upgrade.upgradeId, {
      version: upgrade.version,
      status: 'pending',
      attempt,
      startedAt,
      finishedAt: null,
      stats: null,
      error: null,
    })
    ack.pending.catch(() => {}) // awaited below, on every path
  }
  const ackTimer = options.pendingAfter === 0 ? undefined : setTimeout(acknowledge, options.pendingAfter)
  if (ackTimer) ackTimer.unref()
  else acknowledge()
  try {
    phase = 'verify'
    if (options.trustedKeys.length > 0) verifyHotUpgrade(upgrade, options.trustedKeys)
    phase = 'download'
    const downloadStarted = performance.now()
    release = await obtainRelease(ctx, upgrade, input.diskMarker)
    const downloadMs = performance.now() - downloadStarted
    phase = 'report'
    clearTimeout(ackTimer)
    await ack.pending
    phase = 'swap'
    const engineStats = await options.engine.upgrade(release.dir, {
      manifest: upgrade.manifest,
      version: upgrade.version,
      suspendTimeout: options.suspendTimeout,
      // Extraction (or the reuse check) has just compared every file with the manifest.
      verified: true,
      ...(input.revert ? { revert: true } : {}),
    })
    const marker: LocalMarker = {
      schema: 1,
      app: options.app,
      baseRef,
      upgradeId: upgrade.upgradeId,
      version: upgrade.version,
      sourceRef: upgrade.sourceRef,
      artifactSha256: upgrade.artifact.sha256,
      releaseDir: release.dir,
      appliedAt: new Date().toISOString(),
      // What a restart boots when the pointer's upgrade cannot be applied (lastGood.ts).
      upgrade,
      baseDigest,
    }
    const markerWritten = await writeMarker(options.stateDir, marker).then(
      () => true,
      (error: unknown) => {
        options.logger.error({ err: error }, 'could not write the local marker')
        return false
      },
    )
    const stats: UpgradeStats = { ...engineStats, totalMs: performance.now() - started, downloadMs }
    return { ok: true, startedAt, marker, markerWritten, stats }
  } catch (caught) {
    clearTimeout(ackTimer)
    await ack.pending?.catch(() => {})
    const error = caught instanceof Error ? caught : new Error(String(caught))
    if (release && release.dir !== input.running?.releaseDir) await discardRelease(release)
    const enginePhase = (error as { phase?: unknown }).phase
    const reported: ResultError = {
      code: isRelupError(error) ? error.code : 'ERR_RELUP_UPGRADE_FAILED',
      message: error.message,
      phase: typeof enginePhase === 'string' ? enginePhase : phase,
    }
    return { ok: false, startedAt, phase, error, reported }
  }
}
