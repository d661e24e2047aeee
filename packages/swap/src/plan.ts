/**
 * Which modules of the live release the next one can share, and which it must evaluate: a module
 * is reused only if neither it nor anything it required (transitively) changed.
 */
import type { ManifestDiff } from '@relup/core'
import { formatOfExtension } from './moduleFormat.js'
import type { ModuleRecord, Release } from './release.js'

export interface ReloadPlan {
  /** Records shared with the next release, unchanged. */
  reuse: ModuleRecord[]
  /** Paths the next release evaluates while preparing (their requires are evaluated too). */
  evaluate: string[]
}

export function planReload(current: Release, diff: ManifestDiff, nextEntries: string[]): ReloadPlan {
  const added = new Set(diff.added)
  const dependents = new Map<string, string[]>()
  for (const record of current.modules.values()) {
    for (const dep of record.deps) {
      const list = dependents.get(dep)
      if (list) list.push(record.path)
      else dependents.set(dep, [record.path])
    }
  }

  const stale = new Set<string>()
  const queue = [...diff.added, ...diff.changed, ...diff.removed]
  // A package.json that changes may change the format (`type`) of the .js/.ts files below it.
  const packages = queue.filter((path) => path === 'package.json' || path.endsWith('/package.json'))
  for (const manifest of packages) {
    const scope = manifest.slice(0, -'package.json'.length)
    for (const record of current.modules.values()) {
      if (record.path.startsWith(scope) && formatOfExtension(record.path) === 'detect')
        queue.push(record.path)
    }
  }
  // A module that looked for a file that now exists may resolve a require differently.
  for (const record of current.modules.values()) {
    if ([...record.probes].some((probe) => added.has(probe))) queue.push(record.path)
  }
  while (queue.length > 0) {
    const path = queue.pop()!
    if (stale.has(path)) continue
    stale.add(path)
    for (const dependent of dependents.get(path) ?? []) queue.push(dependent)
  }

  const reuse = [...current.modules.values()].filter((record) => !stale.has(record.path))
  const reused = new Set(reuse.map((record) => record.path))
  const evaluate = new Set(nextEntries.filter((path) => !reused.has(path)))
  // Modules the live release had loaded (lazily too) are evaluated now, not on first use.
  const removed = new Set(diff.removed)
  for (const path of stale) if (current.modules.has(path) && !removed.has(path)) evaluate.add(path)
  return { reuse, evaluate: [...evaluate] }
}
