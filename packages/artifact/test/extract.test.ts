import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { isRelupError } from '@relup/core'
import { hashFile, manifestOfDirectory } from '@relup/core/release'
import { describe, expect, it } from 'vitest'
import {
  DestinationExistsError,
  extractArtifact,
  IntegrityError,
  type PackedArtifact,
  pack,
} from '../src/index.js'
import { chunks, sha256, snapshot, tarHeader, tempDir, writeTree } from './helpers.js'

const APP = {
  'index.js': 'module.exports = require("./lib/routes")\n',
  'lib/routes.js': 'exports.hello = () => "hello"\n',
  'lib/addon.node': Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]),
  'assets/big.bin': randomBytes(300_000),
  'assets/empty.txt': '',
}

async function packed(
  files: Record<string, string | Buffer> = APP,
): Promise<{ dir: string; artifact: PackedArtifact }> {
  const root = await tempDir()
  const dir = join(root, 'hot')
  await writeTree(dir, files)
  await mkdir(join(dir, 'empty'))
  return { dir, artifact: await pack(dir, { out: join(root, 'artifact.tgz') }) }
}

/** A place to extract to: `<root>/releases/<name>`, and what `<root>` holds. */
async function target(name = 'v2') {
  const root = await tempDir()
  await writeTree(root, { 'sentinel/keep.txt': 'keep', 'releases/.keep': '' })
  return { root, releases: join(root, 'releases'), dest: join(root, 'releases', name) }
}

/** After a failure: neither the release nor a temporary directory exists beside it. */
async function expectNothingLeft(releases: string) {
  expect(await readdir(releases)).toEqual(['.keep'])
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(Error)
  return error as Error
}

describe('extractArtifact: round trip', () => {
  it('extracts a packed directory from a file stream, with the manifest pack computed', async () => {
    const { dir, artifact } = await packed()
    const { dest } = await target()
    const release = await extractArtifact(createReadStream(artifact.path), {
      dest,
      sha256: artifact.sha256,
      size: artifact.size,
    })
    expect(release).toEqual({
      dir: dest,
      sha256: artifact.sha256,
      size: artifact.size,
      manifest: artifact.manifest,
    })
    expect(await snapshot(dest)).toEqual(await snapshot(dir))
    expect(await manifestOfDirectory(dest)).toEqual(artifact.manifest)
  })

  it('accepts any async iterable of bytes, in chunks of any size', async () => {
    const { dir, artifact } = await packed()
    const bytes = await readFile(artifact.path)
    for (const size of [511, 4096, 1 << 20]) {
      const { dest } = await target()
      await extractArtifact(chunks(bytes, size), { dest, sha256: artifact.sha256 })
      expect(await snapshot(dest)).toEqual(await snapshot(dir))
    }
    // Byte by byte: every header and block boundary falls between chunks.
    const small = await packed({
      'index.js': 'x'.repeat(700),
      [`${'long/'.repeat(25)}name.js`]: 'long',
      'é.js': 'e',
    })
    const { dest } = await target()
    await extractArtifact(chunks(await readFile(small.artifact.path), 1), {
      dest,
      sha256: small.artifact.sha256,
    })
    expect(await snapshot(dest)).toEqual(await snapshot(small.dir))
  })

  it('creates plain files and directories with ordinary permissions', async () => {
    const { artifact } = await packed()
    const { dest } = await target()
    await extractArtifact(createReadStream(artifact.path), { dest, sha256: artifact.sha256 })
    expect((await stat(dest)).mode & 0o777).toBe(0o755 & ~process.umask())
    expect((await stat(join(dest, 'lib'))).mode & 0o777).toBe(0o755 & ~process.umask())
    expect((await stat(join(dest, 'index.js'))).mode & 0o777).toBe(0o644 & ~process.umask())
  })

  it('checks the extracted files against the manifest of the hot upgrade, when given', async () => {
    const { artifact } = await packed()
    const { dest, releases } = await target()
    const release = await extractArtifact(createReadStream(artifact.path), {
      dest,
      sha256: artifact.sha256,
      manifest: { ...artifact.manifest, nodeAbi: '999' },
    })
    expect(release.manifest.nodeAbi).toBe('999')

    const other = await target()
    const lying = {
      ...artifact.manifest,
      files: { ...artifact.manifest.files, 'index.js': { sha256: sha256('other'), size: 5 } },
    }
    const error = await failure(
      extractArtifact(createReadStream(artifact.path), {
        dest: other.dest,
        sha256: artifact.sha256,
        manifest: lying,
      }),
    )
    expect(error).toBeInstanceOf(IntegrityError)
    expect(error).toMatchObject({ reason: 'manifest-mismatch' })
    expect(error.message).toMatch(/"index\.js"/)
    await expectNothingLeft(other.releases)
    expect(await readdir(releases)).toEqual(['.keep', 'v2'])
  })
})

describe('extractArtifact: integrity', () => {
  it('a sha256 mismatch throws IntegrityError and leaves nothing behind', async () => {
    const { artifact } = await packed()
    const { dest, releases } = await target()
    const wrong = sha256('something else')
    const error = await failure(
      extractArtifact(createReadStream(artifact.path), { dest, sha256: wrong, name: 'v2' }),
    )
    expect(error).toBeInstanceOf(IntegrityError)
    expect(isRelupError(error, 'ERR_RELUP_INTEGRITY')).toBe(true)
    expect(error).toMatchObject({
      reason: 'sha256-mismatch',
      expectedSha256: wrong,
      actualSha256: artifact.sha256,
      actualSize: artifact.size,
    })
    expect(error.message).toContain(`expected sha256 ${wrong}, got ${artifact.sha256}`)
    expect(error.message).toContain('for v2')
    expect(error.message).toContain('the upgrade was not applied')
    await expectNothingLeft(releases)
  })

  it('a size mismatch throws IntegrityError', async () => {
    const { artifact } = await packed()
    const { dest, releases } = await target()
    const bigger = await failure(
      extractArtifact(createReadStream(artifact.path), {
        dest,
        sha256: artifact.sha256,
        size: artifact.size + 1,
      }),
    )
    expect(bigger).toMatchObject({
      reason: 'truncated',
      expectedSize: artifact.size + 1,
      actualSize: artifact.size,
    })
    const smaller = await failure(
      extractArtifact(createReadStream(artifact.path), {
        dest,
        sha256: artifact.sha256,
        size: artifact.size - 100,
      }),
    )
    expect(smaller).toBeInstanceOf(IntegrityError)
    expect(smaller).toMatchObject({ reason: 'size-mismatch', actualSha256: null })
    await expectNothingLeft(releases)
  })

  it('a truncated stream throws IntegrityError and leaves nothing behind', async () => {
    const { artifact } = await packed()
    const bytes = await readFile(artifact.path)
    for (const cut of [10, 600, Math.floor(bytes.length / 2), bytes.length - 4]) {
      const { dest, releases } = await target()
      const error = await failure(
        extractArtifact(chunks(bytes.subarray(0, cut), 4096), { dest, sha256: artifact.sha256 }),
      )
      expect(error).toBeInstanceOf(IntegrityError)
      expect(error).toMatchObject({ reason: 'truncated', actualSize: cut })
      expect(error.message).toContain('the upgrade was not applied')
      await expectNothingLeft(releases)
    }
  })

  it('corrupted gzip data throws IntegrityError and leaves nothing behind', async () => {
    const { artifact } = await packed()
    const bytes = Buffer.from(await readFile(artifact.path))
    bytes[Math.floor(bytes.length / 3)]! ^= 0xff
    const { dest, releases } = await target()
    const error = await failure(extractArtifact(chunks(bytes, 8192), { dest, sha256: artifact.sha256 }))
    expect(error).toBeInstanceOf(IntegrityError)
    expect(error).toMatchObject({ reason: 'sha256-mismatch', actualSha256: sha256(bytes) })
    await expectNothingLeft(releases)
  })

  it('bytes that are not gzip throw IntegrityError', async () => {
    const bytes = Buffer.from('this is not an artifact at all\n'.repeat(100))
    const { dest, releases } = await target()
    const error = await failure(extractArtifact(chunks(bytes), { dest, sha256: sha256(bytes) }))
    expect(error).toBeInstanceOf(IntegrityError)
    // The hash matches, so the message says the published artifact itself is broken.
    expect(error).toMatchObject({ reason: 'format', actualSha256: sha256(bytes) })
    expect(error.message).toMatch(/not a valid gzip\/tar archive.*publish it again/i)
    await expectNothingLeft(releases)
  })

  it('a source stream that fails mid-way throws IntegrityError and leaves nothing behind', async () => {
    const { artifact } = await packed()
    const bytes = await readFile(artifact.path)
    async function* failing() {
      yield bytes.subarray(0, 100_000)
      throw new Error('ECONNRESET: socket hang up')
    }
    const { dest, releases } = await target()
    const error = await failure(extractArtifact(failing(), { dest, sha256: artifact.sha256 }))
    expect(error).toBeInstanceOf(IntegrityError)
    expect(error).toMatchObject({ reason: 'source-error', actualSha256: null, actualSize: 100_000 })
    expect(error.message).toContain('socket hang up')
    await expectNothingLeft(releases)
  })

  it('a Readable that errors mid-way is reported the same way', async () => {
    const { artifact } = await packed()
    const bytes = await readFile(artifact.path)
    const stream = new Readable({ read() {} })
    stream.push(bytes.subarray(0, 50_000))
    setTimeout(() => stream.destroy(new Error('connection reset')), 20)
    const { dest, releases } = await target()
    const error = await failure(extractArtifact(stream, { dest, sha256: artifact.sha256 }))
    expect(error).toMatchObject({ reason: 'source-error' })
    await expectNothingLeft(releases)
  })

  it('an aborted extraction throws the abort reason and leaves nothing behind', async () => {
    const { artifact } = await packed()
    const bytes = await readFile(artifact.path)
    const controller = new AbortController()
    async function* slow() {
      yield bytes.subarray(0, 1000)
      controller.abort(new Error('shutting down'))
      yield bytes.subarray(1000)
    }
    const { dest, releases } = await target()
    const error = await failure(
      extractArtifact(slow(), { dest, sha256: artifact.sha256, signal: controller.signal }),
    )
    expect(error.message).toBe('shutting down')
    await expectNothingLeft(releases)
  })

  it('refuses a malformed sha256 option before reading', async () => {
    const { dest } = await target()
    await expect(extractArtifact(chunks(Buffer.alloc(10)), { dest, sha256: 'abc' })).rejects.toMatchObject({
      code: 'ERR_RELUP_CONFIG',
    })
  })
})

describe('extractArtifact: an existing destination', () => {
  it('fails by default, before reading, and leaves the existing release untouched', async () => {
    const { artifact } = await packed()
    const { dest, releases } = await target()
    await writeTree(dest, { 'old.js': 'old' })
    const source = createReadStream(artifact.path)
    const error = await failure(extractArtifact(source, { dest, sha256: artifact.sha256 }))
    expect(error).toBeInstanceOf(DestinationExistsError)
    expect(isRelupError(error, 'ERR_RELUP_DESTINATION_EXISTS')).toBe(true)
    expect(await snapshot(dest)).toEqual({ 'old.js': `file 3 ${sha256('old')}` })
    expect(await readdir(releases)).toEqual(['.keep', 'v2'])
    expect(source.destroyed).toBe(true)
  })

  it("with ifExists: 'replace', swaps the new release in and deletes the old one", async () => {
    const { dir, artifact } = await packed()
    const { dest, releases } = await target()
    await writeTree(dest, { 'old.js': 'old' })
    await extractArtifact(createReadStream(artifact.path), {
      dest,
      sha256: artifact.sha256,
      ifExists: 'replace',
    })
    expect(await snapshot(dest)).toEqual(await snapshot(dir))
    expect(await readdir(releases)).toEqual(['.keep', 'v2'])
  })

  it("with ifExists: 'replace', keeps the old release when the new one fails verification", async () => {
    const { artifact } = await packed()
    const { dest, releases } = await target()
    await writeTree(dest, { 'old.js': 'old' })
    await expect(
      extractArtifact(createReadStream(artifact.path), { dest, sha256: sha256('x'), ifExists: 'replace' }),
    ).rejects.toBeInstanceOf(IntegrityError)
    expect(await snapshot(dest)).toEqual({ 'old.js': `file 3 ${sha256('old')}` })
    expect(await readdir(releases)).toEqual(['.keep', 'v2'])
  })

  it('never replaces a symlink or a file', async () => {
    const { artifact } = await packed()
    const { root, dest } = await target()
    await symlink(join(root, 'sentinel'), dest)
    await expect(
      extractArtifact(createReadStream(artifact.path), {
        dest,
        sha256: artifact.sha256,
        ifExists: 'replace',
      }),
    ).rejects.toBeInstanceOf(DestinationExistsError)
    const file = join(root, 'releases', 'file')
    await writeFile(file, 'x')
    await expect(
      extractArtifact(createReadStream(artifact.path), {
        dest: file,
        sha256: artifact.sha256,
        ifExists: 'replace',
      }),
    ).rejects.toBeInstanceOf(DestinationExistsError)
    expect(await snapshot(join(root, 'sentinel'))).toEqual({ 'keep.txt': `file 4 ${sha256('keep')}` })
  })
})

/** A .tgz of `files` files of `mib` MiB of random bytes each, streamed to `path`. */
async function largeArtifact(
  path: string,
  files: number,
  mib: number,
): Promise<{ path: string; sha256: string; size: number }> {
  async function* tar() {
    for (let i = 0; i < files; i++) {
      yield tarHeader({ name: `data/part-${i}.bin`, size: mib * 1024 * 1024 })
      for (let m = 0; m < mib; m++) yield randomBytes(1024 * 1024)
    }
    yield Buffer.alloc(1024)
  }
  await pipeline(tar(), createGzip({ level: 1 }), createWriteStream(path))
  return { path, ...(await hashFile(path)) }
}

describe('extractArtifact: memory', () => {
  it('stays flat while extracting an artifact much larger than what it holds in memory', async () => {
    // 32 MiB of incompressible data, generated 1 MiB at a time straight into an artifact (gzip
    // level 1, to keep the test fast): buffering the download or a file would show as growth of
    // that size.
    const artifact = await largeArtifact(join(await tempDir(), 'large.tgz'), 4, 8)
    expect(artifact.size).toBeGreaterThan(32 * 1024 * 1024)
    const { dest } = await target()
    const collect = globalThis.gc
    if (collect === undefined) throw new Error('run with --expose-gc (see vitest.config.ts)')
    collect()
    const before = process.memoryUsage()
    const retained = () => {
      const now = process.memoryUsage()
      return now.heapUsed + now.arrayBuffers - (before.heapUsed + before.arrayBuffers)
    }
    let peakRss = before.rss
    let peakRetained = 0
    let samples = 0
    const rss = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }, 2)
    // Every 4 MiB read, what is still referenced after a collection: buffering the download or a
    // file whole would show here, however fast or slow the machine is.
    async function* measured(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      let read = 0
      for await (const chunk of source) {
        read += chunk.length
        if (Math.floor(read / (4 * 1024 * 1024)) > samples) {
          collect!()
          peakRetained = Math.max(peakRetained, retained())
          samples++
        }
        yield chunk
      }
    }
    try {
      await extractArtifact(measured(createReadStream(artifact.path)), {
        dest,
        sha256: artifact.sha256,
        size: artifact.size,
      })
    } finally {
      clearInterval(rss)
    }
    const mib = 1024 * 1024
    expect(samples).toBe(8)
    expect(peakRetained / mib).toBeLessThan(16)
    expect((peakRss - before.rss) / mib).toBeLessThan(32)
  }, 30_000)
})
