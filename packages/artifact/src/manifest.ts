/**
 * Module manifests of directories on disk: every file's sha256 and size, the native addons, and
 * the Node ABI they were built for. The swap engine diffs manifests to reload only what changed.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { isNativeAddon, type ManifestFile, type ModuleManifest } from '@relup/core'
import { walkRelease } from './walk.js'

export interface ManifestOptions {
  /**
   * The Node ABI (`process.versions.modules`) the native addons were built for. Default: this
   * process's ABI when the directory has native addons, else null.
   */
  nodeAbi?: string | null | undefined
}

/**
 * Hash every file of `dir` (the same files `pack(dir)` would put in an artifact, with the same
 * rules: links out of the directory and special files are refused).
 */
export async function manifestOfDirectory(
  dir: string,
  options: ManifestOptions = {},
): Promise<ModuleManifest> {
  const { entries } = await walkRelease(dir)
  const files: Record<string, ManifestFile> = {}
  const queue = entries.filter((entry) => entry.kind === 'file')
  let next = 0
  // A few files at a time: small files are latency-bound, and the digests do not depend on order.
  const worker = async () => {
    for (let entry = queue[next++]; entry !== undefined; entry = queue[next++]) {
      files[entry.path] = await hashFile(entry.source)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  return buildManifest(files, options.nodeAbi)
}

export async function hashFile(path: string): Promise<ManifestFile> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), size }
}

/** A manifest from per-file digests: keys sorted, native addons listed, the ABI decided. */
export function buildManifest(files: Record<string, ManifestFile>, nodeAbi?: string | null): ModuleManifest {
  const paths = Object.keys(files).sort()
  const nativeAddons = paths.filter(isNativeAddon)
  return {
    files: Object.fromEntries(paths.map((path) => [path, files[path]!])),
    nativeAddons,
    nodeAbi: nodeAbi !== undefined ? nodeAbi : nativeAddons.length > 0 ? process.versions.modules : null,
  }
}
