/** Is a value plain data, the only thing that may cross between two versions of an app? */
import { HandoffNotPlainError } from './errors.js'
import type { PlainData } from './protocol.js'

/** Throws `HandoffNotPlainError` naming the first part that is not plain data. */
export function assertPlain(value: unknown, path = 'state'): asserts value is PlainData {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new HandoffNotPlainError(path, `${value} (not a finite number)`)
    return
  }
  if (typeof value !== 'object') throw new HandoffNotPlainError(path, `a ${typeof value}`)
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) assertPlain(item, `${path}[${index}]`)
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null)
    throw new HandoffNotPlainError(path, `an instance of ${proto?.constructor?.name ?? 'a class'}`)
  for (const [key, item] of Object.entries(value)) assertPlain(item, `${path}.${key}`)
}
