import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { InvalidKeyError, listAll } from '@relup/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

/** Every file and directory under `root`, relative, sorted. */
function tree(root: string): string[] {
  const out: string[] = []
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const child = join(path, name)
      out.push(relative(root, child))
      if (statSync(child).isDirectory()) walk(child)
    }
  }
  walk(root)
  return out.sort()
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe('keys map to paths that never leave the directory', () => {
  let root: ReturnType<typeof tempDir>
  let bucket: string
  let sentinel: string
  let storage: FsStorage

  beforeEach(() => {
    root = tempDir('keys')
    bucket = join(root.path, 'bucket')
    sentinel = join(root.path, 'sentinel')
    mkdirSync(sentinel)
    storage = fsStorage({ dir: bucket })
  })

  afterEach(async () => {
    await storage.close()
    root.remove()
  })

  const hostile: [string, string][] = [
    ['', 'empty'],
    ['/etc/passwd', 'absolute'],
    ['../sentinel/pwned', '".." segment'],
    ['a/../../sentinel/pwned', '".." segment'],
    ['..', '".." segment'],
    ['a/./b', '"." segment'],
    ['a//b', 'empty segment'],
    ['trailing/', 'empty segment'],
    ['nul\0byte', 'NUL'],
    ['..\\sentinel\\pwned', 'backslash'],
    ['a\\b', 'backslash'],
    ['C:\\Windows\\win.ini', 'backslash'],
    ['.relup/tmp/x', 'reserves'],
    ['.relup/locks/x.lock', 'reserves'],
    ['.relup-tmp/x', 'reserves'],
    ['.relupx', 'reserves'],
    ['lone-\uD800-surrogate', 'surrogate'],
    [`long/${'x'.repeat(250)}`, '255'],
    [`long/${'日'.repeat(90)}/y`, '255'],
    ['x'.repeat(1025), '1024'],
  ]
  const label = (key: string) =>
    key.length > 40 ? `${JSON.stringify(key.slice(0, 12))}… (${key.length} chars)` : JSON.stringify(key)

  it.each(hostile.map(([key, reason]) => ({ key, reason, name: label(key) })))(
    'refuses $name ($reason) with InvalidKeyError in get, getStream, put and delete',
    async ({ key, reason }) => {
      const refused = (promise: Promise<unknown>) =>
        expect(promise).rejects.toSatisfy(
          (error: unknown) =>
            error instanceof InvalidKeyError && error.message.includes(reason) && error.key === key,
        )
      await refused(storage.put(key, 'x'))
      await refused(storage.put(key, 'x', { ifNoneMatch: '*' }))
      await refused(storage.get(key))
      await refused(storage.getStream(key))
      await refused(storage.delete(key))
    },
  )

  it('writes nothing outside the directory, and nothing inside it, for any refused key', async () => {
    const before = tree(root.path)
    for (const [key] of hostile) {
      await storage.put(key, 'pwned').catch(() => {})
      await storage.delete(key).catch(() => {})
    }
    expect(tree(root.path)).toEqual(before)
    expect(readdirSync(sentinel)).toEqual([])
  })

  it('refuses a list prefix that could leave the directory', async () => {
    for (const prefix of ['../sentinel', '/etc', 'a/../..', 'a\\..\\..', '.relup', '.relup/tmp']) {
      await expect(storage.list(prefix)).rejects.toBeInstanceOf(InvalidKeyError)
    }
  })

  it('stores a key as nested folders and a readable `<last segment>.relup` file', async () => {
    await storage.put('relup/chat/current.json', '{}')
    expect(existsSync(join(bucket, 'relup', 'chat', 'current.json.relup'))).toBe(true)
    expect(tree(bucket)).toEqual([
      '.relup',
      '.relup/locks',
      '.relup/tmp',
      'relup',
      'relup/chat',
      'relup/chat/current.json.relup',
    ])
  })

  it('keys with unicode, spaces, escapes and a ".relup" ending round-trip and list as written', async () => {
    const keys = [
      'with space/file name.json',
      'ünïcødé/日本語/ファイル.txt',
      'emoji-🚀/ok',
      'percent%/100%25',
      'windows<>:"|?*/name',
      'ends with dot./and space ',
      'control\tchar\u007f',
      'object.relup',
      'folder.relup/inner',
      'below-the-top/.relup-is-fine',
      'x/%2E',
    ]
    for (const key of keys) expect((await storage.put(key, key)).status).toBe('ok')
    for (const key of keys) {
      const result = await storage.get(key)
      expect(result.status === 'ok' && decode(result.body)).toBe(key)
    }
    const listed: string[] = []
    for await (const item of listAll(storage, '')) listed.push(item.key)
    expect(listed).toEqual([...keys].sort())
  })

  it('a key and a folder of the same name coexist, as in S3', async () => {
    for (const key of ['a/b', 'a/b/c', 'a/b/c/d', 'a/b.relup']) await storage.put(key, key)
    const listed = (await storage.list('a')).items.map((item) => item.key)
    expect(listed).toEqual(['a/b', 'a/b.relup', 'a/b/c', 'a/b/c/d'])
    await storage.delete('a/b')
    expect((await storage.get('a/b')).status).toBe('not-found')
    const inner = await storage.get('a/b/c/d')
    expect(inner.status === 'ok' && decode(inner.body)).toBe('a/b/c/d')
  })

  it('deleting the last key of a folder removes the emptied folders, not their non-empty parents', async () => {
    await storage.put('p/q/r/s.json', 's')
    await storage.put('p/keep.json', 'k')
    await storage.delete('p/q/r/s.json')
    expect(tree(bucket).filter((path) => !path.startsWith('.relup'))).toEqual(['p', 'p/keep.json.relup'])
    await storage.delete('p/keep.json')
    expect(readdirSync(bucket)).toEqual(['.relup'])
  })
})
