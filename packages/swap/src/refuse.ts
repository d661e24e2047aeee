/**
 * What cannot be hot-swapped, decided before anything of the new release is evaluated: from the
 * manifests, the release's `package.json`, and the sources of the modules about to be evaluated.
 */
import { isNativeAddon, type ManifestDiff, type ModuleManifest } from '@relup/core'
import { RestartRequiredError } from './errors.js'
import type { Release } from './release.js'

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
  if (!diff.nativeAddonsChanged) return
  const detail = diff.changedNativeAddons.map((path) => {
    const how = !(path in previous.files) ? 'added' : !(path in next.files) ? 'removed' : 'changed'
    return `${path} ${how}`
  })
  if (detail.length === 0)
    detail.push(`declared addons differ: [${previous.nativeAddons}] → [${next.nativeAddons}]`)
  throw new RestartRequiredError('native-addon', detail, versions)
}

const ADDON_REQUIRE = /\brequire\s*\(\s*(['"`])([^'"`\n]+?\.node)\1\s*\)/g

/** Modules about to be (re)evaluated that require a `.node` file literally. Reads only those modules. */
export function refuseAddonRequires(release: Release, paths: string[], versions: Versions): void {
  const detail: string[] = []
  for (const path of paths) {
    if (isNativeAddon(path) || !release.has(path)) continue
    const source = release.read(path)
    if (!source.includes('.node')) continue
    for (const match of source.matchAll(ADDON_REQUIRE)) detail.push(`${path} requires ${match[2]}`)
  }
  if (detail.length > 0) throw new RestartRequiredError('native-addon', detail, versions)
}

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
