/**
 * What `relup dev` watches itself: the `--watch` paths (cold code: a change restarts the app) and,
 * while a crashed app waits, the hot directory. One `fs.watch` per directory: a directory watch
 * sees a file replaced by a rename (how many editors save), which a watch of the file itself, or
 * Node 20's `recursive` watch on Linux, stops seeing after the first save. Nothing here keeps the
 * process alive; `close()` ends every watch.
 */
import { type FSWatcher, watch } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'

const UNWATCHED = new Set(['node_modules', '.git'])

export interface PathsWatcher {
  close(): void
}

/** Call `onChange(path)` (absolute) for any change to the files or directory trees in `paths`. */
export async function watchPaths(paths: string[], onChange: (path: string) => void): Promise<PathsWatcher> {
  const watchers = new Map<string, FSWatcher>()
  let closed = false

  const watchDir = (key: string, dir: string, accept: (name: string) => boolean, tree: boolean): void => {
    if (closed || watchers.has(key)) return
    let watcher: FSWatcher
    try {
      watcher = watch(dir, (event, name) => {
        if (name === null || !accept(String(name))) return
        const path = join(dir, String(name))
        onChange(path)
        // A directory that appears inside a watched tree is watched too.
        if (tree && event === 'rename' && !UNWATCHED.has(String(name)))
          void stat(path).then(
            (s) => (s.isDirectory() ? addTree(path) : undefined),
            () => watchers.get(`tree:${path}`)?.close(),
          )
      })
    } catch {
      return // it went away before it could be watched
    }
    watcher.unref()
    watcher.on('error', () => {
      watcher.close()
      watchers.delete(key)
    })
    watchers.set(key, watcher)
  }

  const addTree = async (dir: string): Promise<void> => {
    watchers.get(`tree:${dir}`)?.close()
    watchers.delete(`tree:${dir}`)
    watchDir(`tree:${dir}`, dir, () => true, true)
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => []))
      if (entry.isDirectory() && !UNWATCHED.has(entry.name)) await addTree(join(dir, entry.name))
  }

  for (const given of paths) {
    const path = resolve(given)
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    )
    if (isDir) await addTree(path)
    // A file (or one that does not exist yet): its directory, for that name only.
    else watchDir(`file:${path}`, dirname(path), (name) => name === basename(path), false)
  }
  return {
    close() {
      closed = true
      for (const watcher of watchers.values()) watcher.close()
      watchers.clear()
    },
  }
}
