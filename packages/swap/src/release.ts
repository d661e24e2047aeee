/**
 * One release = one consistent snapshot of the hot code, with its own module cache. Relative
 * requires resolve inside the release (against its manifest, not the live file system); bare
 * specifiers go to the host's `require`, shared by every release and never reloaded.
 */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { isNativeAddon, type ModuleManifest } from '@relup/core'
import { NativeAddonRequireError } from './errors.js'
import { evaluateJson, evaluateScript, type HotModule, type HotRequire } from './evaluator.js'
import { sha256 } from './manifest.js'
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
  /** The release its requires resolve in; moved to the next release at commit when the record is shared. */
  owner: Release

  constructor(
    readonly path: string,
    filename: string,
    /** Only modules evaluated by the base release may load native addons. */
    readonly loadsAddons: boolean,
    owner: Release,
  ) {
    this.owner = owner
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

export interface ReleaseInit {
  dir: string
  version: string
  manifest: ModuleManifest
  /** The bytes that were hashed into the manifest; dropped once the release is live. */
  contents: Map<string, Buffer> | null
  hostRequire: NodeJS.Require
  loadsAddons: boolean
  /** Compile every function of a module up front (see `evaluateScript`). */
  eagerCompile: boolean
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
  contents: Map<string, Buffer> | null
  private readonly hostRequire: NodeJS.Require
  private readonly loadsAddons: boolean
  private readonly eagerCompile: boolean

  constructor(init: ReleaseInit) {
    this.dir = init.dir
    this.version = init.version
    this.manifest = init.manifest
    const hasAssets = Object.keys(init.manifest.files).some((path) => path.startsWith('public/'))
    this.assetsDir = hasAssets ? join(init.dir, 'public') : null
    this.contents = init.contents
    this.hostRequire = init.hostRequire
    this.loadsAddons = init.loadsAddons
    this.eagerCompile = init.eagerCompile
  }

  has(path: string): boolean {
    return Object.hasOwn(this.manifest.files, path)
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
    const source = this.source(path)
    const record = new ModuleRecord(path, join(this.dir, path), this.loadsAddons, this)
    this.modules.set(path, record)
    try {
      if (path.endsWith('.json')) evaluateJson(record.module, source)
      else evaluateScript(record.module, source, this.eagerCompile)
    } catch (error) {
      this.modules.delete(path) // as Node does: a module that threw can be required again
      if (typeof error === 'object' && error !== null && !errorOrigins.has(error))
        errorOrigins.set(error, path)
      throw error
    }
    record.module.loaded = true
    return record
  }

  require(from: ModuleRecord, specifier: string): any {
    const target = this.resolve(from, specifier)
    if ('host' in target) return this.hostRequire(target.host)
    from.deps.add(target.hot)
    if (isNativeAddon(target.hot)) {
      if (!from.loadsAddons) throw new NativeAddonRequireError(target.hot, from.path)
      return this.hostRequire(join(this.dir, target.hot))
    }
    return this.load(target.hot).module.exports
  }

  resolveFilename(from: ModuleRecord, specifier: string): string {
    const target = this.resolve(from, specifier)
    return 'host' in target ? this.hostRequire.resolve(target.host) : join(this.dir, target.hot)
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
    if (inside.startsWith('..') || isAbsolute(inside)) {
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

  /** Source text: the verified bytes while preparing, the file on disk (re-verified) afterwards. */
  private source(path: string): string {
    const bytes = this.contents?.get(path)
    if (bytes) return bytes.toString('utf8')
    const file = this.manifest.files[path]!
    const read = readFileSync(join(this.dir, path))
    if (sha256(read) !== file.sha256) {
      throw new Error(
        `${path} in ${this.dir} changed on disk after release ${this.version} was verified; ` +
          'release directories must not be modified once loaded',
      )
    }
    return read.toString('utf8')
  }
}
