/**
 * Whether a unit's state can cross to the next version faithfully. It crosses as a structured
 * clone, which refuses some values (functions, symbols) and silently changes others: an instance
 * of a class arrives as a plain object without its methods, a `Buffer` as a plain `Uint8Array`,
 * a custom `Error` subclass as an `Error`. Either would give a "completed" upgrade whose every
 * call then fails, so the migration fails instead, naming the path of the value. Plain objects,
 * arrays, Maps, Sets, Dates, RegExps, typed arrays, ArrayBuffers, boxed primitives and the
 * built-in errors cross as they are.
 */

/** Why the value at a path of the state cannot cross, e.g. `ctx.state.c is an instance of Counter`. */
export function crossingProblem(state: unknown, clone: unknown): string | undefined {
  return compare(state, clone, 'ctx.state', new WeakSet())
}

/** Why `state` cannot be cloned at all (structuredClone threw): the path of the first value it refuses. */
export function uncloneableValue(state: unknown): string | undefined {
  return findUncloneable(state, 'ctx.state', new WeakSet())
}

function findUncloneable(value: unknown, path: string, seen: WeakSet<object>): string | undefined {
  if (typeof value === 'function') return `${path} is a function`
  if (typeof value === 'symbol') return `${path} is a symbol`
  if (typeof value !== 'object' || value === null || seen.has(value)) return undefined
  seen.add(value)
  try {
    structuredClone(value)
    return undefined
  } catch {
    // This value (or something in it) is refused: look inside for the first culprit.
  }
  for (const [key, child] of children(value, path)) {
    const found = findUncloneable(child, key, seen)
    if (found) return found
  }
  return `${path} ${describe(value)} cannot be cloned`
}

function compare(original: unknown, clone: unknown, path: string, seen: WeakSet<object>): string | undefined {
  if (typeof original !== 'object' || original === null || seen.has(original)) return undefined
  seen.add(original)
  const prototype = Object.getPrototypeOf(original)
  if (prototype !== Object.getPrototypeOf(clone) && !(prototype === null && isPlainPrototype(clone))) {
    return `${path} ${describe(original)}, which arrives in the next version as ${arrival(clone)}`
  }
  if (isPlainPrototype(original) || prototype === null) {
    const symbols = Object.getOwnPropertySymbols(original).filter((symbol) =>
      Object.prototype.propertyIsEnumerable.call(original, symbol),
    )
    if (symbols.length > 0)
      return `${path} has symbol-keyed properties (${String(symbols[0])}), which are dropped`
  }
  const originals = children(original, path)
  const clones = children(clone as object, path)
  for (let i = 0; i < originals.length; i++) {
    const [childPath, child] = originals[i]!
    const found = compare(child, clones[i]?.[1], childPath, seen)
    if (found) return found
  }
  return undefined
}

/** The values inside a container, in the order structuredClone copies them, with their paths. */
function children(value: object, path: string): Array<[string, unknown]> {
  if (value instanceof Map) {
    return [...value].flatMap(([key, child], index) => [
      [`${path} (Map) key #${index}`, key] as [string, unknown],
      [`${path}.get(${label(key)})`, child] as [string, unknown],
    ])
  }
  if (value instanceof Set) return [...value].map((child, index) => [`${path} (Set) entry #${index}`, child])
  if (
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Date ||
    value instanceof RegExp
  )
    return []
  return Object.keys(value).map((key) => [`${path}${property(key)}`, (value as Record<string, unknown>)[key]])
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

function property(key: string): string {
  if (IDENTIFIER.test(key)) return `.${key}`
  return /^\d+$/.test(key) ? `[${key}]` : `[${JSON.stringify(key)}]`
}

function label(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key)
  if (typeof key === 'number' || typeof key === 'boolean' || typeof key === 'bigint') return String(key)
  return typeof key === 'object' && key !== null ? describe(key).replace(/^is /, '') : String(key)
}

function isPlainPrototype(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

function describe(value: object): string {
  if (typeof Buffer === 'function' && Buffer.isBuffer(value)) return 'is a Buffer'
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor
    ?.name
  return typeof name === 'string' && name !== ''
    ? `is an instance of ${name}`
    : 'is an object with a custom prototype'
}

function arrival(clone: unknown): string {
  if (typeof clone !== 'object' || clone === null) return String(clone)
  const name = (Object.getPrototypeOf(clone) as { constructor?: { name?: unknown } } | null)?.constructor
    ?.name
  return name === 'Object' ? 'a plain object (without its methods)' : `a plain ${String(name)}`
}
