/**
 * The contents of a directory as a release: every regular file and directory, sorted, with
 * symbolic links that stay inside the directory followed (a link to a file is that file, a link
 * to a directory is that directory and everything in it) and links out refused. `pack`, the swap
 * engine and the runtime all read releases through this one walker, so what is packed is what a
 * machine loads. Anything that cannot become a safe release is a `ReleaseTreeError`; nothing is
 * skipped silently.
 */
import type { Stats } from 'node:fs'
import { lstat, readdir, realpath, stat } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { ReleaseTreeError } from './errors.js'
import { type EntryKind, printable, ReleasePaths, releasePathProblem } from './releasePath.js'

export interface ReleaseEntry {
  /** Relative POSIX path inside the release. */
  path: string
  kind: EntryKind
  /** Where to read it from (a path under the directory, possibly through an inner symlink). */
  source: string
  /** File size when walked (0 for directories). */
  size: number
}

export interface ReleaseTree {
  root: string
  /** Real path of the root: links must resolve inside it. */
  realRoot: string
  /** Sorted by path, so a directory always comes before what it contains. */
  entries: ReleaseEntry[]
}

export interface WalkOptions {
  /** A directory without files is refused (default true: there would be nothing to pack or load). */
  requireFiles?: boolean | undefined
  /** Paths left out, with everything under them (a skipped directory is not visited). */
  skip?: ((path: string) => boolean) | undefined
}

export async function walkRelease(dir: string, options: WalkOptions = {}): Promise<ReleaseTree> {
  const root = resolve(dir)
  let rootStats: Stats
  try {
    rootStats = await stat(root)
  } catch (error) {
    if (isCode(error, 'ENOENT'))
      throw new ReleaseTreeError(root, '', 'the directory does not exist. Build the hot code first.')
    throw error
  }
  if (!rootStats.isDirectory())
    throw new ReleaseTreeError(root, '', 'it is not a directory. Pass the hot code directory.')
  const realRoot = await realpath(root)
  const entries: ReleaseEntry[] = []
  const paths = new ReleasePaths()

  const add = (path: string, kind: EntryKind, source: string, size: number) => {
    const claim = paths.claim(path, kind)
    if ('problem' in claim)
      throw new ReleaseTreeError(root, path, `${claim.problem}; machines would refuse it. Rename it.`)
    entries.push({ path, kind, source, size })
  }

  // `ancestors` holds the real paths of the directories being visited, to stop link cycles.
  const visit = async (directory: string, realDirectory: string, prefix: string, ancestors: Set<string>) => {
    for (const name of await readdir(directory)) {
      const path = prefix === '' ? name : `${prefix}/${name}`
      if (options.skip?.(path)) continue
      const problem = releasePathProblem(path)
      if (problem !== null)
        throw new ReleaseTreeError(root, path, `${problem}; machines would refuse it. Rename it.`)
      const source = join(directory, name)
      const stats = await lstat(source)
      if (stats.isFile()) add(path, 'file', source, stats.size)
      else if (stats.isDirectory()) {
        const realChild = join(realDirectory, name)
        add(path, 'dir', source, 0)
        await visit(source, realChild, path, new Set(ancestors).add(realChild))
      } else if (stats.isSymbolicLink()) {
        const target = await resolveInnerLink(root, realRoot, path, source)
        if (target.stats.isFile()) add(path, 'file', source, target.stats.size)
        else if (target.stats.isDirectory()) {
          if (ancestors.has(target.real)) {
            throw new ReleaseTreeError(
              root,
              path,
              'is a symbolic link to a directory that contains it (a cycle). Remove the link.',
            )
          }
          add(path, 'dir', source, 0)
          await visit(source, target.real, path, new Set(ancestors).add(target.real))
        } else
          throw new ReleaseTreeError(
            root,
            path,
            `is a symbolic link to ${describe(target.stats)}. ${ONLY_FILES}`,
          )
      } else throw new ReleaseTreeError(root, path, `is ${describe(stats)}. ${ONLY_FILES}`)
    }
  }

  await visit(root, realRoot, '', new Set([realRoot]))
  if ((options.requireFiles ?? true) && !entries.some((entry) => entry.kind === 'file')) {
    throw new ReleaseTreeError(
      root,
      '',
      'the directory contains no files, so there is nothing to pack. Build the hot code first.',
    )
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { root, realRoot, entries }
}

const ONLY_FILES =
  'Only regular files and directories (or links to them inside the directory) can be in a release.'

/** A link counts as what it points at, only when that is inside the release directory. */
async function resolveInnerLink(
  root: string,
  realRoot: string,
  path: string,
  source: string,
): Promise<{ real: string; stats: Stats }> {
  let real: string
  try {
    real = await realpath(source)
  } catch (error) {
    if (isCode(error, 'ENOENT'))
      throw new ReleaseTreeError(root, path, 'is a symbolic link to a missing file. Fix or remove it.')
    if (isCode(error, 'ELOOP')) throw new ReleaseTreeError(root, path, 'is a symbolic link loop. Remove it.')
    throw error
  }
  const inside = relative(realRoot, real)
  if (inside.split(sep)[0] === '..' || isAbsolute(inside)) {
    throw new ReleaseTreeError(
      root,
      path,
      `is a symbolic link to ${printable(real)}, outside the directory; relup does not follow links out of a ` +
        'release. Copy the file into the directory (or make your build do it).',
    )
  }
  return { real, stats: await stat(real) }
}

function describe(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isSocket()) return 'a socket'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  return 'a special file'
}

export function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code
}
