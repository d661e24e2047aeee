/**
 * Snapshots of the hot directory for development mode. The engine forbids changing a release
 * directory once it is loaded, and the hot directory is exactly what the developer edits, so
 * every reload loads a copy: the directory walked with the release rules (`walkRelease`, as
 * `pack` and the engine walk it), each file hashed as it is copied (the manifest describes the
 * bytes that were written, even when a save lands mid-copy). A file whose inode, size, mtime and
 * ctime match the snapshot before is hard-linked from it with its known hash instead: snapshots
 * are never written after they are made, so sharing their inodes is safe.
 */
import { linkSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import type { ManifestFile, ModuleManifest } from '@relup/core'
import { buildManifest, type ReleaseEntry, sha256Of, walkRelease } from '@relup/core/release'

/** What a snapshot knows of one file, so that the next snapshot can reuse it. */
interface SnapshotFile extends ManifestFile {
  /** inode, size, mtime and ctime of the source when it was copied (nanoseconds). */
  signature: string
  /** Where the copy is. */
  copy: string
}

export interface Snapshot {
  dir: string
  manifest: ModuleManifest
  /** The hot directory as walked for this snapshot: reused while nothing was added, removed or renamed. */
  readonly entries: readonly ReleaseEntry[]
  readonly files: ReadonlyMap<string, SnapshotFile>
  /** Files copied (the others were hard-linked from the snapshot before). */
  copied: number
}

/** Files handled between two turns of the event loop (the app keeps serving while a big tree is copied). */
const BATCH = 256

/**
 * Copy `source` into the new directory `dir` (which must not exist), reusing the unchanged files
 * of `previous`. `rewalk: false` (no file was added, removed or renamed since `previous`) reuses
 * its walk. Throws what the walker throws for a directory that cannot be a release.
 *
 * The files are checked and copied with synchronous calls, in batches: a stat costs microseconds
 * that way, where each asynchronous one waits its turn in libuv's pool (~0.1 ms here), and a
 * reload stats every file.
 */
export async function takeSnapshot(
  source: string,
  dir: string,
  previous: Snapshot | null,
  options: { rewalk: boolean } = { rewalk: true },
): Promise<Snapshot> {
  const entries =
    previous && !options.rewalk
      ? previous.entries
      : (await walkRelease(source, { requireFiles: false })).entries
  await mkdir(dir, { recursive: true })
  for (const entry of entries) if (entry.kind === 'dir') mkdirSync(join(dir, entry.path))
  const files = new Map<string, SnapshotFile>()
  let copied = 0
  let handled = 0
  for (const entry of entries) {
    if (entry.kind !== 'file') continue
    if (++handled % BATCH === 0) await new Promise((resolve) => setImmediate(resolve))
    const copy = join(dir, entry.path)
    const s = statSync(entry.source, { bigint: true })
    const signature = `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`
    const before = previous?.files.get(entry.path)
    if (before?.signature === signature && linked(before.copy, copy)) {
      files.set(entry.path, { ...before, copy })
      continue
    }
    const bytes = readFileSync(entry.source)
    writeFileSync(copy, bytes, { flag: 'wx' })
    files.set(entry.path, { sha256: sha256Of(bytes), size: bytes.length, signature, copy })
    copied++
  }
  const manifest = buildManifest(
    Object.fromEntries([...files].map(([path, { sha256, size }]) => [path, { sha256, size }])),
  )
  return { dir, manifest, entries, files, copied }
}

/** Hard-link a file of an earlier snapshot (false when that snapshot is gone: copy it then). */
function linked(from: string, to: string): boolean {
  try {
    linkSync(from, to)
    return true
  } catch {
    return false
  }
}

/** The same files with the same contents. */
export function sameFiles(a: ModuleManifest, b: ModuleManifest): boolean {
  const paths = Object.keys(a.files)
  if (paths.length !== Object.keys(b.files).length) return false
  return paths.every((path) => {
    const other = b.files[path]
    return other !== undefined && other.sha256 === a.files[path]!.sha256
  })
}

/** Remove every snapshot under `root` except those named in `keep` (or containing a kept path). */
export async function pruneSnapshots(root: string, keep: readonly string[]): Promise<void> {
  const kept = keep.map((dir) => resolve(dir))
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const dir = resolve(root, name)
    if (kept.some((used) => used === dir || used.startsWith(dir + sep))) continue
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  }
}
