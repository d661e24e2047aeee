/**
 * The cold entry: the files of an app outside its hot directory (the server, the pools, their
 * modules), which a hot upgrade never changes. When the publisher knows the app's directory
 * (`--cold-dir`), it compares them with the cold release the machines booted from (the release
 * `cold.json` names, read from its artifact): a change there cannot go hot, it is a cold
 * release. `node_modules` is left out: the versions the hot code resolves are the dependency
 * check's business (see publishPlan.ts).
 */
import { isAbsolute, relative, sep } from 'node:path'
import { artifactFiles } from '@relup/artifact'
import {
  type ColdRelease,
  coldBaseRef,
  coldKey,
  diffManifests,
  parseColdPointer,
  readDocument,
  relupKeys,
  type Storage,
} from '@relup/core'
import { buildManifest, manifestOfDirectory, walkRelease } from '@relup/core/release'

export type ColdEntryComparison =
  /** The machines' cold entry differs: these files were added, changed or removed (sorted). */
  | { status: 'changed'; release: ColdRelease; files: string[] }
  | { status: 'unchanged'; release: ColdRelease }
  /** There is nothing known to compare with; `why` says so, for the operator. */
  | { status: 'not-compared'; why: string }

export interface CompareColdEntryOptions {
  storage: Storage
  app: string
  prefix?: string | undefined
  /** The whole app, as `publishCold` would pack it. */
  coldDir: string
  /** The hot directory: left out of the cold entry when it is inside `coldDir`. */
  hotDir: string
  /** The base the hot upgrade is for (the pointer's, or `--base-ref`). */
  baseRef: string | undefined
}

/** Which paths of `coldDir` are its cold entry: not under node_modules, not in the hot directory. */
export function coldEntryFilter(coldDir: string, hotDir: string): (path: string) => boolean {
  const inside = relative(coldDir, hotDir).split(sep).join('/')
  const hot = inside === '' || inside.startsWith('..') || isAbsolute(inside) ? null : inside
  return (path) =>
    !path.split('/').includes('node_modules') &&
    (hot === null || (path !== hot && !path.startsWith(`${hot}/`)))
}

export async function compareColdEntry(options: CompareColdEntryOptions): Promise<ColdEntryComparison> {
  const { storage, app, coldDir } = options
  const keys = relupKeys(app, { prefix: options.prefix })
  const read = await readDocument(storage, coldKey(keys), parseColdPointer)
  const release = read.status === 'ok' ? read.document.release : null
  if (!release)
    return {
      status: 'not-compared',
      why:
        `no cold release of ${app} is in storage, so the machines run the cold entry they were started with: ` +
        `${coldDir} is not compared with it (a first relup publish --cold gives the publisher one to compare with)`,
    }
  if (options.baseRef !== coldBaseRef(release.releaseId))
    return {
      status: 'not-compared',
      why:
        `the hot upgrade is for base ${options.baseRef ?? '(none)'}, not ${coldBaseRef(release.releaseId)} ` +
        `(cold release ${release.version}): those machines did not boot from it, so ${coldDir} is not compared`,
    }
  const include = coldEntryFilter(coldDir, options.hotDir)
  const download = await storage.getStream(release.artifact.key)
  if (download.status !== 'ok')
    return {
      status: 'not-compared',
      why: `the artifact of cold release ${release.version} (${release.artifact.key}) is not in storage, so ${coldDir} is not compared with it`,
    }
  const live = await artifactFiles(download.body, { include, maxBytes: release.artifact.size })
  if (live.sha256 !== release.artifact.sha256 || live.size !== release.artifact.size)
    return {
      status: 'not-compared',
      why: `the artifact of cold release ${release.version} (${release.artifact.key}) is not the one cold.json names (sha256 ${live.sha256.slice(0, 12)}…, expected ${release.artifact.sha256.slice(0, 12)}…), so ${coldDir} is not compared with it`,
    }
  // Only the cold entry is walked: node_modules and the hot directory are never visited.
  const tree = await walkRelease(coldDir, { requireFiles: false, skip: (path) => !include(path) })
  const local = await manifestOfDirectory(tree, { nodeAbi: null })
  const diff = diffManifests(buildManifest(live.files, null), local)
  const files = [...diff.added, ...diff.changed, ...diff.removed].sort()
  return files.length === 0 ? { status: 'unchanged', release } : { status: 'changed', release, files }
}

/** "the cold entry changed: server.js, lib/db.js (against cold release 1.2.0)" */
export function describeColdEntryChange(change: { release: ColdRelease; files: string[] }): string {
  const shown = change.files.slice(0, 10).join(', ')
  const more = change.files.length > 10 ? ` and ${change.files.length - 10} more` : ''
  return `the cold entry changed: ${shown}${more} (against cold release ${change.release.version}, which the machines run): a hot upgrade never replaces it`
}
