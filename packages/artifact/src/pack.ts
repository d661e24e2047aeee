/**
 * `pack(dir)`: a hot code directory → a deterministic `.tgz` artifact on disk plus its module
 * manifest. The same files give the same bytes (and sha256) whatever their mtimes, modes, owners
 * or the order the filesystem lists them in, so publishing the same build twice is recognisable.
 * Files are streamed one at a time and hashed as they are archived: memory stays flat.
 */
import { createHash, type Hash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, realpath, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { type ManifestFile, type ModuleManifest, ReleaseTreeError } from '@relup/core'
import { buildManifest, type ReleaseEntry, type ReleaseTree, walkRelease } from '@relup/core/release'
import { Header, Pax } from 'tar'
import { ArchiveLimitError, PackError } from './errors.js'
import { type ArchiveLimits, resolveLimits } from './limits.js'

export interface PackOptions {
  /** Where to write the artifact (replaced atomically if it exists). Default: a new file in the OS temp directory. */
  out?: string | undefined
  /** Override the manifest's `nodeAbi` (default: this process's ABI when there are `.node` files, else null). */
  nodeAbi?: string | null | undefined
  /** The caps machines apply when extracting; packing refuses a directory beyond them. */
  limits?: Partial<ArchiveLimits> | undefined
}

export interface PackedArtifact {
  /** Absolute path of the `.tgz` written. */
  path: string
  /** sha256 of the artifact's bytes, lowercase hex. */
  sha256: string
  /** Size of the artifact in bytes. */
  size: number
  manifest: ModuleManifest
}

/** Every entry gets this mtime, mode 0644 (files) or 0755 (directories), uid/gid 0 and no user or group name. */
const ENTRY_MTIME = new Date('2000-01-01T00:00:00.000Z')
const FILE_MODE = 0o644
const DIR_MODE = 0o755
/** Pinned so a change of zlib's default cannot change artifact bytes. */
const GZIP_LEVEL = 6
const BLOCK = 512
const MAX_OCTAL_SIZE = 0o77777777777

export async function pack(dir: string, options: PackOptions = {}): Promise<PackedArtifact> {
  const limits = resolveLimits(options.limits)
  const tree = await walkRelease(dir).catch((error: unknown) => {
    throw error instanceof ReleaseTreeError ? new PackError(error.dir, error.path, error.problem) : error
  })
  checkLimits(tree.entries, limits)

  const out = resolve(options.out ?? join(tmpdir(), `relup-artifact-${randomBytes(8).toString('hex')}.tgz`))
  refuseOutputInside(tree, out, [tree.root, tree.realRoot])
  await mkdir(dirname(out), { recursive: true })
  // Again through real paths, now that the output's directory exists (it may be reached by a link).
  refuseOutputInside(tree, join(await realpath(dirname(out)), basename(out)), [tree.realRoot])
  // Written beside `out` and renamed at the end: a failed pack never leaves half an artifact.
  const partial = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.partial`)
  const files: Record<string, ManifestFile> = {}
  const digest = createHash('sha256')
  const counter = { bytes: 0 }
  try {
    await pipeline(
      tarStream(tree, files),
      createGzip({ level: GZIP_LEVEL }),
      portableGzip(digest, counter),
      createWriteStream(partial, { flags: 'wx' }),
    )
    await rename(partial, out)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  return {
    path: out,
    sha256: digest.digest('hex'),
    size: counter.bytes,
    manifest: buildManifest(files, options.nodeAbi),
  }
}

/** The tar stream: sorted entries, fixed metadata, each file hashed on the way through. */
async function* tarStream(tree: ReleaseTree, files: Record<string, ManifestFile>): AsyncGenerator<Buffer> {
  for (const entry of tree.entries) {
    if (entry.kind === 'dir') {
      yield* headerBlocks(`${entry.path}/`, 'Directory', 0, DIR_MODE)
      continue
    }
    const handle = await open(entry.source, 'r')
    try {
      const { size } = await handle.stat()
      if (size !== entry.size) throw changedWhilePacking(tree, entry)
      yield* headerBlocks(entry.path, 'File', size, FILE_MODE)
      const hash = createHash('sha256')
      let read = 0
      // Chunks are slices of a buffer of highWaterMark bytes: a small file gets a small buffer,
      // or thousands of 256 KiB buffers would be held by a few bytes each while queued.
      const highWaterMark = Math.min(256 * 1024, Math.max(size, 1024))
      for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark })) {
        read += (chunk as Buffer).length
        if (read > size) throw changedWhilePacking(tree, entry)
        hash.update(chunk as Buffer)
        yield chunk as Buffer
      }
      if (read !== size) throw changedWhilePacking(tree, entry)
      if (size % BLOCK !== 0) yield Buffer.alloc(BLOCK - (size % BLOCK))
      files[entry.path] = { sha256: hash.digest('hex'), size }
    } finally {
      await handle.close()
    }
  }
  // End of archive: two zero blocks.
  yield Buffer.alloc(2 * BLOCK)
}

/** A ustar header, preceded by a pax header holding the path when it does not fit (long or non-ASCII). */
function headerBlocks(path: string, type: 'File' | 'Directory', size: number, mode: number): Buffer[] {
  const header = new Header({
    path,
    type,
    size,
    mode,
    mtime: ENTRY_MTIME,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
  })
  const needsPax = header.encode()
  const block = header.block!
  if (!needsPax) return [block]
  const pax = new Pax(size > MAX_OCTAL_SIZE ? { path, size } : { path })
  return [pax.encode(), block]
}

/**
 * Node's gzip header already has no file name and a zero mtime; the OS byte is set to 255
 * ("unknown", RFC 1952) so the bytes do not depend on the platform that packed them. Counts and
 * hashes the compressed bytes on their way to disk.
 */
function portableGzip(digest: Hash, counter: { bytes: number }): Transform {
  const OS_BYTE = 9
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (counter.bytes <= OS_BYTE && counter.bytes + chunk.length > OS_BYTE)
        chunk[OS_BYTE - counter.bytes] = 0xff
      counter.bytes += chunk.length
      digest.update(chunk)
      callback(null, chunk)
    },
  })
}

function checkLimits(entries: ReleaseEntry[], limits: ArchiveLimits): void {
  if (entries.length > limits.maxEntries) {
    throw new ArchiveLimitError({
      limit: 'maxEntries',
      max: limits.maxEntries,
      what: `the directory has ${entries.length} files and directories`,
      side: 'pack',
    })
  }
  let total = 0
  for (const entry of entries) {
    if (entry.size > limits.maxFileBytes) {
      throw new ArchiveLimitError({
        limit: 'maxFileBytes',
        max: limits.maxFileBytes,
        entry: entry.path,
        what: `a file of ${entry.size} bytes`,
        side: 'pack',
      })
    }
    total += entry.size
  }
  if (total > limits.maxTotalBytes) {
    throw new ArchiveLimitError({
      limit: 'maxTotalBytes',
      max: limits.maxTotalBytes,
      what: `the directory holds ${total} bytes of files`,
      side: 'pack',
    })
  }
}

function refuseOutputInside(tree: ReleaseTree, out: string, roots: string[]): void {
  for (const root of roots) {
    const inside = relative(root, out)
    if (inside.split(sep)[0] !== '..' && !isAbsolute(inside)) {
      throw new PackError(
        tree.root,
        '',
        `the output ${out} is inside the directory being packed. Write it elsewhere.`,
      )
    }
  }
}

function changedWhilePacking(tree: ReleaseTree, entry: ReleaseEntry): PackError {
  return new PackError(
    tree.root,
    entry.path,
    'changed while it was being packed. Pack again once the build has finished.',
  )
}
