/**
 * How a key becomes a path under the bucket directory. Every segment but the last is a
 * directory; the last is a file named `<segment>.relup`. A segment that would itself end in
 * `.relup` is escaped, so a directory can never take an object's name: `a/b` (the file
 * `a/b.relup`) and `a/b/c` (the directory `a/b/`) coexist, as they do in S3.
 */
import { join, sep } from 'node:path'
import { InvalidKeyError } from '@relup/core'
import { validateKey } from '@relup/core/adapter'

/** Appended to the last segment of every key: the only files that are objects. */
export const OBJECT_SUFFIX = '.relup'
/** Names starting with this at the top of the bucket belong to the adapter (temp files, locks). */
export const RESERVED_PREFIX = '.relup'
/** The longest file or directory name (in bytes) that common filesystems accept. */
export const NAME_MAX = 255

// `%` is the escape character; the rest are refused by Windows or awkward in a shell.
const ESCAPED_CHARACTERS = new Set(['%', '<', '>', ':', '"', '|', '?', '*'])
const LONE_SURROGATE = /\p{Surrogate}/u
const ESCAPE_SEQUENCE = /%([0-9A-F]{2})/g

const escapeCharacter = (character: string) =>
  `%${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`

function needsEscape(character: string): boolean {
  const code = character.charCodeAt(0)
  return code < 0x20 || code === 0x7f || ESCAPED_CHARACTERS.has(character)
}

/** The on-disk name of one key segment (before the object suffix). Injective, readable for ordinary keys. */
export function encodeSegment(segment: string): string {
  let name = ''
  for (const character of segment) name += needsEscape(character) ? escapeCharacter(character) : character
  // Windows drops a trailing dot or space, which would merge `a.` into `a`.
  const last = name.at(-1)
  if (last === '.' || last === ' ') name = name.slice(0, -1) + escapeCharacter(last)
  if (name.endsWith(OBJECT_SUFFIX))
    name = `${name.slice(0, -OBJECT_SUFFIX.length)}%2E${OBJECT_SUFFIX.slice(1)}`
  return name
}

/** The segment an on-disk name stands for, or `undefined` for a name the adapter never writes. */
export function decodeSegment(name: string): string | undefined {
  const segment = name.replace(ESCAPE_SEQUENCE, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  )
  return encodeSegment(segment) === name ? segment : undefined
}

/** Segments of a key the filesystem adapter can store; throws `InvalidKeyError` otherwise. */
export function keySegments(key: string): string[] {
  const segments = validateKey(key)
  if (key.includes('\\')) {
    throw new InvalidKeyError(
      key,
      'it contains a backslash, which the filesystem adapter refuses on every platform',
    )
  }
  if (LONE_SURROGATE.test(key)) {
    throw new InvalidKeyError(key, 'it contains a lone UTF-16 surrogate, which has no file name')
  }
  if (segments[0]!.startsWith(RESERVED_PREFIX)) {
    throw new InvalidKeyError(
      key,
      `its first segment starts with "${RESERVED_PREFIX}", which the filesystem adapter reserves for its own files`,
    )
  }
  return segments
}

function pathOf(root: string, key: string, names: string[]): string {
  for (const name of names) {
    const bytes = Buffer.byteLength(name)
    if (bytes > NAME_MAX) {
      throw new InvalidKeyError(
        key,
        `a segment takes ${bytes} bytes on disk (${JSON.stringify(name.slice(0, 40))}…); the filesystem adapter allows ${NAME_MAX}`,
      )
    }
  }
  const path = join(root, ...names)
  // Unreachable after the checks above; kept so that a future change cannot silently escape the bucket.
  if (!path.startsWith(root + sep))
    throw new InvalidKeyError(key, 'it resolves outside the storage directory')
  return path
}

/** The file that holds the object `key`. */
export function objectPath(root: string, key: string): string {
  const names = keySegments(key).map(encodeSegment)
  names[names.length - 1] += OBJECT_SUFFIX
  return pathOf(root, key, names)
}

/** The directory that holds the folder `folder` (`''` or a prefix ending in `/`). */
export function folderPath(root: string, folder: string): string {
  if (folder === '') return root
  const prefix = folder.slice(0, -1)
  return pathOf(root, folder, keySegments(prefix).map(encodeSegment))
}

/** Whether a key decoded from disk is one `objectPath` accepts (stray files may decode to anything). */
export function isStorableKey(key: string): boolean {
  try {
    keySegments(key)
    return true
  } catch {
    return false
  }
}
