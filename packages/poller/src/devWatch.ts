/**
 * Watching a directory tree for development mode: one `fs.watch` per directory. A directory
 * watch sees every way an editor saves (in place, or a temporary file renamed over the old one),
 * where Node 20's `recursive` watch on Linux loses a file once it was replaced by a rename. New
 * subdirectories are watched as they appear. Nothing here keeps the process alive.
 */
import { type FSWatcher, watch } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { basename, join, relative, sep } from 'node:path'

/** Directories nobody edits by hand, and that hold many: not watched (still part of a snapshot). */
const UNWATCHED = new Set(['node_modules', '.git'])

export interface TreeWatcher {
  close(): void
  /** True once the watched directory is no longer the one being watched (removed, or made anew). */
  replaced(): Promise<boolean>
}

/** Call `onChange` with the path (relative to `root`) of whatever changes under it. */
export async function watchTree(
  root: string,
  onChange: (path: string | null, event: 'rename' | 'change') => void,
): Promise<TreeWatcher> {
  const watchers = new Map<string, FSWatcher>()
  let closed = false
  const close = () => {
    closed = true
    for (const watcher of watchers.values()) watcher.close()
    watchers.clear()
  }

  /** Stop watching `dir` and everything under it (it was removed, or is being watched anew). */
  const drop = (dir: string) => {
    for (const [path, watcher] of watchers)
      if (path === dir || path.startsWith(dir + sep)) {
        watcher.close()
        watchers.delete(path)
      }
  }

  const add = async (dir: string): Promise<void> => {
    if (closed || watchers.has(dir)) return
    let watcher: FSWatcher
    try {
      watcher = watch(dir, (event, name) => {
        if (name === null) return onChange(null, 'rename')
        const path = join(dir, String(name))
        onChange(relative(root, path), event)
        if (event !== 'rename' || path === root) return
        // A directory created or renamed into place is watched anew, with what it holds.
        void stat(path).then(
          (s) => {
            if (!s.isDirectory() || UNWATCHED.has(basename(path))) return
            drop(path)
            return add(path).then(() => onChange(relative(root, path), 'rename'))
          },
          () => drop(path),
        )
      })
    } catch (error) {
      if (dir === root) throw error
      return // gone before it could be watched
    }
    watcher.unref()
    watcher.on('error', () => drop(dir))
    watchers.set(dir, watcher)
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const entry of entries)
      if (entry.isDirectory() && !UNWATCHED.has(entry.name)) await add(join(dir, entry.name))
  }

  await add(root)
  const { ino } = await stat(root)
  return {
    close,
    // The directory was removed (and maybe made again, as a clean rebuild does): its watch is dead.
    replaced: () =>
      stat(root).then(
        (s) => s.ino !== ino || !s.isDirectory(),
        () => true,
      ),
  }
}
