/**
 * What cannot be hot-swapped, decided before anything of the new release is evaluated: from the
 * manifests, the host packages the release was published against, the release's `package.json`,
 * and the sources of the modules about to be evaluated. `checkRelease` applies the same scans
 * before a release is published, as far as the publisher knows what the machines run.
 */
import { isNativeAddon, type ManifestDiff, type ModuleManifest } from '@relup/core'
import { RestartRequiredError } from './errors.js'
import { NOT_FOUND, resolveHostPackage } from './hostPackages.js'
import type { LoadSettings, Release } from './release.js'

interface Versions {
  fromVersion: string
  version: string
}

/** Added, changed or removed native addons: they can never be unloaded from the main thread. */
export function refuseAddonChanges(
  diff: ManifestDiff,
  previous: ModuleManifest,
  next: ModuleManifest,
  versions: Versions,
): void {
  const detail = addonChanges(diff, previous, next).map(({ path, change }) => `${path} ${change}`.trim())
  if (detail.length > 0) throw new RestartRequiredError('native-addon', detail, versions)
}

/**
 * Each native addon added, changed or removed (`{ path: 'build/fast.node', change: 'added' }`);
 * one entry with an empty path when only the declared list differs; empty when nothing changed.
 */
export function addonChanges(
  diff: ManifestDiff,
  previous: ModuleManifest,
  next: ModuleManifest,
): { path: string; change: string }[] {
  if (!diff.nativeAddonsChanged) return []
  const changes = diff.changedNativeAddons.map((path) => {
    const change = !(path in previous.files) ? 'added' : !(path in next.files) ? 'removed' : 'changed'
    return { path, change }
  })
  if (changes.length === 0)
    changes.push({
      path: '',
      change: `declared addons differ: [${previous.nativeAddons}] → [${next.nativeAddons}]`,
    })
  return changes
}

const ADDON_REQUIRE = /\brequire\s*\(\s*(['"`])([^'"`\n]+?\.node)\1\s*\)/g

/** The literal requires of `.node` files in a module's source: the specifier and where it is written. */
export function addonRequires(source: string): { specifier: string; index: number }[] {
  if (!source.includes('.node')) return []
  return [...source.matchAll(ADDON_REQUIRE)].map((match) => ({ specifier: match[2]!, index: match.index }))
}

/** Modules about to be (re)evaluated that require a `.node` file literally. Reads only those modules. */
export function refuseAddonRequires(release: Release, paths: string[], versions: Versions): void {
  const detail: string[] = []
  for (const path of paths) {
    if (isNativeAddon(path) || !release.has(path)) continue
    for (const { specifier } of addonRequires(release.read(path)))
      detail.push(`${path} requires ${specifier}`)
  }
  if (detail.length > 0) throw new RestartRequiredError('native-addon', detail, versions)
}

/** The version of each host package this process resolved first: packages load once, never again. */
const processVersions = new Map<string, string>()

/**
 * The host packages the release was published against (`manifest.hostPackages`) must resolve,
 * through the host's `require`, to the same versions here: the hot code gets the host's copy,
 * loaded once and never reloaded. A release without them (an older publisher) is not checked.
 */
export function refuseHostPackageChanges(
  published: ModuleManifest,
  settings: Pick<LoadSettings, 'hostRequire' | 'resolvesFrom'>,
  versions: Versions,
): void {
  const detail: string[] = []
  for (const [name, version] of Object.entries(published.hostPackages ?? {}).sort(byName)) {
    const here = resolveHostPackage(settings.hostRequire, name, processVersions)
    if ('problem' in here) {
      const why = here.problem === NOT_FOUND ? NOT_FOUND : `not resolvable (${here.problem})`
      detail.push(`${name} ${why} from ${settings.resolvesFrom} (published ${version})`)
    } else if (here.version !== version)
      detail.push(`${name} ${here.version} (this process) ≠ ${version} (published)`)
  }
  if (detail.length > 0) throw new RestartRequiredError('host-package-versions', detail, versions)
}

const byName = ([a]: [string, string], [b]: [string, string]) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The dependencies a release's own `package.json` declares. They resolve to the host's copy, which
 * never reloads, so adding or changing one needs a new base build (removing one is harmless).
 */
export function staticDependencies(release: Release): Record<string, string> {
  if (!release.has('package.json')) return {}
  const text = release.read('package.json')
  let parsed: Record<string, unknown> | null
  try {
    parsed = JSON.parse(text)
  } catch {
    return {}
  }
  const merged: Record<string, string> = {}
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    const value = parsed?.[field]
    if (typeof value === 'object' && value !== null) Object.assign(merged, value)
  }
  return merged
}

export function refuseStaticDependencyChange(
  previous: Record<string, string>,
  next: Record<string, string>,
  versions: Versions,
): void {
  const detail: string[] = []
  for (const [name, range] of Object.entries(next)) {
    if (!(name in previous)) detail.push(`${name}@${range} added`)
    else if (previous[name] !== range) detail.push(`${name} ${previous[name]} → ${range}`)
  }
  if (detail.length > 0) throw new RestartRequiredError('static-dependencies', detail, versions)
}
