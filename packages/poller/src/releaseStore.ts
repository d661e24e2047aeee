/**
 * The machine's release directories, `<stateDir>/releases/<upgradeId>`: obtained verified
 * (downloaded through sha256 into a fresh directory, or reused after a restart when the marker
 * names it and its files still match the manifest), and pruned after each upgrade.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { extractArtifact } from '@relup/artifact'
import { type HotUpgrade, type LocalMarker, manifestMismatches } from '@relup/core'
import { manifestOfDirectory } from '@relup/core/release'
import { ArtifactMissingError } from './errors.js'
import type { RuntimeContext } from './types.js'

export interface ObtainedRelease {
  dir: string
  /** Downloaded by this attempt (so a failed attempt removes it), not reused from disk. */
  fresh: boolean
}

export const releasesRoot = (ctx: RuntimeContext) => join(ctx.options.stateDir, 'releases')

export async function prepareReleases(ctx: RuntimeContext): Promise<void> {
  await mkdir(releasesRoot(ctx), { recursive: true })
}

/** The verified release directory of `upgrade`: reused when the marker on disk names it and it is intact, else downloaded. */
export async function obtainRelease(
  ctx: RuntimeContext,
  upgrade: HotUpgrade,
  diskMarker: LocalMarker | null,
): Promise<ObtainedRelease> {
  const { storage, limits } = ctx.options
  const dir = join(releasesRoot(ctx), upgrade.upgradeId)
  if (diskMarker?.upgradeId === upgrade.upgradeId && diskMarker.releaseDir === dir && (await exists(dir))) {
    const onDisk = await manifestOfDirectory(dir).catch(() => null)
    if (onDisk && manifestMismatches(upgrade.manifest, onDisk).length === 0) return { dir, fresh: false }
  }
  // Whatever is there (a crash mid-extraction, a tampered directory) is not trusted.
  await rm(dir, { recursive: true, force: true })
  const download = await storage.getStream(upgrade.artifact.key)
  if (download.status !== 'ok') throw new ArtifactMissingError(upgrade.artifact.key, upgrade.version)
  // The declared manifest is checked against the extracted files too: the archive's hash is
  // what the publisher uploaded, the manifest is what it claims (and signed).
  await extractArtifact(download.body, {
    dest: dir,
    sha256: upgrade.artifact.sha256,
    size: upgrade.artifact.size,
    limits,
    manifest: upgrade.manifest,
    name: `${upgrade.version} (${upgrade.artifact.key})`,
  })
  return { dir, fresh: true }
}

/** Remove a release a failed attempt downloaded. */
export async function discardRelease(release: ObtainedRelease): Promise<void> {
  if (release.fresh) await rm(release.dir, { recursive: true, force: true }).catch(() => {})
}

/**
 * Keep the running release and the one before it (two versions, as Erlang does), the one the
 * marker on disk names (the last good release a restart boots), and every directory the engine
 * still loads files from (a module unchanged since an older release keeps that release's
 * `__dirname`); remove the rest.
 */
export async function pruneReleases(
  ctx: RuntimeContext,
  releases: { running: LocalMarker; previous: LocalMarker | null; onDisk: LocalMarker | null },
): Promise<void> {
  const { engine, logger } = ctx.options
  let inUse: string[]
  try {
    inUse = (engine.releaseDirsInUse?.() ?? []).map((dir) => resolve(dir))
  } catch (error) {
    logger.warn({ err: error }, 'the engine could not say which releases it uses; keeping them all')
    return
  }
  const kept = [releases.running.releaseDir, releases.previous?.releaseDir, releases.onDisk?.releaseDir]
    .filter((dir) => dir !== undefined)
    .map((dir) => resolve(dir))
  const root = releasesRoot(ctx)
  for (const entry of await readdir(root).catch(() => [] as string[])) {
    const dir = resolve(root, entry)
    if (kept.includes(dir) || inUse.some((used) => used === dir || used.startsWith(dir + sep))) continue
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}
