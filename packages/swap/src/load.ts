/**
 * The first load: evaluate the base release and start its units. Either everything starts, or
 * a `ReleaseLoadError` names what failed and nothing stays started.
 */
import { describeError, HotModuleError, ReleaseLoadError } from './errors.js'
import { staticDependencies } from './refuse.js'
import { moduleThatThrew, type Release } from './release.js'
import { type ScopeOptions, UnitInstance } from './unit.js'
import { bindUnits, type UnitBinding, UnitDefinitionProblem } from './unitBinding.js'
import { initialState } from './unitState.js'

export async function loadBase(
  base: Release,
  scope: (unit: string) => ScopeOptions,
  disposeTimeout: number,
): Promise<void> {
  let bindings: UnitBinding[]
  try {
    base.staticDependencies = staticDependencies(base)
    for (const path of base.entryPaths()) base.load(path)
    bindings = bindUnits(base)
  } catch (error) {
    const module = error instanceof UnitDefinitionProblem ? error.module : moduleThatThrew(error)
    // A broken loading rule names its file and line itself.
    const problem =
      error instanceof HotModuleError
        ? error.message
        : `${module ? `${module}: ` : ''}${describeError(error)}`
    throw new ReleaseLoadError(base.dir, problem, { module, cause: error })
  }
  for (const { name, definition, record } of bindings) {
    try {
      const instance = UnitInstance.start(
        name,
        definition,
        record.path,
        scope(name),
        initialState(definition),
      )
      base.units.set(name, instance)
    } catch (error) {
      await Promise.all([...base.units.values()].map((instance) => instance.dispose(disposeTimeout)))
      throw new ReleaseLoadError(base.dir, `unit ${name} could not start (${describeError(error)})`, {
        module: record.path,
        cause: error,
      })
    }
  }
}
