/**
 * A deliberately small validator: relup's documents are few and flat, and a precise
 * "which field, what was wrong" message matters more than a general schema language.
 * Validators check and return the input unchanged, so unknown (newer) fields survive a
 * round trip and signatures over documents stay verifiable.
 */
import { DocumentError } from './errors.js'

export type Schema<T> = (value: unknown, path: string) => T

export class SchemaIssue extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path || '(root)'} ${problem}`)
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

const fail = (path: string, expected: string, value: unknown): never => {
  throw new SchemaIssue(path, `must be ${expected}, got ${describe(value)}`)
}

const join = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key

export function string(
  options: { nonEmpty?: boolean; pattern?: RegExp; what?: string } = {},
): Schema<string> {
  const what = options.what ?? (options.nonEmpty ? 'a non-empty string' : 'a string')
  return (value, path) => {
    if (typeof value !== 'string') return fail(path, what, value)
    if (options.nonEmpty && value.length === 0) return fail(path, what, value)
    if (options.pattern && !options.pattern.test(value)) return fail(path, what, value)
    return value
  }
}

export function number(options: { integer?: boolean; min?: number; max?: number } = {}): Schema<number> {
  const what = `${options.integer ? 'an integer' : 'a number'}${options.min !== undefined ? ` >= ${options.min}` : ''}${options.max !== undefined ? ` <= ${options.max}` : ''}`
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return fail(path, what, value)
    if (options.integer && !Number.isInteger(value)) return fail(path, what, value)
    if (options.min !== undefined && value < options.min) return fail(path, what, value)
    if (options.max !== undefined && value > options.max) return fail(path, what, value)
    return value
  }
}

export const boolean: Schema<boolean> = (value, path) =>
  typeof value === 'boolean' ? value : fail(path, 'a boolean', value)

export function literal<const T extends string | number | boolean>(expected: T): Schema<T> {
  return (value, path) => (value === expected ? expected : fail(path, JSON.stringify(expected), value))
}

export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  return (value, path) =>
    values.includes(value as T)
      ? (value as T)
      : fail(path, `one of ${values.map((v) => `"${v}"`).join(', ')}`, value)
}

export function nullable<T>(inner: Schema<T>): Schema<T | null> {
  return (value, path) => (value === null ? null : inner(value, path))
}

export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return (value, path) => (value === undefined ? undefined : inner(value, path))
}

export function array<T>(item: Schema<T>): Schema<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) return fail(path, 'an array', value)
    value.forEach((entry, index) => {
      item(entry, join(path, index))
    })
    return value as T[]
  }
}

export function record<T>(item: Schema<T>, key?: Schema<string>): Schema<Record<string, T>> {
  return (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return fail(path, 'an object', value)
    for (const [name, entry] of Object.entries(value)) {
      key?.(name, join(path, name))
      item(entry, join(path, name))
    }
    return value as Record<string, T>
  }
}

export type Shape<T> = { [K in keyof T]-?: Schema<T[K]> }

export function object<T>(shape: Shape<T>): Schema<T> {
  return (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return fail(path, 'an object', value)
    const input = value as Record<string, unknown>
    for (const key of Object.keys(shape) as (keyof T & string)[]) {
      const check = shape[key] as Schema<unknown>
      const field = join(path, key)
      if (input[key] === undefined) {
        try {
          check(undefined, field)
        } catch {
          throw new SchemaIssue(field, 'is missing')
        }
        continue
      }
      check(input[key], field)
    }
    return value as T
  }
}

/**
 * Parse (JSON text or bytes, or an already-decoded value) and validate a document.
 * Throws a `DocumentError` that names the document, its key and the offending field.
 */
export function parseWith<T>(
  schema: Schema<T>,
  input: unknown,
  context: { document: string; key?: string | undefined },
): T {
  let value = input
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : new TextDecoder().decode(input)
    try {
      value = JSON.parse(text)
    } catch (error) {
      throw new DocumentError({
        document: context.document,
        key: context.key,
        field: '',
        problem: `is not valid JSON (${(error as Error).message})`,
      })
    }
  }
  try {
    return schema(value, '')
  } catch (error) {
    if (error instanceof SchemaIssue) {
      throw new DocumentError({
        document: context.document,
        key: context.key,
        field: error.path,
        problem: error.problem,
      })
    }
    throw error
  }
}
