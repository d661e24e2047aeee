/**
 * A unit's state at the start of an instance: `init()` for a unit that starts for the first time,
 * or the previous instance's state migrated by the new code's `codeChange`. Both run inside the
 * pause, so both must be synchronous.
 */
import { describeError } from './errors.js'
import { isThenable, type UnitDefinition, type UnitInstance } from './unit.js'

/** A hook broke the unit contract or threw while migrating; the message says which. */
export class MigrationProblem extends Error {}

export function initialState(definition: UnitDefinition): unknown {
  const state = definition.init?.()
  if (isThenable(state))
    throw new MigrationProblem('init() returned a promise; it must return the state synchronously')
  return state
}

/** The old instance's state crosses as a structured clone: plain data, never the old version's objects. */
export function migrateState(definition: UnitDefinition, previous: UnitInstance): unknown {
  let exported: unknown
  try {
    exported = structuredClone(previous.scope.state)
  } catch (error) {
    throw new MigrationProblem(
      `its state is not plain data (${describeError(error)}); keep only structured-clone-able values in ctx.state`,
    )
  }
  if (!definition.codeChange) return exported
  let migrated: unknown
  try {
    migrated = definition.codeChange(exported, previous.version)
  } catch (error) {
    throw new MigrationProblem(`codeChange(state, '${previous.version}') threw ${describeError(error)}`, {
      cause: error,
    })
  }
  if (isThenable(migrated))
    throw new MigrationProblem('codeChange() returned a promise; it must migrate synchronously')
  return migrated
}
