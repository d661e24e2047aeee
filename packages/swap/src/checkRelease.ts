/**
 * The engine's loading rules, applied to a release without evaluating anything: what `relup pack`
 * and `publish` run before uploading, so a release that a machine would refuse never leaves the
 * developer's machine. The same code as the engine's loader (`verifyRelease`, `Release`,
 * `prepareModule`): which files the release has, each module's format, its syntax (TypeScript
 * included, compiled by V8 but not run), top-level await, and relative imports that must resolve
 * inside the release.
 */
import { basename, join } from 'node:path'
import { describeError, HotModuleError, type ReleaseProblem } from './errors.js'
import { hostRequireFrom } from './hostRequire.js'
import { checkImports } from './importCheck.js'
import { isHotScript, isScriptPath } from './moduleFormat.js'
import { Release } from './release.js'
import { verifyRelease } from './verify.js'

export interface CheckReleaseOptions {
  /**
   * The engine's `entries`: the modules a machine evaluates when the release loads. Then only they
   * and what they import or require (literally) are checked. Default: every script outside
   * `public/` and `node_modules/`, as the engine loads them.
   */
  entries?: string[]
}

export interface ReleaseCheck {
  /** No problem found: the engine will load every checked module as far as its rules go. */
  ok: boolean
  problems: ReleaseProblem[]
  /** Release-relative paths of the modules checked. */
  modules: string[]
}

/** A literal `require('./x')` of a CommonJS module, followed when only entries are checked. */
const LITERAL_REQUIRE = /\brequire\s*\(\s*(['"])(\.{1,2}\/[^'"\n]+)\1\s*\)/g

/**
 * Check a release directory with the loader's rules, evaluating nothing. Problems are returned
 * (with the file, line and column as written), not thrown.
 */
export async function checkRelease(dir: string, options: CheckReleaseOptions = {}): Promise<ReleaseCheck> {
  const verified = await verifyRelease(dir)
  if (!verified.ok) {
    return {
      ok: false,
      problems: [{ kind: 'release-tree', file: '', message: verified.problem }],
      modules: [],
    }
  }
  const release = new Release({
    dir,
    version: basename(dir),
    manifest: verified.manifest,
    loadsAddons: true,
    settings: {
      hostRequire: hostRequireFrom(dir),
      hostImport: () => Promise.reject(new Error('checkRelease evaluates nothing')),
      resolvesFrom: dir,
      eagerCompile: false,
      entries: options.entries,
    },
  })
  const problems: ReleaseProblem[] = []
  let queue: string[]
  try {
    queue = options.entries ? release.entryPaths() : Object.keys(verified.manifest.files).filter(isHotScript)
  } catch (error) {
    return {
      ok: false,
      problems: [{ kind: 'unresolved-import', file: '', message: describeError(error) }],
      modules: [],
    }
  }
  const checked = new Set<string>()
  while (queue.length > 0) {
    const path = queue.shift()!
    if (checked.has(path) || !isScriptPath(path)) continue
    checked.add(path)
    const follow = checkModule(release, path, problems)
    if (options.entries) queue.push(...follow)
  }
  problems.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0))
  return { ok: problems.length === 0, problems, modules: [...checked].sort() }
}

/** Check one module; returns the release files it names statically (to follow from entries). */
function checkModule(release: Release, path: string, problems: ReleaseProblem[]): string[] {
  const source = release.read(path)
  let prepared: ReturnType<Release['prepare']>
  try {
    prepared = release.prepare({ path, module: { filename: join(release.dir, path) } }, source)
  } catch (error) {
    if (error instanceof HotModuleError) problems.push(error.problem)
    else problems.push({ kind: 'syntax', file: path, message: describeError(error) })
    return []
  }
  const imports = prepared.format === 'module' ? prepared.transformed.imports : []
  const requires =
    prepared.format === 'commonjs' ? [...source.matchAll(LITERAL_REQUIRE)].map((m) => m[2]!) : []
  const checkedImports = checkImports(path, source, imports, (specifier) =>
    release.resolveFrom(path, specifier),
  )
  problems.push(...checkedImports.problems)
  const named = checkedImports.files
  // A CommonJS require runs only when reached (it may sit in a try): followed, never reported.
  for (const specifier of requires) {
    const target = release.resolveFrom(path, specifier)
    if ('hot' in target) named.push(target.hot)
  }
  return named
}
