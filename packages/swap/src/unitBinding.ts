/**
 * Which units a release defines, and which module (that version's code) defines each: a hot
 * module defines units with `exports.units = { name: definition }`.
 */
import type { ModuleRecord, Release } from './release.js'
import { type UnitDefinition, unitDefinitionProblem } from './unit.js'

/** A unit a release defines, and the module record (that version's code) that defines it. */
export interface UnitBinding {
  name: string
  definition: UnitDefinition
  record: ModuleRecord
}

/** A problem with what a module exports as units, found while loading. */
export class UnitDefinitionProblem extends Error {
  constructor(
    readonly module: string,
    message: string,
  ) {
    super(message)
  }
}

/** The units a release defines in its evaluated script modules. */
export function bindUnits(release: Release): UnitBinding[] {
  const bindings: UnitBinding[] = []
  const definedIn = new Map<string, string>()
  for (const record of release.modules.values()) {
    const exported = record.isScript ? record.module.exports : undefined
    if ((typeof exported !== 'object' && typeof exported !== 'function') || exported === null) continue
    const units: unknown = exported.units
    // `exports.units` is reserved for unit definitions; anything but a plain object is ignored.
    if (!isPlainObject(units)) continue
    for (const [name, definition] of Object.entries(units)) {
      const problem = unitDefinitionProblem(definition)
      if (problem)
        throw new UnitDefinitionProblem(record.path, `unit ${name} exported by ${record.path} ${problem}`)
      const other = definedIn.get(name)
      if (other) {
        const sourcesBesideOutput = [other, record.path].some((path) => /\.[cm]?ts$/.test(path))
        const hint = sourcesBesideOutput
          ? '; a release that ships TypeScript sources beside their compiled JavaScript must list its entries (createSwapEngine({ entries }))'
          : ''
        throw new UnitDefinitionProblem(
          record.path,
          `unit ${name} is defined twice, in ${other} and ${record.path}${hint}`,
        )
      }
      definedIn.set(name, record.path)
      bindings.push({ name, definition: definition as UnitDefinition, record })
    }
  }
  return bindings
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
