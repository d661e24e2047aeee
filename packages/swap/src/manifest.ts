/**
 * Reading a release directory: every file is hashed once, and the bytes that were hashed are the
 * bytes the evaluator runs, so what was verified is exactly what gets evaluated.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { isNativeAddon, type ModuleManifest } from '@relup/core'

export interface ReleaseFiles {
  manifest: ModuleManifest
  /** File contents by release-relative POSIX path. */
  contents: Map<string, Buffer>
}

export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')

const toPosix = (path: string) => (sep === '/' ? path : path.split(sep).join('/'))

/** Hash every file of a release directory into a `ModuleManifest`, keeping the bytes that were hashed. */
export async function readReleaseFiles(releaseDir: string): Promise<ReleaseFiles> {
  const entries = await readdir(releaseDir, { recursive: true, withFileTypes: true })
  const candidates = entries.filter((entry) => entry.isFile() || entry.isSymbolicLink())
  const isFile = await Promise.all(
    // A link counts as the file it points to, as when the release was packed.
    candidates.map((entry) =>
      entry.isFile()
        ? true
        : stat(join(entry.parentPath, entry.name)).then(
            (s) => s.isFile(),
            () => false,
          ),
    ),
  )
  const paths = candidates
    .filter((_, index) => isFile[index])
    .map((entry) => toPosix(relative(releaseDir, join(entry.parentPath, entry.name))))
    .sort()
  const contents = new Map<string, Buffer>()
  const files: ModuleManifest['files'] = {}
  await Promise.all(
    paths.map(async (path) => {
      const bytes = await readFile(join(releaseDir, path))
      contents.set(path, bytes)
    }),
  )
  for (const path of paths) {
    const bytes = contents.get(path)!
    files[path] = { sha256: sha256(bytes), size: bytes.length }
  }
  const nativeAddons = paths.filter(isNativeAddon)
  // A release without addons runs on any ABI; one with addons was built for this process's ABI.
  const nodeAbi = nativeAddons.length > 0 ? process.versions.modules : null
  return { manifest: { files, nativeAddons, nodeAbi }, contents }
}

/** Compute the `ModuleManifest` of a release directory the way the engine does (sha256 per file). */
export async function computeManifest(releaseDir: string): Promise<ModuleManifest> {
  return (await readReleaseFiles(releaseDir)).manifest
}

/** Differences between the manifest a release was published with and the files on disk. */
export function manifestMismatches(expected: ModuleManifest, actual: ModuleManifest): string[] {
  const problems: string[] = []
  for (const [path, file] of Object.entries(expected.files)) {
    const found = actual.files[path]
    if (!found) problems.push(`${path} is missing`)
    else if (found.sha256 !== file.sha256 || found.size !== file.size) {
      problems.push(`${path} has sha256 ${found.sha256.slice(0, 12)}…, expected ${file.sha256.slice(0, 12)}…`)
    }
  }
  for (const path of Object.keys(actual.files)) {
    if (!(path in expected.files)) problems.push(`${path} is not in the manifest`)
  }
  return problems
}
