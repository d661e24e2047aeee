/**
 * Listing walks the folder's directory depth first, in key order, and stops as soon as the
 * page is full. Sorting a directory's entries by `segment` for objects and `segment + "/"` for
 * folders makes the depth-first order the same as sorting the full keys as JS strings; a
 * folder whose keys all sort before the cursor is skipped without being read.
 */
import type { Dirent } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { ListItem } from '@relup/core'
import { decodeSegment, isStorableKey, OBJECT_SUFFIX, RESERVED_PREFIX } from './keyPath.js'
import { CorruptObjectError, openObject } from './objectFile.js'

/** Headers read at once while listing (libuv runs four file operations in parallel by default). */
const PARALLEL_READS = 16

interface Entry {
  /** A full key for an object; the folder's key prefix, ending in "/", for a directory. */
  sortKey: string
  path: string
  isFolder: boolean
}

const byKey = (a: Entry, b: Entry) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0)

async function entriesOf(path: string, keyPrefix: string, isRoot: boolean): Promise<Entry[]> {
  let dirents: Dirent[]
  try {
    dirents = await readdir(path, { withFileTypes: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // A folder that does not exist (or was just emptied and pruned) holds no keys.
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw error
  }
  const entries: Entry[] = []
  for (const dirent of dirents) {
    if (isRoot && dirent.name.startsWith(RESERVED_PREFIX)) continue
    // Links and other kinds of entries are never written by relup, so they are never objects.
    if (dirent.isDirectory()) {
      const segment = decodeSegment(dirent.name)
      if (segment !== undefined)
        entries.push({ sortKey: `${keyPrefix}${segment}/`, path: join(path, dirent.name), isFolder: true })
    } else if (dirent.isFile() && dirent.name.endsWith(OBJECT_SUFFIX)) {
      const segment = decodeSegment(dirent.name.slice(0, -OBJECT_SUFFIX.length))
      if (segment !== undefined)
        entries.push({ sortKey: `${keyPrefix}${segment}`, path: join(path, dirent.name), isFolder: false })
    }
  }
  return entries.sort(byKey)
}

async function itemOf(entry: Entry): Promise<ListItem | undefined> {
  if (!isStorableKey(entry.sortKey)) return undefined
  try {
    const object = await openObject(entry.path)
    if (!object) return undefined // deleted since the directory was read
    await object.handle.close()
    return { key: entry.sortKey, size: object.size, etag: object.etag }
  } catch (error) {
    // A stray file that happens to end in ".relup" is not an object; `get` reports it.
    if (error instanceof CorruptObjectError) return undefined
    throw error
  }
}

/**
 * Up to `count` objects under the directory `path` (the folder `keyPrefix`), in key order,
 * with keys greater than `after`. Reads each object's 128-byte header, never its content.
 */
export async function listObjects(
  path: string,
  keyPrefix: string,
  options: { after: string | undefined; count: number },
): Promise<ListItem[]> {
  const { after, count } = options
  const items: ListItem[] = []
  const walk = async (dirPath: string, prefix: string, isRoot: boolean): Promise<void> => {
    const entries = await entriesOf(dirPath, prefix, isRoot)
    let index = 0
    while (index < entries.length && items.length < count) {
      const entry = entries[index]!
      if (entry.isFolder) {
        index++
        // Every key in this folder sorts before the cursor unless the cursor is inside it.
        if (after !== undefined && entry.sortKey < after && !after.startsWith(entry.sortKey)) continue
        await walk(entry.path, entry.sortKey, false)
        continue
      }
      // A run of objects: their headers are read a few at a time, and kept in order.
      const run: Entry[] = []
      for (
        ;
        index < entries.length && !entries[index]!.isFolder && run.length < count - items.length;
        index++
      ) {
        if (after === undefined || entries[index]!.sortKey > after) run.push(entries[index]!)
      }
      for (let start = 0; start < run.length; start += PARALLEL_READS) {
        const read = await Promise.all(run.slice(start, start + PARALLEL_READS).map(itemOf))
        for (const item of read) if (item) items.push(item)
      }
    }
  }
  await walk(path, keyPrefix, keyPrefix === '')
  return items
}
