/**
 * The host's `require`: where bare specifiers (`node:*`, packages) of hot code resolve. Static,
 * shared by every release and never reloaded.
 */
import { realpathSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Where host packages resolve from when the app does not say: the directory of the script Node
 * was started with (`node dist/server.js` → `dist/`, whose ancestors hold the app's
 * `node_modules`), so a server started from another working directory still finds its own
 * packages. Without an entry script (a REPL, `node -e`), the working directory.
 */
export function defaultResolveFrom(): string {
  const entry = process.argv[1]
  if (entry) {
    try {
      const real = realpathSync(entry)
      if (statSync(real).isFile()) return dirname(real)
    } catch {
      // Not a file (a REPL, an eval): fall through.
    }
  }
  return process.cwd()
}

/** The directory a `resolveFrom` option names, for messages. */
export function resolveFromDirectory(location: string | URL): string {
  if (location instanceof URL || location.startsWith('file:')) return dirname(fileURLToPath(location))
  const path = resolve(location)
  try {
    return statSync(path).isDirectory() ? path : dirname(path)
  } catch {
    return dirname(path)
  }
}

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
