/**
 * What becomes of a version that stops serving: after a commit, the old modules stop what their
 * top level started and the replaced unit instances are disposed; after a failed upgrade, the
 * modules and instances the new release made are discarded. Disposal never rolls anything back.
 */
import type { DisposeFailure, Logger } from '@relup/core'
import { describeError } from './errors.js'
import type { ModuleRecord, Release } from './release.js'
import type { UnitInstance } from './unit.js'

interface Retiring {
  readonly disposeTimeout: number
  readonly log: Logger
}

/**
 * After the commit: modules the new release did not keep stop what their top level started
 * (timers, listeners), and their transformed code stays cached until the next upgrade (a rollback
 * then transforms nothing). Returns the warnings about intervals their code left running elsewhere.
 */
export function releaseReplacedModules(from: Release, next: Release, log: Logger): string[] {
  const warnings: string[] = []
  for (const record of from.modules.values()) {
    if (next.modules.get(record.path) === record) continue
    warnings.push(...record.scope.release(from.version))
    if (record.transformed) next.previousTransforms.push(record.transformed)
  }
  for (const warning of warnings) log.warn(warning)
  return warnings
}

/** A failed upgrade: the modules prepare evaluated never served; what their top level started stops. */
export function discardEvaluated(next: Release, reuse: ModuleRecord[]): void {
  const reused = new Set(reuse)
  for (const record of next.modules.values()) if (!reused.has(record)) record.scope.release(next.version)
}

/**
 * Dispose replaced and stopped instances. Apart from the transaction, with no closure over it: an
 * instance's abort reason keeps the stack it was created on, so an old instance the app leaks
 * must not keep the old release too.
 */
export async function disposeReplaced(instances: UnitInstance[], host: Retiring): Promise<DisposeFailure[]> {
  const results = await Promise.all(instances.map((instance) => instance.dispose(host.disposeTimeout)))
  const failures: DisposeFailure[] = []
  results.forEach((errors, index) => {
    const instance = instances[index]!
    for (const error of errors) {
      failures.push({ unit: instance.name, version: instance.version, message: describeError(error) })
      host.log.error(
        `unit ${instance.name} (${instance.version}) failed to dispose: ${describeError(error)}; the engine is ` +
          'degraded (the old instance may still hold resources): restart the process when convenient',
      )
    }
  })
  return failures
}

/** An instance migrate created before a later unit failed: never served, so its failures only warn. */
export async function disposeDiscarded(host: Retiring, instance: UnitInstance): Promise<void> {
  for (const error of await instance.dispose(host.disposeTimeout)) {
    host.log.warn(`discarded instance of unit ${instance.name} failed to dispose: ${describeError(error)}`)
  }
}
