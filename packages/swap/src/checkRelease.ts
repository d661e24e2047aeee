/**
 * The engine's loading rules, applied to a release without evaluating anything: what `relup pack`
 * and `publish` run before uploading, so a release that a machine would refuse never leaves the
 * developer's machine. The same code as the engine's loader (`verifyRelease`, `Release`,
 * `prepareModule`): which files the release has, each module's format, its syntax (TypeScript
 * included, compiled by V8 but not run), top-level await, relative imports that must resolve
 * inside the release, and the host packages it imports, resolved as a machine resolves them
 * (`hostImports.ts`). Given the release the machines run now, also what they would refuse as
 * restart-required (`restartCheck.ts`).
 */
import { basename, join } from 'node:path'
import type { ModuleManifest } from '@relup/core'
import { describeError, HotModuleError, type ReleaseProblem } from './errors.js'
import { type HostImport, importsOf, resolveHostImports } from './hostImports.js'
import { hostRequireFrom, resolveFromDirectory } from './hostRequire.js'
import { checkImports } from './importCheck.js'
import { isHotScript, isScriptPath } from './moduleFormat.js'
import { Release } from './release.js'
import { restartProblems } from './restartCheck.js'
import { verifyRelease } from './verify.js'

export interface CheckReleaseOptions {
  /**
   * The engine's `entries`: the modules a machine evaluates when the release loads. Then only they
   * and what they import or require (literally) are checked. Default: every script outside
   * `public/` and `node_modules/`, as the engine loads them.
   */
  entries?: string[] | undefined
  /**
   * Where host packages resolve from, as the engine's `resolveFrom` on a machine (a file, a
   * directory or a `file:` URL). Default: the release directory, whose ancestors' `node_modules`
   * are the project's when the hot code is built inside it.
   */
  resolveFrom?: string | URL | undefined
  /**
   * The manifest of the release the machines run now, when the caller knows it (a publisher: the
   * pointer's hot upgrade). Then what their refuse phase would turn down as restart-required is
   * reported too: native addons added, changed or removed, and modules to evaluate again that
   * require a `.node` file.
   */
  previous?: ModuleManifest | undefined
}

export interface ReleaseCheck {
  /** No problem found: the engine will load every checked module as far as its rules go. */
  ok: boolean
  problems: ReleaseProblem[]
  /** What a machine loads but may fail on once reached: `require()`/`import()` of packages not found. */
  warnings: ReleaseProblem[]
  /** Release-relative paths of the modules checked. */
  modules: string[]
  /** Every import of a host package by a checked module, in file order. */
  hostImports: HostImport[]
  /** The version found for each host package imported, by name: what `manifest.hostPackages` records. */
  hostPackages: Record<string, string>
  /** The files checked (their sha256 and size); null when the release directory cannot be used. */
  manifest: ModuleManifest | null
}

/**
 * Check a release directory with the loader's rules, evaluating nothing. Problems are returned
 * (with the file, line and column as written), not thrown.
 */
export async function checkRelease(dir: string, options: CheckReleaseOptions = {}): Promise<ReleaseCheck> {
  const unusable = (problem: ReleaseProblem, manifest: ModuleManifest | null): ReleaseCheck => ({
    ok: false,
    problems: [problem],
    warnings: [],
    modules: [],
    hostImports: [],
    hostPackages: {},
    manifest,
  })
  const verified = await verifyRelease(dir)
  if (!verified.ok) return unusable({ kind: 'release-tree', file: '', message: verified.problem }, null)
  const resolveFrom = options.resolveFrom ?? dir
  const release = new Release({
    dir,
    version: basename(dir),
    manifest: verified.manifest,
    loadsAddons: true,
    settings: {
      hostRequire: hostRequireFrom(resolveFrom),
      hostImport: () => Promise.reject(new Error('checkRelease evaluates nothing')),
      resolvesFrom: resolveFromDirectory(resolveFrom),
      eagerCompile: false,
      entries: options.entries,
    },
  })
  const problems: ReleaseProblem[] = []
  let queue: string[]
  try {
    queue = options.entries ? release.entryPaths() : Object.keys(verified.manifest.files).filter(isHotScript)
  } catch (error) {
    return unusable({ kind: 'unresolved-import', file: '', message: describeError(error) }, verified.manifest)
  }
  const named = new Map<string, string[]>()
  const hostImports: HostImport[] = []
  while (queue.length > 0) {
    const path = queue.shift()!
    if (named.has(path) || !isScriptPath(path)) continue
    const checked = checkModule(release, path, problems)
    named.set(path, checked.files)
    hostImports.push(...checked.hostImports)
    if (options.entries) queue.push(...checked.files)
  }
  const host = resolveHostImports(hostImports, release.settings)
  problems.push(...host.problems)
  if (options.previous) problems.push(...restartProblems(release, options.previous, named))
  return {
    ok: problems.length === 0,
    problems: problems.sort(byLocation),
    warnings: host.warnings.sort(byLocation),
    modules: [...named.keys()].sort(),
    hostImports: hostImports.sort(byLocation),
    hostPackages: host.versions,
    manifest: verified.manifest,
  }
}

const byLocation = (a: Location, b: Location) =>
  a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)
type Location = Pick<ReleaseProblem, 'file' | 'line' | 'column'>

interface CheckedModule {
  /** Release files it imports statically or requires literally (followed from entries). */
  files: string[]
  hostImports: HostImport[]
}

/** Check one module: its problems go to `problems`; returns what it names. */
function checkModule(release: Release, path: string, problems: ReleaseProblem[]): CheckedModule {
  const source = release.read(path)
  let prepared: ReturnType<Release['prepare']>
  try {
    prepared = release.prepare({ path, module: { filename: join(release.dir, path) } }, source)
  } catch (error) {
    if (error instanceof HotModuleError) problems.push(error.problem)
    else problems.push({ kind: 'syntax', file: path, message: describeError(error) })
    return { files: [], hostImports: [] }
  }
  const imports = prepared.format === 'module' ? prepared.transformed.imports : []
  const checkedImports = checkImports(path, source, imports, (specifier) =>
    release.resolveFrom(path, specifier),
  )
  problems.push(...checkedImports.problems)
  const files = checkedImports.files
  const { hostImports, requires } = importsOf(release, path, source, prepared)
  // A CommonJS require runs only when reached (it may sit in a try): followed, never reported.
  for (const specifier of requires) {
    const target = release.resolveFrom(path, specifier)
    if ('hot' in target) files.push(target.hot)
  }
  return { files, hostImports }
}
