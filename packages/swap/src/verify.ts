/**
 * Release verification, the same for the first load and for every upgrade: walk the directory
 * with relup's one rule for links (links inside the release are followed, directories included;
 * links out, special files and bad names are refused), stream every file through sha256, and,
 * when the release comes with a published manifest, require the files to match it. No file is
 * held in memory: the evaluator reads each module when it runs it and checks it against the
 * verified manifest, so what was verified is what runs.
 */
import {
  type ModuleManifest,
  manifestMismatches,
  parseModuleManifest,
  summarizeMismatches,
} from '@relup/core'
import { manifestOfDirectory, ReleaseTreeError, walkRelease } from '@relup/core/release'
import { describeError } from './errors.js'

export type Verification =
  | { ok: true; manifest: ModuleManifest }
  | { ok: false; kind: VerificationProblem; problem: string; cause?: unknown }

export type VerificationProblem =
  /** The published manifest is not a manifest. */
  | 'malformed-manifest'
  /** The published manifest says the release was built for another Node ABI. */
  | 'node-abi'
  /** The directory is not a release relup can load (a link out, a special file, a bad name…). */
  | 'release-tree'
  /** The directory could not be read. */
  | 'unreadable'
  /** The files differ from the published manifest. */
  | 'manifest-mismatch'

export interface VerifyOptions {
  /** The manifest the release was published with (unparsed): the files must match it. */
  published?: unknown
  /** Runs on the published manifest before any file is hashed: what it refuses costs no I/O. */
  precheck?: (published: ModuleManifest) => void
  /** The caller verified the files against `published` already: trust it, read nothing. */
  filesVerified?: boolean
}

/** The release's manifest (the published one when given, else the hashed files), or why not. */
export async function verifyRelease(dir: string, options: VerifyOptions = {}): Promise<Verification> {
  let published: ModuleManifest | undefined
  if (options.published !== undefined) {
    try {
      published = parseModuleManifest(options.published)
    } catch (error) {
      const problem = `the manifest is malformed (${describeError(error)})`
      return { ok: false, kind: 'malformed-manifest', problem, cause: error }
    }
    if (published.nodeAbi !== null && published.nodeAbi !== process.versions.modules) {
      const problem = `built for Node ABI ${published.nodeAbi}, this process runs ABI ${process.versions.modules} (Node ${process.version})`
      return { ok: false, kind: 'node-abi', problem }
    }
    options.precheck?.(published)
    if (options.filesVerified) return { ok: true, manifest: published }
  }

  let hashed: ModuleManifest
  try {
    // An empty directory is a release without hot code: loadable, though `pack` refuses it.
    hashed = await manifestOfDirectory(await walkRelease(dir, { requireFiles: false }))
  } catch (error) {
    if (error instanceof ReleaseTreeError) {
      const where = error.path === '' ? '' : `${JSON.stringify(error.path)} `
      return {
        ok: false,
        kind: 'release-tree',
        problem: where + error.problem.replace(/\.$/, ''),
        cause: error,
      }
    }
    const problem = `the directory cannot be read (${describeError(error)})`
    return { ok: false, kind: 'unreadable', problem, cause: error }
  }

  if (published) {
    const problems = manifestMismatches(published, hashed)
    if (problems.length > 0) {
      const problem = `its files do not match the manifest (${summarizeMismatches(problems)})`
      return { ok: false, kind: 'manifest-mismatch', problem }
    }
  }
  return { ok: true, manifest: published ?? hashed }
}
