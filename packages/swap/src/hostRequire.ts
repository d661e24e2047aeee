/**
 * The host's `require`: where bare specifiers (`node:*`, packages) of hot code resolve. Static,
 * shared by every release and never reloaded.
 */
import { realpathSync, statSync } from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { compileFunction, constants } from 'node:vm'

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

/** Native `import()` of a host module (ESM-only packages included) from where the app resolves. */
export type HostImport = (specifier: string) => Promise<unknown>

/**
 * `import()` as the app's own code at `location` would run it: Node's ES module loader resolves
 * from there, with the `import` conditions (what `require` cannot load). Compiled once per engine.
 */
export function hostImportFrom(location: string | URL): HostImport {
  const filename =
    location instanceof URL || location.startsWith('file:')
      ? fileURLToPath(location)
      : (() => {
          const path = resolve(location)
          try {
            return statSync(path).isDirectory() ? join(path, 'noop.js') : path
          } catch {
            return path
          }
        })()
  return compileFunction('return import(specifier)', ['specifier'], {
    filename,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }) as HostImport
}

/** `import()` through a host `require` the app passed: what it resolves, loaded by Node's ES module loader. */
export function hostImportThrough(hostRequire: NodeJS.Require): HostImport {
  return async (specifier) => {
    if (specifier.startsWith('node:') || builtinModules.includes(specifier)) return import(specifier)
    const path = isAbsolute(specifier) ? specifier : hostRequire.resolve(specifier)
    return import(pathToFileURL(path).href)
  }
}
