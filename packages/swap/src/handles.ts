/**
 * Stable handles: what the cold part of the app holds. They keep no reference to any version;
 * every property access or call looks the current one up (Erlang's `Mod:f()`). Whatever a caller
 * copies out of a handle (`const f = handle.f`) is that version's value and stays so.
 */
import type { CallStats } from './callStats.js'
import { isNamespace } from './esmLinker.js'
import type { Gate } from './gate.js'
import type { UnitInstance } from './unit.js'

interface ModuleHandleBackend {
  /** The module's release-relative path, for messages. */
  path: string
  /** The current version's exports and its version name, or a throw naming why there are none. */
  current: () => { exports: any; version: string }
  /** Counts each call for the version that serves it (calls, throws and rejections, responses). */
  calls: CallStats
}

/**
 * What a call of the handle calls: the exports themselves when they are a function
 * (`module.exports = fn`), else the default export when it is one: an ES module's
 * `export default function`, or `exports.default` of CommonJS compiled from TypeScript or Babel
 * (marked `__esModule`).
 */
export function callableExport(exports: unknown): ((...args: unknown[]) => unknown) | undefined {
  if (typeof exports === 'function') return exports as (...args: unknown[]) => unknown
  if (typeof exports !== 'object' || exports === null) return undefined
  const marked = isNamespace(exports) || (exports as { __esModule?: unknown }).__esModule === true
  const fallback = marked ? (exports as { default?: unknown }).default : undefined
  return typeof fallback === 'function' ? (fallback as (...args: unknown[]) => unknown) : undefined
}

/**
 * A proxy over the current exports of one module. Its target is a function, so the same handle
 * can be called (or constructed) whenever the current version exports a function, or has a
 * default export that is one, whatever an earlier or later version exports. Named exports (an ES
 * module's, or CommonJS `exports.name`) are its properties; `handle.default` is the default export.
 */
export function createModuleHandle({ path, current, calls }: ModuleHandleBackend): any {
  // Primitive exports (`module.exports = 42`) read like their wrapper object.
  const currentExports = () => Object(current().exports)
  const currentFunction = (use: 'called' | 'constructed') => {
    const { exports, version } = current()
    const callable = callableExport(exports)
    if (callable) return { callable, version }
    const what =
      exports === null
        ? 'null'
        : isNamespace(exports)
          ? 'an ES module without a default export function'
          : typeof exports === 'object'
            ? 'an object'
            : `a ${typeof exports}`
    throw new TypeError(
      `module ${path} of release ${version} exports ${what}, not a function, so its handle cannot be ${use}`,
    )
  }
  // Strict-mode function: its only non-configurable own key is `prototype`.
  const target = function hotModule() {}
  const handle: any = new Proxy(target, {
    get: (_, key) => {
      const exports = currentExports()
      // A default export called through the handle: frameworks read its arity and name
      // (Express tells an error handler by `length === 4`), so they are the callable's.
      if ((key === 'length' || key === 'name') && !Reflect.has(exports, key)) {
        const callable = callableExport(current().exports)
        if (callable) return callable[key]
      }
      return Reflect.get(exports, key)
    },
    set: (_, key, value) => Reflect.set(currentExports(), key, value),
    has: (_, key) => Reflect.has(currentExports(), key),
    ownKeys: (t) => {
      const keys = new Set<string | symbol>(Reflect.ownKeys(currentExports()))
      for (const key of Reflect.ownKeys(t)) {
        if (!Reflect.getOwnPropertyDescriptor(t, key)?.configurable) keys.add(key)
      }
      return [...keys]
    },
    getOwnPropertyDescriptor: (t, key) => {
      const own = Reflect.getOwnPropertyDescriptor(t, key)
      if (own && !own.configurable) return own
      const descriptor = Reflect.getOwnPropertyDescriptor(currentExports(), key)
      return descriptor ? { ...descriptor, configurable: true } : undefined
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(currentExports()),
    apply: (_, thisArg, args) => {
      const { callable, version } = currentFunction('called')
      return calls.call(version, callable, thisArg, args)
    },
    construct: (_, args, newTarget) => {
      const { callable } = currentFunction('constructed')
      return Reflect.construct(callable, args, newTarget === handle ? callable : newTarget)
    },
  })
  return handle
}

interface UnitHandleBackend {
  gate: Gate
  calls: CallStats
  /** The current instance, or a throw naming why there is none. */
  current: () => UnitInstance
}

/**
 * A proxy over the current instance of one unit. Methods always return a promise: a call that
 * arrives while the unit is suspended waits at its gate, then runs on whatever version is current.
 */
export function createUnitHandle({ gate, current, calls }: UnitHandleBackend): any {
  const methods = new Map<PropertyKey, (...args: unknown[]) => Promise<unknown>>()

  const invoke = (key: PropertyKey, args: unknown[]): Promise<unknown> => {
    try {
      const instance = current()
      const method = instance.api[key]
      if (typeof method !== 'function') {
        throw new TypeError(`unit ${instance.name} (${instance.version}) has no method ${String(key)}`)
      }
      return calls.run(instance.version, args, () =>
        gate.run(`${instance.name}.${String(key)}()`, () => method.apply(instance.api, args)),
      )
    } catch (error) {
      return Promise.reject(error)
    }
  }

  const method = (key: PropertyKey) => {
    let wrapper = methods.get(key)
    if (!wrapper) {
      wrapper = (...args: unknown[]) => gate.pass(() => invoke(key, args))
      methods.set(key, wrapper)
    }
    return wrapper
  }

  const read = (key: PropertyKey): unknown => {
    let instance: UnitInstance
    try {
      instance = current()
    } catch (error) {
      // No current instance (unit removed, engine closed): calls reject with the reason.
      if (key === 'then' || typeof key === 'symbol') return undefined
      return (..._args: unknown[]) => Promise.reject(error)
    }
    const value = instance.api[key]
    return typeof value === 'function' ? method(key) : value
  }

  return new Proxy(Object.create(null), {
    get: (_, key) => read(key),
    has: (_, key) => {
      try {
        return key in current().api
      } catch {
        return false
      }
    },
    ownKeys: () => {
      try {
        return Reflect.ownKeys(current().api)
      } catch {
        return []
      }
    },
    getOwnPropertyDescriptor: (_, key) => {
      try {
        const api = current().api
        if (!Object.hasOwn(api, key)) return undefined
        return { value: read(key), enumerable: true, configurable: true, writable: false }
      } catch {
        return undefined
      }
    },
    set: () => false,
  })
}
