/**
 * The module manifest of a release directory on disk: every file's sha256 and size (each file
 * streamed through the hash, never read whole, so a release with large assets costs a few
 * chunks of memory), the native addons, and the Node ABI they were built for.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { isNativeAddon, type ManifestFile, type ModuleManifest } from './manifest.js'
import { type ReleaseTree, walkRelease } from './releaseTree.js'

export interface ManifestOptions {
  /**
   * The Node ABI (`process.versions.modules`) the native addons were built for. Default: this
   * process's ABI when the directory has native addons, else null.
   */
  nodeAbi?: string | null | undefined
}

/** How many files are hashed at once: small files are latency-bound, and digests do not depend on order. */
const PARALLEL_HASHES = 8
/** Each hashing worker reads into one buffer of this size, reused for every chunk of every file. */
const READ_BUFFER_BYTES = 256 * 1024

/**
 * Hash every file of `dir` (the files `pack(dir)` puts in an artifact and the engine loads,
 * walked by `walkRelease`). Pass a tree already walked to avoid walking it twice.
 */
export async function manifestOfDirectory(
  dir: string | ReleaseTree,
  options: ManifestOptions = {},
): Promise<ModuleManifest> {
  const { entries } = typeof dir === 'string' ? await walkRelease(dir) : dir
  const files: Record<string, ManifestFile> = {}
  const queue = entries.filter((entry) => entry.kind === 'file')
  let next = 0
  const worker = async () => {
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
    for (let entry = queue[next++]; entry !== undefined; entry = queue[next++]) {
      files[entry.path] = await hashFile(entry.source, buffer)
    }
  }
  await Promise.all(Array.from({ length: PARALLEL_HASHES }, worker))
  return buildManifest(files, options.nodeAbi)
}

/**
 * sha256 and size of one file, read chunk by chunk into `buffer` (reused: a stream would allocate
 * a new chunk each time, and a large release would pile up tens of MB of garbage before V8
 * collects it).
 */
export async function hashFile(
  path: string,
  buffer: Buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES),
): Promise<ManifestFile> {
  const hash = createHash('sha256')
  let size = 0
  const handle = await open(path, 'r')
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      size += bytesRead
    }
  } finally {
    await handle.close()
  }
  return { sha256: hash.digest('hex'), size }
}

/** sha256 of bytes in memory (a module's source that was just read), lowercase hex. */
export function sha256Of(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex')
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
