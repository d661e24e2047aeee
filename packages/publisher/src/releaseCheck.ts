/**
 * The checks before anything is published: the hot code is loaded with the machines' own rules
 * (`checkRelease` of `@relup/swap`, the engine's loader applied without evaluating anything), so
 * a release that would only fail on the machines is stopped here, naming file and line. The host
 * packages it imports are resolved from the hot directory, as a machine resolves them from its
 * app, and their versions go into the manifest that is signed and published: a machine whose
 * host resolves another version refuses the upgrade as restart-required.
 */
import type { PackedArtifact } from '@relup/artifact'
import { PackError } from '@relup/artifact'
import { type ModuleManifest, manifestMismatches, summarizeMismatches } from '@relup/core'
import type { ReleaseCheck } from '@relup/swap'
import { describeProblem, ReleaseCheckError } from './errors.js'

export interface CheckHotCodeOptions {
  /**
   * The manifest of the release the machines run now, when known (the pointer's hot upgrade on
   * the same base): then what they would refuse as restart-required (native addons) is found too.
   */
  previous?: ModuleManifest | undefined
  /** Receives each warning: `require()`/`import()` of host packages that cannot be found. */
  warn?: ((message: string) => void) | undefined
  /** Which command runs the checks, for the error's message. Default `'publish'`. */
  command?: 'publish' | 'pack' | undefined
}

/**
 * The checks already run on a hot directory (by `planPublish`), so that `publish` does not run
 * them a second time: what they found, and against which release of the machines they ran.
 */
export interface CheckedHotCode {
  dir: string
  /** The base the checks were for, and the pointer's hot upgrade on it they compared with (null: none). */
  base: string | undefined
  against: string | null
  /** The check, or the problems it found. */
  outcome: ReleaseCheck | ReleaseCheckError
}

/**
 * Check a hot code directory as the machines will load it. Resolves with the check (its
 * `hostPackages` are what `manifestToPublish` records); rejects with a `ReleaseCheckError` naming
 * every problem when there is one. Nothing is written anywhere.
 */
export async function checkHotCode(dir: string, options: CheckHotCodeOptions = {}): Promise<ReleaseCheck> {
  // Loaded only when checking: the transformer it brings is not needed by status or rollback.
  const { checkRelease } = await import('@relup/swap')
  const check = await checkRelease(dir, { previous: options.previous })
  for (const warning of check.warnings) options.warn?.(describeProblem(warning))
  if (!check.ok) throw new ReleaseCheckError(dir, check.problems, options.command)
  return check
}

/**
 * The manifest to publish for what was packed: pack's, with the host package versions the check
 * found (none recorded without a check: machines then do not compare them). The files packed must
 * be the ones checked: a build still writing is refused.
 */
export function manifestToPublish(
  dir: string,
  packed: PackedArtifact,
  check: ReleaseCheck | null,
): ModuleManifest {
  if (!check?.manifest) return packed.manifest
  const changed = manifestMismatches(check.manifest, packed.manifest)
  if (changed.length > 0) {
    throw new PackError(
      dir,
      '',
      `changed after it was checked (${summarizeMismatches(changed)}). Publish again once the build has finished.`,
    )
  }
  if (Object.keys(check.hostPackages).length === 0) return packed.manifest
  return { ...packed.manifest, hostPackages: sortedByName(check.hostPackages) }
}

function sortedByName(versions: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(versions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
