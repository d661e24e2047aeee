/**
 * One release = one consistent snapshot of the hot code, with its own module cache. Relative
 * requires resolve inside the release (against its manifest, not the live file system); bare
 * specifiers go to the host's `require`, shared by every release and never reloaded. Files are
 * read when they are evaluated, and checked against the verified manifest.
 */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { isNativeAddon, type ModuleManifest } from '@relup/core'
import { sha256Of } from '@relup/core/release'
import { NativeAddonRequireError } from './errors.js'
import { evaluateJson, evaluateScript, type HotModule, type HotRequire } from './evaluator.js'
import type { UnitInstance } from './unit.js'

const EXTENSIONS = ['.js', '.cjs', '.json', '.node']
const INDEX_FILES = ['index.js', 'index.cjs', 'index.json']

/** Files the engine evaluates eagerly unless told otherwise: CommonJS outside `public/` and `node_modules/`. */
export const isHotScript = (path: string) =>
  /\.c?js$/.test(path) && !path.startsWith('public/') && !/(^|\/)node_modules\//.test(path)

/** One evaluated file. Shared by the next release when neither it nor anything it required changed. */
export class ModuleRecord {
  /** Release-relative paths this module required (recorded on every require, also lazy ones). */
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
  }

  get isScript(): boolean {
    return !this.path.endsWith('.json')
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
  /** Where `hostRequire` resolves from (for the message when a host package is missing). */
  resolvesFrom: string
  /** Compile every function of a module up front (see `evaluateScript`). */
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

type Resolved = { hot: string } | { host: string }

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
  private readonly settings: LoadSettings

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
    if (path.endsWith('.mjs')) {
      throw new Error(
        `${path} is an ES module; hot code is evaluated as CommonJS (compile it with "module": "commonjs")`,
      )
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
      if (path.endsWith('.json')) evaluateJson(record.module, source)
      else evaluateScript(record.module, source, this.settings.eagerCompile)
    } catch (error) {
      this.modules.delete(path) // as Node does: a module that threw can be required again
      blame(error, path)
      throw error
    }
    record.module.loaded = true
    return record
  }

  require(from: ModuleRecord, specifier: string): any {
    const target = this.resolve(from, specifier)
    if ('host' in target) return this.requireHost(from, target.host)
    from.deps.add(target.hot)
    if (isNativeAddon(target.hot)) {
      if (!from.loadsAddons) throw new NativeAddonRequireError(target.hot, from.path)
      return this.settings.hostRequire(join(this.dir, target.hot))
    }
    return this.load(target.hot).module.exports
  }

  /** A host package: shared by every release, resolved from the app (see `resolveFrom`). */
  private requireHost(from: ModuleRecord, specifier: string): any {
    try {
      return this.settings.hostRequire(specifier)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (code !== 'MODULE_NOT_FOUND' || !String((error as Error).message).includes(`'${specifier}'`))
        throw error
      throw Object.assign(
        new Error(
          `Cannot find package '${specifier}' required by hot module ${from.path}: host packages resolve from ` +
            `${this.settings.resolvesFrom} (the app's entry script by default). Install it there, or pass ` +
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

  private resolve(from: ModuleRecord, specifier: string): Resolved {
    const relativeSpecifier = specifier === '.' || specifier === '..' || /^\.\.?\//.test(specifier)
    if (!relativeSpecifier && !isAbsolute(specifier)) return { host: specifier }
    // Relative to where the module sits in *this* release: a shared module resolves in the live one.
    const absolute = resolve(this.dir, dirname(from.path), specifier)
    const inside = relative(this.dir, absolute)
    // Only a `..` segment leaves the release: `..foo.js` is a file name like any other.
    if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      if (!relativeSpecifier) return { host: absolute }
      throw Object.assign(
        new Error(
          `require('${specifier}') in ${from.path} leaves the release directory; hot code can only require ` +
            'files of its own release (relative paths) and host packages (bare specifiers)',
        ),
        { code: 'MODULE_NOT_FOUND' },
      )
    }
    const wanted = sep === '/' ? inside : inside.split(sep).join('/')
    const tried = this.candidates(wanted)
    for (const candidate of tried) {
      if (this.has(candidate)) return { hot: candidate }
      from.probes.add(candidate)
    }
    throw Object.assign(
      new Error(
        `Cannot find module '${specifier}' required by ${from.path} in release ${this.version} ` +
          `(tried ${tried.join(', ')})`,
      ),
      { code: 'MODULE_NOT_FOUND' },
    )
  }

  private candidates(path: string): string[] {
    const index = INDEX_FILES.map((file) => (path === '' ? file : `${path}/${file}`))
    if (path === '') return index
    return [path, ...EXTENSIONS.map((extension) => path + extension), ...index]
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
