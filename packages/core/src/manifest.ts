/**
 * The module manifest: what a hot release contains, file by file. The swap engine diffs two
 * manifests to reload only what changed and to refuse what cannot be hot-swapped.
 */
import { createHash } from 'node:crypto'
import { sha256Hex } from './patterns.js'
import {
  array,
  nullable,
  number,
  object,
  optional,
  parseWith,
  record,
  type Schema,
  string,
} from './schema.js'

export interface ManifestFile {
  sha256: string
  size: number
}

export interface ModuleManifest {
  /** Relative POSIX paths inside the release directory → content hash and size. */
  files: Record<string, ManifestFile>
  /** Relative paths of native addons (`.node` files) the release contains. */
  nativeAddons: string[]
  /** `process.versions.modules` the release was built for, when it matters (it has native addons). */
  nodeAbi: string | null
  /**
   * The host packages the hot code imports (bare specifiers, resolved from the hot directory as a
   * machine resolves them) and the version the publisher found for each: a machine whose host
   * resolves another version refuses the upgrade as restart-required. Absent: not checked.
   */
  hostPackages?: Record<string, string> | undefined
}

const relativePath = string({
  pattern: /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[^\0\\]+$/,
  what: 'a relative POSIX path without "." or ".." segments',
})

export const moduleManifestSchema: Schema<ModuleManifest> = object<ModuleManifest>({
  files: record(
    object<ManifestFile>({ sha256: sha256Hex, size: number({ integer: true, min: 0 }) }),
    relativePath,
  ),
  nativeAddons: array(relativePath),
  nodeAbi: nullable(string({ nonEmpty: true })),
  hostPackages: optional(record(string({ nonEmpty: true }))),
})

export function parseModuleManifest(input: unknown, key?: string): ModuleManifest {
  return parseWith(moduleManifestSchema, input, { document: 'module manifest', key })
}

export const isNativeAddon = (path: string) => path.endsWith('.node')

export interface ManifestDiff {
  added: string[]
  changed: string[]
  removed: string[]
  unchanged: string[]
  /** True when any `.node` file was added, changed or removed: that needs a restart. */
  nativeAddonsChanged: boolean
  /** The `.node` files among added, changed and removed. */
  changedNativeAddons: string[]
}

/** Compare two manifests file by file (sorted output, so results are stable). */
export function diffManifests(previous: ModuleManifest, next: ModuleManifest): ManifestDiff {
  const added: string[] = []
  const changed: string[] = []
  const removed: string[] = []
  const unchanged: string[] = []
  for (const [path, file] of Object.entries(next.files)) {
    const before = previous.files[path]
    if (!before) added.push(path)
    else if (before.sha256 !== file.sha256 || before.size !== file.size) changed.push(path)
    else unchanged.push(path)
  }
  for (const path of Object.keys(previous.files)) if (!(path in next.files)) removed.push(path)
  for (const list of [added, changed, removed, unchanged]) list.sort()

  const declared = new Set([...previous.nativeAddons, ...next.nativeAddons])
  const changedNativeAddons = [...added, ...changed, ...removed].filter(
    (path) => isNativeAddon(path) || declared.has(path),
  )
  const addonSet = (manifest: ModuleManifest) => [...manifest.nativeAddons].sort().join('\n')
  const nativeAddonsChanged = changedNativeAddons.length > 0 || addonSet(previous) !== addonSet(next)
  return { added, changed, removed, unchanged, nativeAddonsChanged, changedNativeAddons }
}

/**
 * How `actual` differs from the manifest a release was published with (`expected`), one line
 * per problem, empty when they match: the check before any file of a release is trusted.
 */
export function manifestMismatches(expected: ModuleManifest, actual: ModuleManifest): string[] {
  const diff = diffManifests(expected, actual)
  const problems: string[] = []
  // Quoted: a path from an archive may hold characters that would hide in a message.
  const name = (path: string) => JSON.stringify(path)
  for (const path of diff.removed) problems.push(`${name(path)} is missing`)
  for (const path of diff.changed) {
    const found = actual.files[path]!
    const wanted = expected.files[path]!
    problems.push(
      `${name(path)} has sha256 ${found.sha256.slice(0, 12)}…, expected ${wanted.sha256.slice(0, 12)}…`,
    )
  }
  for (const path of diff.added) problems.push(`${name(path)} is not in the manifest`)
  const addons = (manifest: ModuleManifest) => [...manifest.nativeAddons].sort().join(', ')
  if (addons(expected) !== addons(actual))
    problems.push(`the native addons listed differ ([${addons(expected)}] → [${addons(actual)}])`)
  return problems
}

/**
 * A short content identity of a release (16 hex characters of the sha256 of its files and
 * addons, in canonical order): the same files give the same digest wherever they were hashed.
 */
export function manifestDigest(manifest: ModuleManifest): string {
  const files = Object.keys(manifest.files)
    .sort()
    .map((path) => `${path}\0${manifest.files[path]!.sha256}\0${manifest.files[path]!.size}`)
  return createHash('sha256')
    .update(`${files.join('\n')}\n${[...manifest.nativeAddons].sort().join('\n')}`)
    .digest('hex')
    .slice(0, 16)
}

/** The first few problems of `manifestMismatches`, for a message. */
export function summarizeMismatches(problems: string[], shown = 5): string {
  const head = problems.slice(0, shown).join('; ')
  return problems.length > shown ? `${head}; and ${problems.length - shown} more` : head
}
