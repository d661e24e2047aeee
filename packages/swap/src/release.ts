/**
 * One release = one consistent snapshot of the hot code, with its own module cache. Relative
 * requires and imports resolve inside the release (against its manifest, not the live file
 * system); bare specifiers go to the host, shared by every release and never reloaded. Files are
 * read when they are evaluated, and checked against the verified manifest. CommonJS, ES modules
 * and TypeScript mix freely (`moduleLoader.ts` decides and compiles, `esmLinker.ts` links).
 */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isNativeAddon, type ModuleManifest } from '@relup/core'
import { sha256Of } from '@relup/core/release'
import { HotModuleError, NativeAddonRequireError } from './errors.js'
import { esmParameters, namespaceOf, requireViewOf } from './esmLinker.js'
import type { Transformed } from './esmTransform.js'
import { evaluateJson, type HotModule, type HotRequire } from './evaluator.js'
import { isNotFound, notSynchronous, packageNotFound } from './hostPackages.js'
import type { HostImport } from './hostRequire.js'
import { checkImports, type Resolution } from './importCheck.js'
import {
  type DeclaredFormat,
  EXTENSIONS,
  INDEX_FILES,
  isHotScript,
  type ModuleFormat,
  packageType,
  TYPESCRIPT_TWINS,
} from './moduleFormat.js'
import { type PreparedModule, prepareModule } from './moduleLoader.js'
import { ModuleScope } from './moduleScope.js'
import { type HotFile, registerHotFile } from './sourceMaps.js'
import type { UnitInstance } from './unit.js'

/** One evaluated file. Shared by the next release when neither it nor anything it required changed. */
export class ModuleRecord {
  /** Release-relative paths this module required or imported (recorded on every load, also lazy ones). */
  readonly deps = new Set<string>()
  /** Paths tried while resolving that did not exist: adding one of them may change what a require finds. */
  readonly probes = new Set<string>()
  readonly module: HotModule
  /** The directory of the release that evaluated it: where its `__filename` and `__dirname` point. */
  readonly releaseDir: string
  /** Only modules evaluated by the base release may load native addons. */
  readonly loadsAddons: boolean
  /** The release its requires resolve in; moved to the next release at commit when the record is shared. */
  owner: Release
  format: ModuleFormat | 'json' = 'commonjs'
  /** What its top level started: cleared when it leaves the live release. */
  readonly scope: ModuleScope
  /** What stack traces need to point at its source. */
  hotFile: HotFile | undefined
  /** The transform's result, when the engine transformed it (TypeScript, ES modules). */
  transformed: Transformed | undefined
  /** How ES modules see it (CommonJS, JSON) and how `require()` sees it (ES modules), made once. */
  views: { namespace?: object; required?: object } = {}

  constructor(
    readonly path: string,
    owner: Release,
  ) {
    this.owner = owner
    this.releaseDir = owner.dir
    this.loadsAddons = owner.loadsAddons
    const filename = join(owner.dir, path)
    const require = ((specifier: string) => this.owner.require(this, specifier)) as HotRequire
    require.resolve = (specifier: string) => this.owner.resolveFilename(this, specifier)
    require.main = undefined
    this.module = { id: filename, filename, path: dirname(filename), exports: {}, loaded: false, require }
    this.scope = new ModuleScope(path, () => this.hotFile)
  }

  get isScript(): boolean {
    return this.format !== 'json'
  }
}

/** Which module threw an error first, so a failure deep in a require chain names the right file. */
const errorOrigins = new WeakMap<object, string>()
export const moduleThatThrew = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null ? errorOrigins.get(error) : undefined
const blame = (error: unknown, path: string) => {
  if (typeof error === 'object' && error !== null && !errorOrigins.has(error)) errorOrigins.set(error, path)
}

/** How the engine loads every release (`createSwapEngine` options). */
export interface LoadSettings {
  hostRequire: NodeJS.Require
  /** `import()` of host packages (ESM-only ones included), from where `hostRequire` resolves. */
  hostImport: HostImport
  /** Where `hostRequire` resolves from (for the message when a host package is missing). */
  resolvesFrom: string
  /** Compile every function of a module up front (see `compileModule`). */
  eagerCompile: boolean
  /** Release-relative paths evaluated when a release loads. Default: every hot script. */
  entries: string[] | undefined
}

export interface ReleaseInit {
  dir: string
  version: string
  /** The verified manifest: every file read later must still match it. */
  manifest: ModuleManifest
  /** Only the base release may load native addons: they are the ones the process was built with. */
  loadsAddons: boolean
  settings: LoadSettings
}

export type Resolved = { hot: string } | { host: string }

export class Release {
  readonly dir: string
  readonly version: string
  readonly manifest: ModuleManifest
  /** `public/` of this release, when it has one: served in place, never copied. */
  readonly assetsDir: string | null
  readonly modules = new Map<string, ModuleRecord>()
  /** The unit instances serving this release (shared with the previous one when their module was). */
  readonly units = new Map<string, UnitInstance>()
  /** Dependencies declared by the release's `package.json` (see `refuseStaticDependencyChange`). */
  staticDependencies: Record<string, string> = {}
  readonly loadsAddons: boolean
  readonly settings: LoadSettings
  /**
   * The transformed code of the modules this release replaced (the previous version's), held so
   * that a rollback to it transforms nothing; whatever was before that is let go.
   */
  previousTransforms: Transformed[] = []
  /** The module format the nearest `package.json` declares, by release-relative directory. */
  private readonly packageFormats = new Map<string, DeclaredFormat>()

  constructor(init: ReleaseInit) {
    this.dir = init.dir
    this.version = init.version
    this.manifest = init.manifest
    const hasAssets = Object.keys(init.manifest.files).some((path) => path.startsWith('public/'))
    this.assetsDir = hasAssets ? join(init.dir, 'public') : null
    this.loadsAddons = init.loadsAddons
    this.settings = init.settings
  }

  has(path: string): boolean {
    return Object.hasOwn(this.manifest.files, path)
  }

  /** The modules evaluated when this release loads: the configured entries, or every hot script. */
  entryPaths(): string[] {
    const { entries } = this.settings
    if (!entries) return Object.keys(this.manifest.files).filter(isHotScript)
    return entries.map((entry) => {
      const path = this.resolveEntry(entry)
      if (path === undefined) throw new Error(`entry ${entry} is not in release ${this.version}`)
      return path
    })
  }

  /** Share an unchanged module of the previous release (its requires keep resolving there until commit). */
  adopt(record: ModuleRecord): void {
    this.modules.set(record.path, record)
  }

  /** The module at a release-relative path, evaluating it (and what it requires) if needed. */
  load(path: string): ModuleRecord {
    const cached = this.modules.get(path)
    if (cached) return cached
    if (isNativeAddon(path)) {
      throw new Error(`${path} is a native addon; load it with require() from a module of the base release`)
    }
    let source: string
    try {
      source = this.read(path)
    } catch (error) {
      blame(error, path)
      throw error
    }
    const record = new ModuleRecord(path, this)
    this.modules.set(path, record)
    try {
      if (path.endsWith('.json')) {
        record.format = 'json'
        evaluateJson(record.module, source)
      } else {
        const prepared = this.prepare(record, source)
        if (prepared.format === 'module') {
          const { problems } = checkImports(path, source, prepared.transformed.imports, (specifier) =>
            this.resolveFrom(path, specifier),
          )
          if (problems.length > 0) throw new HotModuleError(problems[0]!)
        }
        record.scope.runTopLevel(() => run(record, prepared))
      }
    } catch (error) {
      this.modules.delete(path) // as Node does: a module that threw can be required again
      record.scope.release(this.version)
      blame(error, path)
      throw error
    }
    record.module.loaded = true
    return record
  }

  /** Decide the module's format, transform and compile it (the rules `checkRelease` applies too). */
  prepare(
    record: ModuleRecord | { path: string; module: { filename: string } },
    source: string,
  ): PreparedModule {
    const { path } = record
    const prepared = prepareModule({
      path,
      filename: record.module.filename,
      source,
      sha256: this.manifest.files[path]!.sha256,
      packageFormat: () => this.packageFormatOf(path),
      mapFile: (mapPath) => {
        const file = this.manifest.files[mapPath]
        return file && { filename: join(this.dir, mapPath), sha256: file.sha256, size: file.size }
      },
      eager: this.settings.eagerCompile,
    })
    if (record instanceof ModuleRecord) {
      record.format = prepared.format
      record.hotFile = prepared.hotFile
      if (prepared.transformed.size > 0) record.transformed = prepared.transformed
      registerHotFile(record.module.filename, prepared.hotFile)
    }
    return prepared
  }

  /** `require()` from a hot module: what Node's `require` gives (an ES module's namespace, with `__esModule`). */
  require(from: ModuleRecord, specifier: string): any {
    const target = this.requireRecord(from, specifier)
    if ('host' in target) return target.host
    return target.record.format === 'module' ? requireViewOf(target.record) : target.record.module.exports
  }

  /** The module a specifier names, loaded: a record of this release, or a host module's exports. */
  requireRecord(from: ModuleRecord, specifier: string): { record: ModuleRecord } | { host: any } {
    const target = this.resolve(from, specifier)
    if ('host' in target) return { host: this.requireHost(from, target.host) }
    from.deps.add(target.hot)
    if (isNativeAddon(target.hot)) {
      if (!from.loadsAddons) throw new NativeAddonRequireError(target.hot, from.path)
      return { host: this.settings.hostRequire(join(this.dir, target.hot)) }
    }
    return { record: this.load(target.hot) }
  }

  /** The namespace `import` sees for a specifier (a hot module's, or a host module's). */
  importNamespace(from: ModuleRecord, specifier: string): { namespace: object; record?: ModuleRecord } {
    const target = this.requireRecord(from, specifier)
    if ('host' in target) return { namespace: namespaceOf(target.host) }
    return { namespace: namespaceOf(target.record), record: target.record }
  }

  /** A host package: shared by every release, resolved from the app (see `resolveFrom`). */
  private requireHost(from: ModuleRecord, specifier: string): any {
    try {
      return this.settings.hostRequire(specifier)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || code === 'ERR_REQUIRE_ASYNC_MODULE') {
        throw Object.assign(new Error(notSynchronous(specifier, from.path, error), { cause: error }), {
          code,
        })
      }
      if (!isNotFound(error, specifier)) throw error
      throw Object.assign(
        new Error(
          `${packageNotFound(specifier, from.path, this.settings.resolvesFrom)}, or pass ` +
            "createSwapEngine({ resolveFrom: import.meta.url }) from the app's cold entry.",
          { cause: error },
        ),
        { code: 'MODULE_NOT_FOUND' },
      )
    }
  }

  resolveFilename(from: ModuleRecord, specifier: string): string {
    const target = this.resolve(from, specifier)
    return 'host' in target ? this.settings.hostRequire.resolve(target.host) : join(this.dir, target.hot)
  }

  /** Resolve a `engine.module()` path such as `handler`, `./handler.js` or `routes/`. */
  resolveEntry(request: string): string | undefined {
    const wanted = request.replace(/^\.\//, '').replace(/\/$/, '')
    return this.candidates(wanted).find((path) => this.has(path))
  }

  resolve(from: ModuleRecord, specifier: string): Resolved {
    const target = this.resolveFrom(from.path, specifier, from.probes)
    if ('problem' in target) throw Object.assign(new Error(target.problem), { code: 'MODULE_NOT_FOUND' })
    return target
  }

  /** What a specifier in the module at `fromPath` names, or why it names nothing (no throw: `checkRelease`). */
  resolveFrom(fromPath: string, specifier: string, probes?: Set<string>): Resolution {
    const relativeSpecifier = specifier === '.' || specifier === '..' || /^\.\.?\//.test(specifier)
    if (specifier.startsWith('file:')) return this.resolveFrom(fromPath, fileURLToPath(specifier), probes)
    if (!relativeSpecifier && !isAbsolute(specifier)) return { host: specifier }
    // Relative to where the module sits in *this* release: a shared module resolves in the live one.
    const absolute = resolve(this.dir, dirname(fromPath), specifier)
    const inside = relative(this.dir, absolute)
    // Only a `..` segment leaves the release: `..foo.js` is a file name like any other.
    if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      if (!relativeSpecifier) return { host: absolute }
      const problem =
        `'${specifier}' in ${fromPath} leaves the release directory; hot code can only require or import ` +
        'files of its own release (relative paths) and host packages (bare specifiers)'
      return { problem, outside: true }
    }
    const wanted = sep === '/' ? inside : inside.split(sep).join('/')
    const tried = this.candidates(wanted)
    for (const candidate of tried) {
      if (this.has(candidate)) return { hot: candidate }
      probes?.add(candidate)
    }
    const problem =
      `Cannot find module '${specifier}' required by ${fromPath} in release ${this.version} ` +
      `(tried ${tried.join(', ')})`
    return { problem, outside: false }
  }

  private candidates(path: string): string[] {
    const index = INDEX_FILES.map((file) => (path === '' ? file : `${path}/${file}`))
    if (path === '') return index
    const twin = Object.entries(TYPESCRIPT_TWINS).find(([js]) => path.endsWith(js))
    const typescript = twin ? [path.slice(0, -twin[0].length) + twin[1]] : []
    // A specifier that names its extension names a file (or its TypeScript source), not a directory.
    if (EXTENSIONS.some((extension) => path.endsWith(extension))) return [path, ...typescript]
    return [path, ...EXTENSIONS.map((extension) => path + extension), ...index]
  }

  /** What the nearest `package.json` inside the release says about `.js`/`.ts` files at `path`. */
  packageFormatOf(path: string): DeclaredFormat {
    const directory = posix.dirname(path)
    const known = this.packageFormats.get(directory)
    if (known) return known
    const manifestPath = directory === '.' ? 'package.json' : `${directory}/package.json`
    let format: DeclaredFormat
    if (this.has(manifestPath)) format = packageType(this.read(manifestPath)) ?? 'detect'
    else format = directory === '.' ? 'detect' : this.packageFormatOf(directory)
    this.packageFormats.set(directory, format)
    return format
  }

  /**
   * The text of a file of this release, read now and checked against the verified manifest:
   * what was verified is what runs.
   */
  read(path: string): string {
    const file = this.manifest.files[path]
    if (!file) throw new Error(`${path} is not in release ${this.version}`)
    const bytes = readFileSync(join(this.dir, path))
    if (bytes.length !== file.size || sha256Of(bytes) !== file.sha256) {
      throw new Error(
        `${path} in ${this.dir} changed on disk after release ${this.version} was verified; ` +
          'release directories must not be modified once loaded',
      )
    }
    return bytes.toString('utf8')
  }
}

/** Run a compiled module: CommonJS with Node's wrapper arguments, an ES module with the linker's. */
function run(record: ModuleRecord, { format, compiled }: PreparedModule): void {
  const { module } = record
  const timers = compiled.timers.map((name) => record.scope.timers[name])
  if (format === 'commonjs') {
    compiled.wrapper.call(
      module.exports,
      module.exports,
      module.require,
      module,
      module.filename,
      module.path,
      ...timers,
    )
  } else {
    compiled.wrapper.call(undefined, ...esmParameters(record), ...timers)
  }
}
