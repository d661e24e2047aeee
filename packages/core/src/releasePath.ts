/**
 * What a path inside a release may look like, and which paths may coexist. The packer, the
 * extractor and the swap engine share these rules, so the publisher refuses to pack what every
 * machine would refuse to extract or load.
 */

export type EntryKind = 'file' | 'dir'

// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/
const DRIVE_LETTER = /^[A-Za-z]:/
/** Characters some filesystems (HFS+) ignore in names, so `a\u200db` and `ab` are the same file there. */
// biome-ignore lint/suspicious/noMisleadingCharacterClass: each listed character is matched on its own, on purpose
const IGNORABLE = /[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]/g
const MAX_PATH_BYTES = 4096
const MAX_NAME_BYTES = 255

/**
 * Why `path` cannot name a file or directory of a release, or null when it can. A release path is
 * relative, `/`-separated, and made of plain names: no `.`/`..`/empty segments, no NUL or control
 * characters, no backslashes or drive letters (which Windows tools read as separators and roots).
 */
export function releasePathProblem(path: string): string | null {
  if (path === '') return 'has an empty path'
  if (path.includes('\0')) return 'contains a NUL byte'
  if (CONTROL_CHARACTER.test(path)) return 'contains a control character'
  if (path.includes('\\')) return 'contains a backslash (a Windows path separator)'
  if (path.startsWith('/')) return 'is an absolute path'
  if (DRIVE_LETTER.test(path)) return 'starts with a Windows drive letter'
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`
  for (const segment of path.split('/')) {
    if (segment === '..') return 'has a ".." segment (it would point outside the release)'
    if (segment === '.') return 'has a "." segment'
    if (segment === '') return 'has an empty segment ("//" or a trailing "/")'
    if (Buffer.byteLength(segment) > MAX_NAME_BYTES) return `has a name longer than ${MAX_NAME_BYTES} bytes`
  }
  return null
}

/**
 * The identity of a path on the most forgiving filesystem a release may land on: case-insensitive,
 * unicode-normalizing, ignoring invisible characters (macOS). Two paths with the same key would be
 * one file there.
 */
function collisionKey(path: string): string {
  return path.replace(IGNORABLE, '').normalize('NFKC').toLowerCase().normalize('NFKC')
}

export interface Claim {
  /** Parent directories not seen yet, outermost first: create them before the entry. */
  parents: string[]
  /** The entry is a directory that already exists (a repeated directory entry): nothing to create. */
  exists: boolean
}

/**
 * The set of paths a release holds so far. `claim` refuses a path that repeats an earlier one,
 * collides with one on case-insensitive or unicode-normalizing filesystems, or goes through a file.
 */
export class ReleasePaths {
  readonly #claimed = new Map<string, { path: string; kind: EntryKind }>()

  /** Returns the claim, or why the path cannot join the release. `path` must pass `releasePathProblem`. */
  claim(path: string, kind: EntryKind): Claim | { problem: string } {
    const segments = path.split('/')
    const parents: string[] = []
    for (let depth = 1; depth < segments.length; depth++) {
      const parent = segments.slice(0, depth).join('/')
      const existing = this.#claimed.get(collisionKey(parent))
      if (existing === undefined) parents.push(parent)
      else if (existing.kind === 'file')
        return { problem: `goes through ${printable(existing.path)}, which is a file` }
      else if (existing.path !== parent) return { problem: collides(existing.path) }
    }
    const existing = this.#claimed.get(collisionKey(path))
    if (existing !== undefined) {
      if (existing.path !== path) return { problem: collides(existing.path) }
      if (existing.kind === 'dir' && kind === 'dir') return { parents, exists: true }
      return { problem: 'appears twice in the archive' }
    }
    for (const parent of parents) this.#claimed.set(collisionKey(parent), { path: parent, kind: 'dir' })
    this.#claimed.set(collisionKey(path), { path, kind })
    return { parents, exists: false }
  }
}

function collides(other: string): string {
  return `collides with ${printable(other)} on case-insensitive or unicode-normalizing filesystems`
}

/** JSON-quoted, so NUL bytes, newlines and other control characters show instead of hiding. */
export function printable(path: string): string {
  return JSON.stringify(path)
}
