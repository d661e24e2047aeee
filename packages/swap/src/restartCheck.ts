/**
 * What the engine's refuse phase would turn down as restart-required, seen before publishing:
 * given the manifest of the release the machines run now (`checkRelease`'s `previous`), the
 * native addons the new release adds, changes or removes, and the modules an upgrade would
 * evaluate again (changed, added, or importing or requiring one, transitively) that require a
 * `.node` file. The same scans as `refuse.ts`; the rest of refuse (ABI, host package versions)
 * needs the machine itself.
 */
import { diffManifests, isNativeAddon, type ModuleManifest } from '@relup/core'
import type { ReleaseProblem } from './errors.js'
import { positionAt } from './importCheck.js'
import { addonChanges, addonRequires } from './refuse.js'
import type { Release } from './release.js'

const RESTART_ADVICE = 'deploy it as a new base build (restart the machines), not as a hot upgrade'

/** `named`: each checked module and the release files it imports or requires. */
export function restartProblems(
  release: Release,
  previous: ModuleManifest,
  named: Map<string, string[]>,
): ReleaseProblem[] {
  const diff = diffManifests(previous, release.manifest)
  const problems: ReleaseProblem[] = addonChanges(diff, previous, release.manifest).map(
    ({ path, change }) => ({
      kind: 'restart-required',
      file: path,
      message:
        `native addon ${change} since the release the machines run: addons cannot be loaded or unloaded ` +
        `by a hot upgrade, so the machines refuse it as restart-required; ${RESTART_ADVICE}`,
    }),
  )
  const dependents = new Map<string, string[]>()
  for (const [path, files] of named) {
    for (const file of files) dependents.set(file, [...(dependents.get(file) ?? []), path])
  }
  const evaluated = new Set<string>()
  const queue = [...diff.added, ...diff.changed]
  while (queue.length > 0) {
    const path = queue.pop()!
    if (evaluated.has(path)) continue
    evaluated.add(path)
    queue.push(...(dependents.get(path) ?? []))
  }
  for (const path of [...evaluated].sort()) {
    if (!named.has(path) || isNativeAddon(path)) continue
    const source = release.read(path)
    for (const { specifier, index } of addonRequires(source)) {
      problems.push({
        kind: 'restart-required',
        file: path,
        ...positionAt(source, index),
        message:
          `requires the native addon ${specifier}, and an upgrade from the release the machines run ` +
          `evaluates this module again (${diff.changed.includes(path) || diff.added.includes(path) ? 'it changed' : 'it imports a changed module'}): ` +
          `only the base release may load native addons, so the machines refuse it as restart-required; ${RESTART_ADVICE}`,
      })
    }
  }
  return problems
}
