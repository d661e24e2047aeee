/**
 * Host packages: what hot code imports by bare specifier, shared with the host process and never
 * reloaded. A release records the version its publisher resolved for each one
 * (`manifest.hostPackages`, found by `checkRelease`); the engine resolves them again through its
 * host `require` before an upgrade, and refuses a release published against other versions
 * (`refuseHostPackageChanges`): the hot code would silently run against the process's copy.
 */
import { existsSync, readFileSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import { basename, dirname, isAbsolute, join } from 'node:path'
import { describeError } from './errors.js'

/**
 * The package a bare specifier names: its first segment (`lodash/fp` → `lodash`), or its first
 * two for a scoped one (`@scope/pkg/sub` → `@scope/pkg`). Undefined for Node's builtin modules
 * (`fs`, `node:test`), paths, URLs and subpath imports (`#internal`).
 */
export function packageNameOf(specifier: string): string | undefined {
  if (isBuiltin(specifier) || /^[./#]/.test(specifier) || /[:\\]/.test(specifier)) return undefined
  const segments = specifier.split('/')
  const name = specifier.startsWith('@') ? segments.slice(0, 2).join('/') : segments[0]!
  if (name === '' || (specifier.startsWith('@') && (segments[1] ?? '') === '')) return undefined
  return name
}

/** The `problem` of a package that is not installed where the host resolves from (or above). */
export const NOT_FOUND = 'not found'

export type HostPackage =
  | { name: string; version: string; packageJson: string }
  /** `problem` is `NOT_FOUND`, or what else went wrong (an unreadable package.json, no version). */
  | { name: string; problem: string }

/**
 * The version of a host package as `hostRequire` finds it: the nearest `package.json` of that
 * name above the file it resolves to (so `exports` that hide `package.json` do not matter), else,
 * for a package without a `require` entry (import-only, or subpaths only), the first
 * `node_modules/<name>` where Node looks. `seen` remembers versions by `package.json` path: the
 * engine passes one for the whole process, because a package loaded once keeps its version
 * whatever is installed over it later.
 */
export function resolveHostPackage(
  hostRequire: NodeJS.Require,
  name: string,
  seen?: Map<string, string>,
): HostPackage {
  const found = findPackageJson(hostRequire, name)
  if ('problem' in found) return { name, problem: found.problem }
  const { packageJson } = found
  const known = seen?.get(packageJson)
  if (known !== undefined) return { name, version: known, packageJson }
  let version: unknown
  try {
    version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown } | null)?.version
  } catch (error) {
    return { name, problem: `its ${packageJson} cannot be read (${describeError(error)})` }
  }
  if (typeof version !== 'string' || version === '')
    return { name, problem: `its ${packageJson} has no version` }
  seen?.set(packageJson, version)
  return { name, version, packageJson }
}

function findPackageJson(
  hostRequire: NodeJS.Require,
  name: string,
): { packageJson: string } | { problem: string } {
  let entry: string | undefined
  let failure: unknown
  try {
    entry = hostRequire.resolve(name)
  } catch (error) {
    failure = error
  }
  if (entry !== undefined && isAbsolute(entry)) {
    for (let dir = dirname(entry); ; dir = dirname(dir)) {
      const candidate = join(dir, 'package.json')
      if (nameIn(candidate) === name) return { packageJson: candidate }
      // A package's own directory is never above a node_modules directory, nor the root.
      if (basename(dir) === 'node_modules' || dirname(dir) === dir) break
    }
  }
  for (const dir of hostRequire.resolve.paths?.(name) ?? []) {
    const candidate = join(dir, name, 'package.json')
    if (existsSync(candidate)) return { packageJson: candidate }
  }
  if (entry !== undefined) return { problem: `no package.json named ${name} above ${entry}` }
  if ((failure as { code?: unknown }).code === 'MODULE_NOT_FOUND') return { problem: NOT_FOUND }
  return { problem: (describeError(failure).split('\n')[0] ?? '').trim() }
}

/** The `name` of a `package.json`, or undefined (absent, unreadable, unnamed). */
function nameIn(packageJson: string): unknown {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { name?: unknown } | null)?.name
  } catch {
    return undefined
  }
}

/** Why a host package cannot be a static import of a hot module (its `require()` failed with `error`). */
export function notSynchronous(specifier: string, module: string, error: unknown): string {
  return (
    `host package '${specifier}' imported by hot module ${module} cannot be loaded synchronously ` +
    `(${String((error as Error).message).split('\n')[0]}): hot modules load their static imports the way ` +
    `require() does. Import it with \`await import('${specifier}')\` inside a function instead.`
  )
}

/** A host package that `require()` cannot find (the advice goes on: "Install it there…"). */
export function packageNotFound(specifier: string, module: string, resolvesFrom: string): string {
  return (
    `Cannot find package '${specifier}' required by hot module ${module}: host packages resolve from ` +
    `${resolvesFrom} (the app's entry script by default). Install it there`
  )
}

/** Whether `require(specifier)` failed because the specifier itself was not found. */
export function isNotFound(error: unknown, specifier: string): boolean {
  return (
    (error as { code?: unknown }).code === 'MODULE_NOT_FOUND' &&
    String((error as Error).message).includes(`'${specifier}'`)
  )
}
