/**
 * What cannot be hot-swapped, decided from manifests and file contents only, before anything of
 * the new release is evaluated.
 */
import { diffManifests, type ManifestDiff, type ModuleManifest } from '@relup/core'
import { RestartRequiredError } from './errors.js'

interface Versions {
  fromVersion: string
  version: string
}

/** A release for another ABI, or with added, changed or removed native addons. */
export function refuseIncompatible(
  previous: ModuleManifest,
  next: ModuleManifest,
  versions: Versions,
): ManifestDiff {
  if (next.nodeAbi !== null && next.nodeAbi !== process.versions.modules) {
    throw new RestartRequiredError(
      'node-abi',
      [
        `built for ABI ${next.nodeAbi}, this process runs ABI ${process.versions.modules} (Node ${process.version})`,
      ],
      versions,
    )
  }
  const diff = diffManifests(previous, next)
  if (diff.nativeAddonsChanged) {
    const detail = diff.changedNativeAddons.map((path) => {
      const how = !(path in previous.files) ? 'added' : !(path in next.files) ? 'removed' : 'changed'
      return `${path} ${how}`
    })
    if (detail.length === 0)
      detail.push(`declared addons differ: [${previous.nativeAddons}] → [${next.nativeAddons}]`)
    throw new RestartRequiredError('native-addon', detail, versions)
  }
  return diff
}

const ADDON_REQUIRE = /\brequire\s*\(\s*(['"`])([^'"`\n]+?\.node)\1\s*\)/g

/** Modules about to be (re)evaluated that require a `.node` file literally. */
export function refuseAddonRequires(
  paths: string[],
  contents: Map<string, Buffer>,
  versions: Versions,
): void {
  const detail: string[] = []
  for (const path of paths) {
    const source = contents.get(path)?.toString('utf8')
    if (!source?.includes('.node')) continue
    for (const match of source.matchAll(ADDON_REQUIRE)) detail.push(`${path} requires ${match[2]}`)
  }
  if (detail.length > 0) throw new RestartRequiredError('native-addon', detail, versions)
}

/**
 * The dependencies a release's own `package.json` declares. They resolve to the host's copy, which
 * never reloads, so adding or changing one needs a new base build (removing one is harmless).
 */
export function staticDependencies(contents: Map<string, Buffer>): Record<string, string> {
  const manifest = contents.get('package.json')
  if (!manifest) return {}
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(manifest.toString('utf8'))
  } catch {
    return {}
  }
  const merged: Record<string, string> = {}
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    const value = parsed[field]
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
