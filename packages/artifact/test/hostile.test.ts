/**
 * Hostile archives, made by hand. Each is passed with its correct sha256, so the only thing
 * between it and the disk is the safety checks: each must be refused with the right error, write
 * nothing outside the temporary area, and leave nothing behind.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { isRelupError } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { ArchiveLimitError, type ArchiveLimits, extractArtifact, UnsafeArchiveError } from '../src/index.js'
import {
  chunks,
  paxRecord,
  type RawEntry,
  sha256,
  snapshot,
  tarEntry,
  tempDir,
  tgz,
  writeTree,
} from './helpers.js'

/**
 * `<root>/sentinel` holds a file and a directory an attack would like to reach;
 * `<root>/releases/v2` is where the release goes.
 */
async function arena() {
  const root = await tempDir()
  await writeTree(root, {
    'sentinel/keep.txt': 'keep',
    'sentinel/dir/inner.txt': 'inner',
    'releases/.keep': '',
  })
  return {
    root,
    sentinel: join(root, 'sentinel'),
    releases: join(root, 'releases'),
    dest: join(root, 'releases', 'v2'),
  }
}

type Arena = Awaited<ReturnType<typeof arena>>

async function refuse(
  build: (arena: Arena) => Buffer,
  errorClass: typeof UnsafeArchiveError | typeof ArchiveLimitError,
  limits?: Partial<ArchiveLimits>,
): Promise<Error> {
  const place = await arena()
  const before = await snapshot(place.root)
  const archive = build(place)
  const error = await extractArtifact(chunks(archive, 4096), {
    dest: place.dest,
    sha256: sha256(archive),
    size: archive.length,
    limits,
  }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(errorClass)
  expect(await snapshot(place.root)).toEqual(before)
  expect(await readdir(place.releases)).toEqual(['.keep'])
  return error as Error
}

const file = (name: string, body = 'pwned'): RawEntry => ({ name, body })

describe('extractArtifact refuses unsafe entries with UnsafeArchiveError', () => {
  it('an absolute path', async () => {
    const error = await refuse(
      (a) => tgz(file('index.js', 'ok'), file(join(a.sentinel, 'pwned'))),
      UnsafeArchiveError,
    )
    expect(isRelupError(error, 'ERR_RELUP_UNSAFE_ARCHIVE')).toBe(true)
    expect(error).toMatchObject({ reason: 'is an absolute path' })
    expect(error.message).toContain('sentinel/pwned')
  })

  it('a "../" segment', async () => {
    const error = await refuse(() => tgz(file('../sentinel/pwned')), UnsafeArchiveError)
    expect(error).toMatchObject({ entry: '../sentinel/pwned' })
    expect(error.message).toMatch(/"\.\." segment/)
  })

  it('a path that climbs out in the middle: a/../../x', async () => {
    await refuse(() => tgz({ name: 'a/', type: '5' }, file('a/../../sentinel/pwned')), UnsafeArchiveError)
  })

  it('a "./"-prefixed climb: ./../x', async () => {
    await refuse(() => tgz(file('./../sentinel/pwned')), UnsafeArchiveError)
  })

  it('a symlink to /etc', async () => {
    const error = await refuse(() => tgz({ name: 'etc', type: '2', linkname: '/etc' }), UnsafeArchiveError)
    expect(error.message).toMatch(/symbolic link to "\/etc"/)
  })

  it('a symlink to ../outside', async () => {
    await refuse(() => tgz({ name: 'out', type: '2', linkname: '../sentinel' }), UnsafeArchiveError)
  })

  it('a symlink inside the release (links are not part of a release)', async () => {
    await refuse(
      () => tgz(file('a.js', 'x'), { name: 'b.js', type: '2', linkname: 'a.js' }),
      UnsafeArchiveError,
    )
  })

  it('a hard link to a file outside', async () => {
    const error = await refuse(
      (a) => tgz({ name: 'h', type: '1', linkname: join(a.sentinel, 'keep.txt') }),
      UnsafeArchiveError,
    )
    expect(error.message).toMatch(/hard link/)
    await refuse(() => tgz({ name: 'h', type: '1', linkname: '../sentinel/keep.txt' }), UnsafeArchiveError)
  })

  it('a symlink, then a file written through it', async () => {
    await refuse(
      (a) => tgz({ name: 'link', type: '2', linkname: a.sentinel }, file('link/pwned')),
      UnsafeArchiveError,
    )
  })

  it('a file, then a path that goes through it as if it were a directory', async () => {
    const error = await refuse(() => tgz(file('a', 'x'), file('a/b')), UnsafeArchiveError)
    expect(error.message).toMatch(/goes through "a", which is a file/)
  })

  it.each([
    ['a character device', '3'],
    ['a block device', '4'],
    ['a FIFO', '6'],
  ])('%s', async (what, type) => {
    const error = await refuse(() => tgz({ name: 'dev', type }), UnsafeArchiveError)
    expect(error.message).toContain(what)
  })

  it('an unsupported entry type (GNU volume header)', async () => {
    await refuse(() => tgz(file('ok.js', 'x'), { name: 'vol', type: 'V' }), UnsafeArchiveError)
  })

  it('a NUL byte in the raw name (the Parser alone would read only "safe.js")', async () => {
    const error = await refuse(
      () => tgz({ name: Buffer.from('safe.js\0../../sentinel/pwned'), body: 'x' }),
      UnsafeArchiveError,
    )
    expect(error.message).toMatch(/after a NUL byte/)
    expect(error.message).toContain('\\u0000')
  })

  it('a NUL byte in a pax path', async () => {
    await refuse(
      () =>
        tgz(
          { name: 'PaxHeader/x', type: 'x', body: paxRecord('path', 'safe.js\0../../pwned') },
          file('safe.js', 'x'),
        ),
      UnsafeArchiveError,
    )
  })

  it('a pax path that climbs out, behind an innocent ustar name', async () => {
    const error = await refuse(
      () =>
        tgz(
          { name: 'PaxHeader/x', type: 'x', body: paxRecord('path', '../../sentinel/pwned') },
          file('innocent.js'),
        ),
      UnsafeArchiveError,
    )
    expect(error).toMatchObject({ entry: '../../sentinel/pwned' })
  })

  it('a GNU long name that climbs out', async () => {
    const name = `${'../'.repeat(2)}sentinel/${'x'.repeat(120)}`
    await refuse(
      () => tgz({ name: '././@LongLink', type: 'L', body: `${name}\0` }, file('short.js')),
      UnsafeArchiveError,
    )
  })

  it('a pax global header', async () => {
    const error = await refuse(
      () =>
        tgz({ name: 'pax_global_header', type: 'g', body: paxRecord('comment', 'hi') }, file('a.js', 'x')),
      UnsafeArchiveError,
    )
    expect(error.message).toMatch(/global header/)
  })

  it('a malformed pax header', async () => {
    await refuse(
      () => tgz({ name: 'PaxHeader/x', type: 'x', body: '99 path=a.js\n' }, file('a.js', 'x')),
      UnsafeArchiveError,
    )
  })

  it.each([
    ['a backslash', '..\\..\\sentinel\\pwned', /backslash/],
    ['a drive letter', 'C:/Windows/pwned', /drive letter/],
    ['a control character', 'evil\u001b[31m.js', /control character/],
    ['an empty segment', 'a//b.js', /empty segment/],
  ])('a path with %s', async (_what, name, reason) => {
    const error = await refuse(() => tgz(file(name)), UnsafeArchiveError)
    expect(error.message).toMatch(reason)
  })

  it('two names that differ only in case', async () => {
    const error = await refuse(() => tgz(file('Config.js', 'a'), file('config.js', 'b')), UnsafeArchiveError)
    expect(error.message).toMatch(/collides with "Config\.js"/)
  })

  it('two names that differ only in unicode normalization', async () => {
    await refuse(() => tgz(file('caf\u00e9.js', 'a'), file('cafe\u0301.js', 'b')), UnsafeArchiveError)
  })

  it('a name with an invisible character that some filesystems ignore', async () => {
    await refuse(() => tgz(file('index.js', 'a'), file('ind\u200dex.js', 'b')), UnsafeArchiveError)
  })

  it('the same file twice', async () => {
    const error = await refuse(() => tgz(file('a.js', 'first'), file('a.js', 'second')), UnsafeArchiveError)
    expect(error.message).toMatch(/appears twice/)
  })

  it('data after the end-of-archive marker', async () => {
    await refuse(
      () =>
        gzipSync(
          Buffer.concat([tarEntry(file('a.js', 'x')), Buffer.alloc(1024), tarEntry(file('hidden.js'))]),
        ),
      UnsafeArchiveError,
    )
  })
})

describe('extractArtifact enforces limits with ArchiveLimitError', () => {
  it('a file larger than maxFileBytes', async () => {
    const error = await refuse(() => tgz(file('big.bin', 'x'.repeat(4096))), ArchiveLimitError, {
      maxFileBytes: 1024,
    })
    expect(isRelupError(error, 'ERR_RELUP_ARCHIVE_LIMIT')).toBe(true)
    expect(error).toMatchObject({ limit: 'maxFileBytes', max: 1024, entry: 'big.bin' })
  })

  it('more entries than maxEntries', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => file(`f${i}.js`, 'x'))
    const error = await refuse(() => tgz(...entries), ArchiveLimitError, { maxEntries: 10 })
    expect(error).toMatchObject({ limit: 'maxEntries', entry: 'f10.js' })
  })

  it('a bomb: one file of zeros larger than maxTotalBytes, refused from its header', async () => {
    // 64 MiB of zeros gzip to about 64 KiB.
    const bomb = () => tgz({ name: 'zeros.bin', body: Buffer.alloc(64 * 1024 * 1024) })
    const error = await refuse(bomb, ArchiveLimitError, { maxTotalBytes: 1024 * 1024 })
    expect(error).toMatchObject({ limit: 'maxTotalBytes', entry: 'zeros.bin' })
  })

  it('a bomb: many files of zeros adding up to more than maxTotalBytes, some already written', async () => {
    const entries = Array.from({ length: 40 }, (_, i) => ({
      name: `z${i}.bin`,
      body: Buffer.alloc(100 * 1024),
    }))
    const error = await refuse(() => tgz(...entries), ArchiveLimitError, { maxTotalBytes: 1024 * 1024 })
    expect(error).toMatchObject({ limit: 'maxTotalBytes', entry: 'z10.bin' })
  })

  it('an uncompressed stream far beyond the caps, even without file entries', async () => {
    // Zero blocks after the end marker decompress without limit; the stream cap stops them.
    const limits = { maxTotalBytes: 1024, maxEntries: 1, maxFileBytes: 1024 }
    const zeros = gzipSync(Buffer.concat([tarEntry(file('a.js', 'x')), Buffer.alloc(8 * 1024 * 1024)]))
    await refuse(() => zeros, ArchiveLimitError, limits)
  })
})
