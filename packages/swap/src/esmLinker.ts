/**
 * The ES module linker: the functions a transformed ES module calls instead of `import`, and the
 * namespace objects it reads. Linking is synchronous, like `require()` of an ES module in Node:
 * an import evaluates its target (once per release: the release's cache holds one record per
 * module) before the importer's body goes on, in source order. A module that is still evaluating
 * (an import cycle) hands out its namespace as it is: its exports are getters defined before
 * its body runs, so function declarations are there and `let`/`const` throw until initialized,
 * as in ES modules. Every import reads the target's binding on each access (`ns.name`), so an
 * exported `let` that changes is seen by its importers.
 *
 * Interop follows Node: an ES module importing CommonJS (or JSON, or a CommonJS host package)
 * sees `module.exports` as the default export and its keys as named exports; `require()` of an ES
 * module returns its namespace, with `__esModule: true` when it has a default export.
 */
import { isAbsolute, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { types } from 'node:util'
import type { ModuleRecord } from './release.js'

const ESM_TAG = 'Module'

/** A fresh, empty namespace object for an ES module about to run. */
function createNamespace(): Record<string, unknown> {
  const namespace = Object.create(null) as Record<string, unknown>
  Object.defineProperty(namespace, Symbol.toStringTag, { value: ESM_TAG })
  return namespace
}

/** Whether a value is a namespace object: a hot ES module's, or a real one (from `require(esm)`). */
export function isNamespace(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (types.isModuleNamespaceObject(value) ||
      (Object.getPrototypeOf(value) === null &&
        (value as Record<symbol, unknown>)[Symbol.toStringTag] === ESM_TAG))
  )
}

/**
 * The arguments of an ES module's wrapper, in `ESM_PARAMETERS` order; the namespace becomes the
 * record's exports now, so importers in a cycle find it while the module runs.
 */
export function esmParameters(record: ModuleRecord): unknown[] {
  const namespace = createNamespace()
  record.module.exports = namespace
  const staticImport = (specifier: string, options?: { importedNames?: string[] }) =>
    linkImport(record, specifier, options?.importedNames)
  const dynamicImport = (specifier: unknown) => importLater(record, specifier)
  const exportAll = (source: unknown) => reexportAll(namespace, source)
  return [namespace, importMeta(record), staticImport, dynamicImport, exportAll]
}

/** `import … from specifier`: the target's namespace, after checking the names the importer uses. */
function linkImport(record: ModuleRecord, specifier: string, names: string[] | undefined): object {
  const { namespace, record: target } = record.owner.importNamespace(record, specifier)
  // A target still evaluating (a cycle) may not have defined its `export *` names yet.
  if (names && (!target || target.module.loaded)) {
    for (const name of names) {
      if (name in namespace) continue
      const commonjs = target ? target.format !== 'module' : !isNamespace(namespace)
      throw new SyntaxError(
        `The requested module '${specifier}' does not provide an export named '${name}' (imported by ` +
          `${record.path})${commonjs ? '; it is a CommonJS module: import its default export and read the property' : ''}`,
      )
    }
  }
  return namespace
}

/** `import(specifier)`: a hot module through this release's cache, a host module through Node's loader. */
async function importLater(record: ModuleRecord, specifier: unknown): Promise<unknown> {
  const text = String(specifier)
  const release = record.owner
  const target = release.resolveFrom(record.path, text, record.probes)
  if ('problem' in target) throw Object.assign(new Error(target.problem), { code: 'ERR_MODULE_NOT_FOUND' })
  if ('host' in target) return release.settings.hostImport(target.host)
  return release.importNamespace(record, text).namespace
}

/** `export * from source`: every name but `default` the module does not export itself. */
function reexportAll(namespace: Record<string, unknown>, source: unknown): void {
  if ((typeof source !== 'object' && typeof source !== 'function') || source === null) return
  for (const key of Object.keys(source)) {
    if (key === 'default' || key === '__esModule' || Object.hasOwn(namespace, key)) continue
    Object.defineProperty(namespace, key, {
      enumerable: true,
      configurable: true,
      get: () => (source as Record<string, unknown>)[key],
    })
  }
}

/** `import.meta` of a hot module: where it was evaluated from, and how it resolves specifiers. */
function importMeta(record: ModuleRecord): object {
  const { filename, path: dirname } = record.module
  return {
    url: pathToFileURL(filename).href,
    filename,
    dirname,
    main: false,
    resolve(specifier: string): string {
      const target = record.owner.resolveFrom(record.path, specifier)
      if ('problem' in target)
        throw Object.assign(new Error(target.problem), { code: 'ERR_MODULE_NOT_FOUND' })
      if ('hot' in target) return pathToFileURL(join(record.owner.dir, target.hot)).href
      if (target.host.startsWith('node:')) return target.host
      const resolved = record.owner.settings.hostRequire.resolve(target.host)
      return isAbsolute(resolved) ? pathToFileURL(resolved).href : `node:${resolved}`
    },
  }
}

/** The namespace an ES module's `import` sees for a record or a host module's exports. */
export function namespaceOf(target: ModuleRecord | unknown): object {
  if (isRecord(target)) {
    if (target.format === 'module') return target.module.exports
    if (target.views.namespace) return target.views.namespace
    const namespace = commonJsNamespace(() => target.module.exports)
    // Its keys are known once it has run; a module still running (a cycle) gets a fresh view later.
    if (target.module.loaded) target.views.namespace = namespace
    return namespace
  }
  if (isNamespace(target)) return target as object
  const cacheable = (typeof target === 'object' || typeof target === 'function') && target !== null
  const cached = cacheable ? hostNamespaces.get(target as object) : undefined
  if (cached) return cached
  const namespace = commonJsNamespace(() => target)
  if (cacheable) hostNamespaces.set(target as object, namespace)
  return namespace
}

const hostNamespaces = new WeakMap<object, object>()

function isRecord(value: unknown): value is ModuleRecord {
  return (
    typeof value === 'object' && value !== null && 'scope' in value && 'owner' in value && 'views' in value
  )
}

/** CommonJS as an ES module sees it: `default` is `module.exports`, its other keys are named exports. */
function commonJsNamespace(exports: () => unknown): object {
  const namespace = createNamespace()
  Object.defineProperty(namespace, 'default', { enumerable: true, get: exports })
  const value = exports()
  if ((typeof value === 'object' || typeof value === 'function') && value !== null) {
    for (const key of Object.keys(value)) {
      if (key === 'default') continue
      Object.defineProperty(namespace, key, {
        enumerable: true,
        get: () => (exports() as Record<string, unknown>)[key],
      })
    }
  }
  return namespace
}

/** What `require()` of an ES module returns: its namespace, marked `__esModule` when it has a default export. */
export function requireViewOf(record: ModuleRecord): object {
  const namespace = record.module.exports as Record<string, unknown>
  if (!record.module.loaded || !('default' in namespace)) return namespace
  if (record.views.required) return record.views.required
  const view = createNamespace()
  Object.defineProperty(view, '__esModule', { value: true, enumerable: true })
  for (const key of Object.keys(namespace)) {
    Object.defineProperty(view, key, { enumerable: true, get: () => namespace[key] })
  }
  record.views.required = view
  return view
}
