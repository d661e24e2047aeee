import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isRelupError, ReleaseTreeError } from '../src/index.js'
import { hashFile, manifestOfDirectory, releasePathProblem, walkRelease } from '../src/release.js'

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')
const made: string[] = []
afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function tree(files: Record<string, string | Buffer>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'relup-core-release-'))
  made.push(root)
  const dir = join(root, 'hot')
  await mkdir(dir)
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), content)
  }
  return dir
}

describe('manifestOfDirectory', () => {
  it('lists files sorted, with the sha256 and size of their content', async () => {
    const dir = await tree({ 'z.js': 'z', 'a.js': 'hello', 'm/b.js': 'b' })
    const manifest = await manifestOfDirectory(dir, { nodeAbi: '120' })
    expect(Object.keys(manifest.files)).toEqual(['a.js', 'm/b.js', 'z.js'])
    expect(manifest.files['a.js']).toEqual({ sha256: sha256('hello'), size: 5 })
    expect(manifest.nodeAbi).toBe('120')
  })

  it('lists native addons and takes this process ABI for them by default', async () => {
    const dir = await tree({ 'a.js': 'a', 'native/x.node': 'bin' })
    const manifest = await manifestOfDirectory(dir)
    expect(manifest.nativeAddons).toEqual(['native/x.node'])
    expect(manifest.nodeAbi).toBe(process.versions.modules)
  })

  it('hashes a file larger than one read chunk as a stream, to the same digest', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7)
    const dir = await tree({ 'public/big.bin': big })
    expect(await hashFile(join(dir, 'public/big.bin'))).toEqual({ sha256: sha256(big), size: big.length })
  })
})

describe('walkRelease: one rule for links', () => {
  it('follows a symlinked directory inside the release: its files are part of the release', async () => {
    const dir = await tree({ 'lib/a.js': 'a', 'lib/deep/b.js': 'b' })
    await symlink('lib', join(dir, 'alias'))
    const manifest = await manifestOfDirectory(dir)
    expect(Object.keys(manifest.files)).toEqual([
      'alias/a.js',
      'alias/deep/b.js',
      'lib/a.js',
      'lib/deep/b.js',
    ])
  })

  it('counts a symlinked file inside the release as that file', async () => {
    const dir = await tree({ 'a.js': 'a' })
    await symlink('a.js', join(dir, 'b.js'))
    expect((await manifestOfDirectory(dir)).files['b.js']).toEqual({ sha256: sha256('a'), size: 1 })
  })

  it('refuses a link out of the release, naming it', async () => {
    const dir = await tree({ 'a.js': 'a' })
    await symlink('/etc', join(dir, 'etc'))
    const error = await walkRelease(dir).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ReleaseTreeError)
    expect(isRelupError(error, 'ERR_RELUP_RELEASE_TREE')).toBe(true)
    expect(error).toMatchObject({ path: 'etc' })
    expect((error as Error).message).toMatch(/"etc" is a symbolic link to .*outside the directory/)
  })

  it('refuses a link cycle', async () => {
    const dir = await tree({ 'lib/a.js': 'a' })
    await symlink('..', join(dir, 'lib', 'up'))
    await expect(walkRelease(dir)).rejects.toThrow(/cycle/)
  })

  it('says when the directory does not exist or holds no file', async () => {
    await expect(walkRelease('/nonexistent/relup/dir')).rejects.toThrow(/does not exist/)
    const empty = await tree({})
    await expect(walkRelease(empty)).rejects.toThrow(/no files/)
    await expect(walkRelease(empty, { requireFiles: false })).resolves.toMatchObject({ entries: [] })
  })
})

describe('releasePathProblem', () => {
  it.each(['..foo.js', 'a/..b/c.js', 'x..', '.hidden/x.js'])(
    'accepts %j (dots inside a name are a name)',
    (path) => {
      expect(releasePathProblem(path)).toBeNull()
    },
  )

  it.each(['../x.js', 'a/../b', './a', 'a//b', '/abs', 'a\\b', 'C:x', 'nul\0'])('refuses %j', (path) => {
    expect(releasePathProblem(path)).not.toBeNull()
  })
})
