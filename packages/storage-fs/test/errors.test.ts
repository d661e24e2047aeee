import { closeSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ConfigError, InvalidKeyError, StorageTransportError } from '@relup/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { toStorageError } from '../src/fsErrors.js'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

const systemError = (code: string, message = `${code}: failed, write`) =>
  Object.assign(new Error(message), { code, syscall: 'write', errno: -1 })

describe('errors', () => {
  let dir: ReturnType<typeof tempDir>
  let storage: FsStorage

  beforeEach(() => {
    dir = tempDir('errors')
    storage = fsStorage({ dir: dir.path })
  })

  afterEach(async () => {
    await storage.close()
    dir.remove()
  })

  it.each([
    ['ENOSPC', true, 'the disk is full'],
    ['EDQUOT', true, 'quota'],
    ['EMFILE', true, 'ulimit -n'],
    ['EBUSY', true, ''],
    ['ESTALE', true, 'local disk'],
    ['EACCES', false, 'may read and write'],
    ['EPERM', false, 'may read and write'],
    ['EROFS', false, 'read-only'],
    ['EIO', false, 'I/O error'],
    ['ENOTDIR', false, 'something other than relup'],
  ])('%s becomes a StorageTransportError with retryable=%s and a hint', (code, retryable, hint) => {
    const error = toStorageError('file:///srv/relup', 'put', 'relup/chat/current.json', systemError(code))
    expect(error).toBeInstanceOf(StorageTransportError)
    expect(error).toMatchObject({ retryable, operation: 'put', key: 'relup/chat/current.json' })
    expect((error as Error).message).toMatch(
      /^file:\/\/\/srv\/relup: put "relup\/chat\/current.json" failed: /,
    )
    expect((error as Error).message).toContain(hint)
    expect((error as Error).cause).toMatchObject({ code })
  })

  it('an error from the caller’s own body, an abort or a relup error passes through unchanged', () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' })
    const invalid = new InvalidKeyError('x', 'reason')
    expect(toStorageError('s', 'put', 'k', abort)).toBe(abort)
    expect(toStorageError('s', 'put', 'k', invalid)).toBe(invalid)
  })

  it('a file standing where a folder belongs fails the put with a non-retryable error and leaves no temp file', async () => {
    writeFileSync(join(dir.path, 'results'), 'someone else wrote this')
    const failure = await storage.put('results/u1/m1.json', '{}').catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(StorageTransportError)
    expect(failure).toMatchObject({ retryable: false, operation: 'put', key: 'results/u1/m1.json' })
    expect((failure as Error).message).toContain(storage.name)
    expect((await storage.list('')).items).toEqual([])
  })

  it('a corrupt object is a non-retryable error naming the file; listing skips it', async () => {
    await storage.put('good.json', '{}')
    await storage.put('bad.json', '{"truncated": true}')
    const fd = openSync(join(dir.path, 'bad.json.relup'), 'r+')
    writeSync(fd, 'garbage', 0, 'latin1')
    closeSync(fd)
    // One at a time: a second read started before the first settles could reject unobserved.
    for (const read of [() => storage.get('bad.json'), () => storage.getStream('bad.json')]) {
      const failure = await read().catch((error: unknown) => error)
      expect(failure).toMatchObject({ retryable: false, operation: expect.stringMatching(/^get/) })
      expect((failure as Error).message).toContain('bad.json.relup is not a valid relup object')
    }
    expect((await storage.list('')).items.map((item) => item.key)).toEqual(['good.json'])
  })

  it('a corrupt object counts as existing for preconditions, and a plain put replaces it', async () => {
    await storage.put('bad.json', '{}')
    writeFileSync(join(dir.path, 'bad.json.relup'), 'not an object any more')
    expect(await storage.put('bad.json', 'x', { ifNoneMatch: '*' })).toEqual({
      status: 'precondition-failed',
    })
    expect(await storage.put('bad.json', 'x', { ifMatch: '"0000"' })).toEqual({
      status: 'precondition-failed',
    })
    expect(await storage.delete('bad.json', { ifMatch: '"0000"' })).toEqual({ status: 'precondition-failed' })
    expect((await storage.put('bad.json', 'repaired')).status).toBe('ok')
    const repaired = await storage.get('bad.json')
    expect(repaired.status === 'ok' && new TextDecoder().decode(repaired.body)).toBe('repaired')
  })

  it('a truncated object (header says more than the file holds) is reported, not returned short', async () => {
    await storage.put('short.bin', new Uint8Array(1000))
    truncateSync(join(dir.path, 'short.bin.relup'), 128 + 500)
    await expect(storage.get('short.bin')).rejects.toThrow(/announces 1000 bytes but the file holds 500/)
    await expect(storage.getStream('short.bin')).rejects.toThrow(/announces 1000 bytes/)
  })

  it('recovers when its own state folder is removed by hand while it runs', async () => {
    rmSync(join(dir.path, '.relup'), { recursive: true })
    expect((await storage.put('after-cleanup.json', '{}', { ifNoneMatch: '*' })).status).toBe('ok')
    expect((await storage.get('after-cleanup.json')).status).toBe('ok')
  })

  it('needs a directory, creates it if missing, and is named after it', async () => {
    expect(() => fsStorage({ dir: '' })).toThrow(ConfigError)
    expect(() => fsStorage({ dir: dir.path, staleLockMs: 0 })).toThrow(
      /staleLockMs must be a positive number/,
    )
    expect(() => fsStorage({ dir: dir.path, lockTimeoutMs: Number.NaN })).toThrow(ConfigError)
    const nested = join(dir.path, 'a', 'b', 'bucket')
    const created = fsStorage({ dir: nested })
    expect(created.name).toBe(`file://${nested}`)
    expect(created.dir).toBe(nested)
    expect(fsStorage({ dir: nested, name: 'local' }).name).toBe('local')
    expect(fsStorage({ dir: relative(process.cwd(), nested) }).dir).toBe(nested)
  })

  it('a directory that cannot be created is a StorageTransportError at once', () => {
    writeFileSync(join(dir.path, 'a-file'), '')
    expect(() => fsStorage({ dir: join(dir.path, 'a-file', 'bucket') })).toThrow(StorageTransportError)
  })
})
