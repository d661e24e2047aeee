/**
 * The machine's last good release, OTP's permanent release: the hot upgrade it last ran
 * successfully, as its local marker records it, with that release's verified directory on disk.
 * A restart boots it when the pointer's upgrade cannot be applied (the upgrade fails, storage is
 * unreachable, the pointer is unreadable), so a machine never falls back to base code while a
 * good hot release exists. Everything it needs is local.
 */
import { join, resolve } from 'node:path'
import { verifyHotUpgrade } from '@relup/artifact'
import {
  type EngineStats,
  type HotUpgrade,
  type LocalMarker,
  manifestMismatches,
  summarizeMismatches,
} from '@relup/core'
import { manifestOfDirectory } from '@relup/core/release'
import { releasesRoot } from './releaseStore.js'
import type { RuntimeContext } from './types.js'

/** A marker that names a whole hot upgrade: what a restart can boot. */
export type LastGood = LocalMarker & { upgrade: HotUpgrade }

export type LastGoodCheck =
  | { status: 'none' }
  | { status: 'usable'; release: LastGood }
  /** A marker this process must not boot; `reason` says why, for one log line. */
  | { status: 'ignored'; reason: string }

/** Whether the marker on disk is a last good release for this very base. */
export function checkLastGood(ctx: RuntimeContext, marker: LocalMarker | null): LastGoodCheck {
  if (marker === null) return { status: 'none' }
  const { version } = marker
  if (marker.app !== ctx.options.app || marker.baseRef !== ctx.baseRef)
    return {
      status: 'ignored',
      reason: `the local marker's ${version} was applied on base ${marker.baseRef}`,
    }
  if ((marker.baseDigest ?? null) !== ctx.baseDigest)
    return {
      status: 'ignored',
      reason: `the local marker's ${version} was applied on another build of base ${marker.baseRef} (base digest ${marker.baseDigest ?? 'unknown'}, this process ${ctx.baseDigest ?? 'unknown'})`,
    }
  if (marker.upgrade === undefined || marker.upgrade.upgradeId !== marker.upgradeId)
    return {
      status: 'ignored',
      reason: `the local marker's ${version} was written by an older relup and does not record the whole upgrade`,
    }
  return { status: 'usable', release: marker as LastGood }
}

/**
 * Boot the last good release: its signature (when keys are trusted) and its files are checked
 * against the upgrade it records, then the engine swaps it in. Throws when it cannot.
 */
export async function bootLastGood(ctx: RuntimeContext, release: LastGood): Promise<EngineStats> {
  const { engine, trustedKeys, suspendTimeout } = ctx.options
  const { upgrade } = release
  if (trustedKeys.length > 0) verifyHotUpgrade(upgrade, trustedKeys)
  const dir = join(releasesRoot(ctx), upgrade.upgradeId)
  if (resolve(release.releaseDir) !== resolve(dir))
    throw new Error(
      `the local marker names ${release.releaseDir}, not this machine's release directory ${dir}`,
    )
  const onDisk = await manifestOfDirectory(dir)
  const problems = manifestMismatches(upgrade.manifest, onDisk)
  if (problems.length > 0)
    throw new Error(
      `${dir} no longer matches the manifest of ${upgrade.version}: ${summarizeMismatches(problems)}`,
    )
  return engine.upgrade(dir, {
    manifest: upgrade.manifest,
    version: upgrade.version,
    suspendTimeout,
    verified: true,
  })
}
