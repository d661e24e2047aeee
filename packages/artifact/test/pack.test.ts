import { execFileSync } from 'node:child_process'
import { chmod, link, mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { isRelupError, parseModuleManifest } from '@relup/core'
import { manifestOfDirectory } from '@relup/core/release'
import { Parser, type ReadEntry } from 'tar'
import { describe, expect, it } from 'vitest'
import { ArchiveLimitError, PackError, pack } from '../src/index.js'
import { removeAfterTest, sha256, tempDir, writeTree } from './helpers.js'

const APP = {
  'index.js': 'module.exports = require("./lib/routes")\n',
  'lib/routes.js': 'exports.hello = () => "hello"\n',
  'lib/state/counter.js': 'exports.count = 0\n',
  'README.md': '# hot\n',
}

/** pack(), with the artifact deleted after the test (it goes to the OS temp dir by default). */
async function packIt(dir: string, options?: Parameters<typeof pack>[1]) {
  const artifact = await pack(dir, options)
  removeAfterTest(artifact.path)
  return artifact
}

async function app(files: Record<string, string | Buffer> = APP): Promise<string> {
  const dir = join(await tempDir(), 'hot')
  await writeTree(dir, files)
  return dir
}

/** The entries of a .tgz as tar's Parser reads them. */
async function listEntries(
  path: string,
): Promise<
  Array<{ path: string; type: string; mode: number; mtime: string; uid: number; gid: number; uname: string }>
> {
  const entries: Array<{
    path: string
    type: string
    mode: number
    mtime: string
    uid: number
    gid: number
    uname: string
  }> = []
  const parser = new Parser({ strict: true })
  parser.on('entry', (entry: ReadEntry) => {
    entries.push({
      path: entry.path,
      type: entry.type,
      mode: entry.mode ?? -1,
      mtime: entry.mtime?.toISOString() ?? '',
      uid: entry.uid ?? -1,
      gid: entry.gid ?? -1,
      uname: entry.uname ?? '',
    })
    entry.resume()
  })
  const done = new Promise((resolve, reject) => {
    parser.on('end', resolve)
    parser.on('error', reject)
  })
  parser.end(await readFile(path))
  await done
  return entries
}

describe('pack', () => {
  it('writes a .tgz and returns its path, sha256, size and manifest', async () => {
    const dir = await app()
    const out = join(await tempDir(), 'artifacts', 'v1.tgz')
    const artifact = await packIt(dir, { out })
    const bytes = await readFile(out)
    expect(artifact.path).toBe(out)
    expect(artifact.size).toBe(bytes.length)
    expect(artifact.sha256).toBe(sha256(bytes))
    expect([...bytes.subarray(0, 2)]).toEqual([0x1f, 0x8b])
    expect(artifact.manifest).toEqual({
      files: Object.fromEntries(
        Object.entries(APP)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([path, content]) => [path, { sha256: sha256(content), size: Buffer.byteLength(content) }]),
      ),
      nativeAddons: [],
      nodeAbi: null,
    })
    expect(parseModuleManifest(artifact.manifest)).toEqual(artifact.manifest)
  })

  it('writes to a new temp file when no out is given', async () => {
    const first = await packIt(await app())
    const second = await packIt(await app())
    expect(first.path).not.toBe(second.path)
    expect((await stat(first.path)).size).toBe(first.size)
    expect(second.sha256).toBe(first.sha256)
  })

  it('archives sorted entries with fixed mtime, modes and no owner', async () => {
    const dir = await app()
    const artifact = await packIt(dir)
    const entries = await listEntries(artifact.path)
    expect(entries.map((e) => e.path)).toEqual([
      'README.md',
      'index.js',
      'lib/',
      'lib/routes.js',
      'lib/state/',
      'lib/state/counter.js',
    ])
    for (const entry of entries) {
      expect(entry.mtime).toBe('2000-01-01T00:00:00.000Z')
      expect(entry.mode).toBe(entry.type === 'Directory' ? 0o755 : 0o644)
      expect([entry.uid, entry.gid, entry.uname]).toEqual([0, 0, ''])
    }
  })

  it('gives identical bytes for the same files, whatever their mtimes, modes and creation order', async () => {
    const first = await packIt(await app())
    // Same content, created in another order, with other times and modes.
    const reversed = Object.fromEntries(Object.entries(APP).reverse())
    const dir = await app(reversed)
    await utimes(join(dir, 'index.js'), new Date('2031-05-05'), new Date('2031-05-05'))
    await utimes(join(dir, 'lib'), new Date('1999-01-01'), new Date('1999-01-01'))
    await chmod(join(dir, 'lib/routes.js'), 0o755)
    await chmod(join(dir, 'lib/state'), 0o700)
    const second = await packIt(dir)
    expect(second.sha256).toBe(first.sha256)
    expect(await readFile(second.path)).toEqual(await readFile(first.path))

    // Packing the same directory twice, after touching it again.
    await utimes(join(dir, 'README.md'), new Date(), new Date())
    const third = await packIt(dir)
    expect(third.sha256).toBe(first.sha256)
  })

  it('gives different bytes when one file changes', async () => {
    const first = await packIt(await app())
    const second = await packIt(await app({ ...APP, 'lib/routes.js': 'exports.hello = () => "hi"\n' }))
    expect(second.sha256).not.toBe(first.sha256)
    expect(second.manifest.files['lib/routes.js']).not.toEqual(first.manifest.files['lib/routes.js'])
    expect(second.manifest.files['index.js']).toEqual(first.manifest.files['index.js'])
  })

  it('writes a portable gzip header: no mtime, no name, OS "unknown"', async () => {
    const artifact = await packIt(await app())
    const header = (await readFile(artifact.path)).subarray(0, 10)
    expect(header[3]).toBe(0) // FLG: no FNAME, no FEXTRA, no FCOMMENT
    expect(header.readUInt32LE(4)).toBe(0) // MTIME
    expect(header[9]).toBe(0xff) // OS
  })

  it('is readable by the system tar', async () => {
    const artifact = await packIt(await app())
    let listing: string
    try {
      listing = execFileSync('tar', ['-tzf', artifact.path], { encoding: 'utf8' })
    } catch {
      return // no tar binary here: the Parser-based tests cover the format
    }
    expect(listing.trim().split('\n')).toContain('lib/state/counter.js')
  })

  it('detects native addons and records this Node ABI', async () => {
    const artifact = await packIt(
      await app({ ...APP, 'build/Release/addon.node': Buffer.from([0x7f, 0x45, 0x4c, 0x46]) }),
    )
    expect(artifact.manifest.nativeAddons).toEqual(['build/Release/addon.node'])
    expect(artifact.manifest.nodeAbi).toBe(process.versions.modules)
  })

  it('takes nodeAbi from the options when given', async () => {
    expect((await packIt(await app(), { nodeAbi: '127' })).manifest.nodeAbi).toBe('127')
    const withAddon = await app({ ...APP, 'x.node': 'bin' })
    expect((await packIt(withAddon, { nodeAbi: null })).manifest.nodeAbi).toBeNull()
  })

  it('keeps empty directories, long paths and non-ASCII names', async () => {
    const long = `${'deep/'.repeat(30)}module.js`
    const dir = await app({ ...APP, [long]: 'long', 'i18n/café.js': 'accent', 'i18n/日本.js': 'kanji' })
    await mkdir(join(dir, 'empty'))
    const artifact = await packIt(dir)
    const paths = (await listEntries(artifact.path)).map((e) => e.path)
    expect(paths).toContain(long)
    expect(paths).toContain('i18n/café.js')
    expect(paths).toContain('i18n/日本.js')
    expect(paths).toContain('empty/')
    expect(artifact.manifest.files[long]).toEqual({ sha256: sha256('long'), size: 4 })
  })

  it('stores a symlink that stays inside the directory as the file it points at', async () => {
    const dir = await app()
    await symlink('../index.js', join(dir, 'lib', 'alias.js'))
    await symlink('state', join(dir, 'lib', 'state-link'))
    const artifact = await packIt(dir)
    expect(artifact.manifest.files['lib/alias.js']).toEqual(artifact.manifest.files['index.js'])
    expect(artifact.manifest.files['lib/state-link/counter.js']).toEqual(
      artifact.manifest.files['lib/state/counter.js'],
    )
    const types = new Set((await listEntries(artifact.path)).map((e) => e.type))
    expect(types).toEqual(new Set(['File', 'Directory']))
  })

  it('stores hard-linked files as plain files (pnpm stores hard-link identical files)', async () => {
    const dir = await app()
    await link(join(dir, 'index.js'), join(dir, 'same.js'))
    const artifact = await packIt(dir)
    const entries = await listEntries(artifact.path)
    expect(entries.find((e) => e.path === 'same.js')?.type).toBe('File')
    expect(artifact.manifest.files['same.js']).toEqual(artifact.manifest.files['index.js'])
  })

  it('replaces an existing out file', async () => {
    const out = join(await tempDir(), 'a.tgz')
    await writeFile(out, 'old content')
    const artifact = await packIt(await app(), { out })
    expect(sha256(await readFile(out))).toBe(artifact.sha256)
  })
})

describe('pack refuses what machines would refuse, with a PackError', () => {
  const refuses = async (dir: string, pattern: RegExp, options = {}) => {
    const error = await packIt(dir, options).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PackError)
    expect(isRelupError(error, 'ERR_RELUP_PACK')).toBe(true)
    expect((error as Error).message).toMatch(pattern)
  }

  it('a missing directory', async () => {
    await refuses(join(await tempDir(), 'nope'), /does not exist/)
  })

  it('a file instead of a directory', async () => {
    const dir = await app()
    await refuses(join(dir, 'index.js'), /not a directory/)
  })

  it('an empty directory (directories but no files)', async () => {
    const dir = join(await tempDir(), 'hot')
    await mkdir(join(dir, 'only', 'dirs'), { recursive: true })
    await refuses(dir, /contains no files/)
  })

  it('a symlink to a file outside the directory', async () => {
    const root = await tempDir()
    await writeFile(join(root, 'secret.txt'), 'secret')
    const dir = await app()
    await symlink(join(root, 'secret.txt'), join(dir, 'lib', 'leak.js'))
    await refuses(dir, /"lib\/leak\.js" is a symbolic link to .*outside the directory/)
  })

  it('a relative symlink that climbs out', async () => {
    const dir = await app()
    await symlink('../../..', join(dir, 'lib', 'up'))
    await refuses(dir, /"lib\/up" is a symbolic link .*outside/)
  })

  it('a dangling symlink', async () => {
    const dir = await app()
    await symlink('missing.js', join(dir, 'dangling.js'))
    await refuses(dir, /missing file/)
  })

  it('a symlink cycle', async () => {
    const dir = await app()
    await symlink('..', join(dir, 'lib', 'parent'))
    await refuses(dir, /cycle/)
  })

  it('a FIFO', async () => {
    const dir = await app()
    try {
      execFileSync('mkfifo', [join(dir, 'lib', 'pipe')])
    } catch {
      return // no mkfifo on this platform
    }
    await refuses(dir, /"lib\/pipe" is a FIFO/)
  })

  it('names that differ only in case', async () => {
    const dir = await app({ 'Index.js': 'a', 'index.js': 'b' })
    await refuses(dir, /collides with .* case-insensitive/)
  })

  it('names with a backslash or control character', async () => {
    await refuses(await app({ 'a\\b.js': 'x' }), /backslash/)
    await refuses(await app({ 'a\nb.js': 'x' }), /control character/)
  })

  it('an output file inside the directory being packed, without creating anything there', async () => {
    const dir = await app()
    await refuses(dir, /inside the directory being packed/, { out: join(dir, 'self.tgz') })
    await refuses(dir, /inside the directory being packed/, { out: join(dir, 'new', 'self.tgz') })
    await expect(stat(join(dir, 'new'))).rejects.toMatchObject({ code: 'ENOENT' })
    // Through a link to the directory, too.
    const alias = join(await tempDir(), 'alias')
    await symlink(dir, alias)
    await refuses(dir, /inside the directory being packed/, { out: join(alias, 'self.tgz') })
  })

  it('a directory beyond the limits machines apply', async () => {
    const dir = await app({ ...APP, 'big.bin': Buffer.alloc(4096) })
    const error = await packIt(dir, { limits: { maxFileBytes: 1024 } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ArchiveLimitError)
    expect(error).toMatchObject({ limit: 'maxFileBytes', entry: 'big.bin' })
    await expect(pack(dir, { limits: { maxEntries: 3 } })).rejects.toMatchObject({ limit: 'maxEntries' })
    await expect(pack(dir, { limits: { maxTotalBytes: 2048 } })).rejects.toMatchObject({
      limit: 'maxTotalBytes',
    })
  })

  it('leaves no partial output behind when it fails', async () => {
    const outDir = await tempDir()
    const dir = await app()
    await symlink('/etc/passwd', join(dir, 'passwd'))
    await expect(pack(dir, { out: join(outDir, 'a.tgz') })).rejects.toBeInstanceOf(PackError)
    expect(await import('node:fs/promises').then((fs) => fs.readdir(outDir))).toEqual([])
  })
})

describe('pack and the manifest module (@relup/core/release) agree', () => {
  it('hashes every file like pack does', async () => {
    const dir = await app({ ...APP, 'addon.node': 'binary' })
    const artifact = await packIt(dir)
    expect(await manifestOfDirectory(dir)).toEqual(artifact.manifest)
  })

  it('follow a symlinked directory inside the release the same way', async () => {
    const dir = await app()
    await symlink('lib', join(dir, 'lib-link'))
    const artifact = await packIt(dir)
    expect(await manifestOfDirectory(dir)).toEqual(artifact.manifest)
    expect(Object.keys(artifact.manifest.files)).toContain('lib-link/routes.js')
  })

  it('decompresses to exactly the files hashed', async () => {
    const dir = await app()
    const artifact = await packIt(dir)
    const tar = gunzipSync(await readFile(artifact.path))
    expect(tar.includes(Buffer.from('exports.hello = () => "hello"'))).toBe(true)
  })
})
