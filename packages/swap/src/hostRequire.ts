/**
 * The host's `require`: where bare specifiers (`node:*`, packages) of hot code resolve. Static,
 * shared by every release and never reloaded.
 */
import { statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'

/** A `require` that resolves from a file, a directory or a `file:` URL. */
export function hostRequireFrom(location: string | URL): NodeJS.Require {
  if (location instanceof URL || location.startsWith('file:')) return createRequire(location)
  const path = resolve(location)
  let isDirectory = false
  try {
    isDirectory = statSync(path).isDirectory()
  } catch {
    // A file that does not exist yet is fine: only its directory matters for resolution.
  }
  return createRequire(isDirectory ? join(path, 'noop.js') : path)
}
