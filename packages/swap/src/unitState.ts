/**
 * A unit's state at the start of an instance: `init()` for a unit that starts for the first time,
 * or the previous instance's state migrated by the new code's `codeChange`. Both run inside the
 * pause, so both must be synchronous.
 */
import { describeError } from './errors.js'
import { crossingProblem, uncloneableValue } from './stateCheck.js'
import { isThenable } from './thenable.js'
import type { UnitDefinition, UnitInstance } from './unit.js'

/** A hook broke the unit contract or threw while migrating; the message says which. */
export class MigrationProblem extends Error {}

export function initialState(definition: UnitDefinition): unknown {
  const state = definition.init?.()
  if (isThenable(state))
    throw new MigrationProblem('init() returned a promise; it must return the state synchronously')
  return state
}

const KEEP_PLAIN =
  'keep plain data in ctx.state (objects, arrays, Map, Set, Date, typed arrays) and rebuild objects with ' +
  'behaviour in create(); sockets, handles and functions belong to the cold part (ctx.deps), the state holds their ids'

/**
 * The old instance's state crosses as a structured clone: plain data, never the old version's
 * objects. A value the clone would refuse or silently change (`stateCheck.ts`) fails the migration.
 */
export function migrateState(
  definition: UnitDefinition,
  previous: UnitInstance,
  revertTo: string | null = null,
): unknown {
  const state = previous.scope.state
  let exported: unknown
  try {
    exported = structuredClone(state)
  } catch (error) {
    const where = uncloneableValue(state)
    throw new MigrationProblem(
      `its state is not plain data: ${where ?? 'it cannot be cloned'} (${describeError(error)}); ${KEEP_PLAIN}`,
    )
  }
  const problem = crossingProblem(state, exported)
  if (problem) throw new MigrationProblem(`its state cannot cross versions: ${problem}; ${KEEP_PLAIN}`)
  // A revert: the newer code (the outgoing instance's) knows how its state maps back.
  const downgrade = revertTo === null ? undefined : previous.definition.downgrade
  if (downgrade) {
    let older: unknown
    try {
      older = downgrade.call(previous.definition, exported, revertTo!)
    } catch (error) {
      throw new MigrationProblem(
        `downgrade(state, '${revertTo}') of ${previous.version} threw ${describeError(error)}`,
        { cause: error },
      )
    }
    if (isThenable(older))
      throw new MigrationProblem('downgrade() returned a promise; it must migrate synchronously')
    return older
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
