/**
 * What hot code imports from the host, found by `checkRelease` without evaluating anything: the
 * bare specifiers of ES modules (static imports, re-exports, literal `import()`, from the
 * transform) and of CommonJS (literal `require()` and `import()`, from `requireScanner.ts`),
 * classified by the release's own resolver (what it sends to the host is a host import). Each
 * package is then resolved the way a machine resolves it from its app (`hostPackages.ts`): its
 * version goes into the release's manifest, and what a machine could not load is a problem.
 */
import type { ReleaseProblem } from './errors.js'
import { isNotFound, NOT_FOUND, notSynchronous, packageNameOf, resolveHostPackage } from './hostPackages.js'
import { positionOf } from './importCheck.js'
import type { PreparedModule } from './moduleLoader.js'
import type { LoadSettings, Release } from './release.js'
import { scanRequires } from './requireScanner.js'

/** One import of a host package by a module of the release. */
export interface HostImport {
  /** The package: `lodash`, `@scope/pkg`. */
  name: string
  /** The specifier as written: `lodash/fp`. */
  specifier: string
  /** A static `import`/`export … from` (linked before the module runs), an `import()`, or a `require()`. */
  kind: 'import' | 'dynamic-import' | 'require'
  /** Release-relative path of the importing module, and where the specifier is written (1-based). */
  file: string
  line?: number | undefined
  column?: number | undefined
}

/** The host imports of one prepared module (and the relative `require()`s of CommonJS, to follow). */
export function importsOf(
  release: Release,
  path: string,
  source: string,
  prepared: PreparedModule,
): { hostImports: HostImport[]; requires: string[] } {
  const { transformed } = prepared
  const named: { specifier: string; kind: HostImport['kind'] }[] =
    prepared.format === 'module'
      ? [
          ...transformed.imports.map((specifier) => ({ specifier, kind: 'import' as const })),
          ...transformed.dynamicImports.map((specifier) => ({ specifier, kind: 'dynamic-import' as const })),
        ]
      : scanRequires(transformed.code).map(({ specifier, dynamic }) => ({
          specifier,
          kind: dynamic ? ('dynamic-import' as const) : ('require' as const),
        }))
  const hostImports: HostImport[] = []
  const requires: string[] = []
  for (const { specifier, kind } of named) {
    const target = release.resolveFrom(path, specifier)
    if (kind === 'require' && 'hot' in target) requires.push(specifier)
    const name = 'host' in target ? packageNameOf(target.host) : undefined
    if (name) hostImports.push({ name, specifier, kind, file: path, ...positionOf(source, specifier) })
  }
  return { hostImports, requires }
}

export interface HostPackagesFound {
  /** Name → version, for every host package found: what `manifest.hostPackages` records. */
  versions: Record<string, string>
  /** Static imports a machine resolving from the same place could not load. */
  problems: ReleaseProblem[]
  /** `require()`s and `import()`s of packages not found: they fail only if they are reached. */
  warnings: ReleaseProblem[]
}

/** Resolve every imported host package with the host `require` of `settings` (as a machine would). */
export function resolveHostImports(
  imports: HostImport[],
  settings: Pick<LoadSettings, 'hostRequire' | 'resolvesFrom'>,
): HostPackagesFound {
  const found: HostPackagesFound = { versions: {}, problems: [], warnings: [] }
  const names = [...new Set(imports.map((use) => use.name))].sort()
  const missing = new Map<string, string>()
  for (const name of names) {
    const resolved = resolveHostPackage(settings.hostRequire, name)
    if ('problem' in resolved) missing.set(name, resolved.problem)
    else found.versions[name] = resolved.version
  }
  for (const use of imports) {
    const where = { file: use.file, line: use.line, column: use.column }
    const problem = missing.get(use.name)
    const from = `from ${settings.resolvesFrom}${problem === undefined || problem === NOT_FOUND ? '' : ` (${problem})`}`
    if (use.kind !== 'import') {
      if (problem === undefined) continue
      const call = use.kind === 'require' ? 'require()' : 'import()'
      found.warnings.push({
        kind: 'unresolved-package',
        ...where,
        message:
          `Cannot find package '${use.specifier}' ${from}: this ${call} runs only when it is reached, and fails ` +
          'there unless the machines have it; its version is not recorded, so machines cannot check it',
      })
      continue
    }
    // A static import is linked before the module runs, through the host's require().
    const failure = requireFailure(settings.hostRequire, use.specifier)
    if (problem === undefined && failure === undefined) continue
    const message =
      failure !== undefined && !isNotFound(failure, use.specifier)
        ? notSynchronous(use.specifier, use.file, failure)
        : `Cannot find ${problem === undefined ? 'module' : 'package'} '${use.specifier}' imported by ${use.file} ` +
          `${from}: a machine resolving host packages from its app the same way could not load this module; ` +
          'install it'
    found.problems.push({ kind: 'unresolved-package', ...where, message })
  }
  return found
}

/** Why `require.resolve(specifier)` fails (not found, or no `require` entry), or undefined. */
function requireFailure(hostRequire: NodeJS.Require, specifier: string): unknown {
  try {
    hostRequire.resolve(specifier)
    return undefined
  } catch (error) {
    const code = (error as { code?: unknown }).code
    return code === 'MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' ? error : undefined
  }
}
