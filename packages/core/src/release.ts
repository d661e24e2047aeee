/**
 * `@relup/core/release`: a release directory on disk, read the one way every part of relup
 * reads it (`pack`, the swap engine, the runtime): which paths a release may hold, the walker
 * with its rule for links, and the streamed module manifest. Unlike `@relup/core`, this entry
 * reads the filesystem.
 */
export { ReleaseTreeError } from './errors.js'
export {
  buildManifest,
  hashFile,
  type ManifestOptions,
  manifestOfDirectory,
  sha256Of,
} from './releaseManifest.js'
export { type Claim, type EntryKind, printable, ReleasePaths, releasePathProblem } from './releasePath.js'
export { type ReleaseEntry, type ReleaseTree, type WalkOptions, walkRelease } from './releaseTree.js'
