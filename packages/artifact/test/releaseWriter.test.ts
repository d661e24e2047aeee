/**
 * The writer on its own: what the filesystem refuses (a file that already exists, as a
 * case-insensitive twin would on macOS) stops the extraction even when the file is written in
 * the background, after the Parser has moved on.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Header, ReadEntry } from 'tar'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, UnsafeArchiveError } from '../src/index.js'
import { ReleaseWriter } from '../src/releaseWriter.js'
import { tempDir } from './helpers.js'

function fileEntry(path: string, body: string): ReadEntry {
  const data = Buffer.from(body)
  const entry = new ReadEntry(new Header({ path, type: 'File', size: data.length, mode: 0o644 }))
  const padded = Buffer.alloc(512 * Math.ceil(data.length / 512))
  data.copy(padded)
  entry.write(padded)
  entry.end()
  return entry
}

describe('ReleaseWriter', () => {
  it('writes files and records their digests', async () => {
    const root = await tempDir()
    const failures: Error[] = []
    const writer = new ReleaseWriter(root, { ...DEFAULT_LIMITS }, (error) => failures.push(error))
    await writer.write(fileEntry('lib/a.js', 'hello'))
    await writer.settled()
    expect(await readFile(join(root, 'lib', 'a.js'), 'utf8')).toBe('hello')
    expect(writer.files['lib/a.js']?.size).toBe(5)
    expect(failures).toEqual([])
  })

  it('reports a background write the filesystem refuses, and refuses later entries', async () => {
    const root = await tempDir()
    await writeFile(join(root, 'taken.js'), 'already here')
    const failures: Error[] = []
    const writer = new ReleaseWriter(root, { ...DEFAULT_LIMITS }, (error) => failures.push(error))
    await writer.write(fileEntry('taken.js', 'new'))
    await writer.settled()
    expect(failures).toHaveLength(1)
    expect(failures[0]).toBeInstanceOf(UnsafeArchiveError)
    expect(await readFile(join(root, 'taken.js'), 'utf8')).toBe('already here')
    await expect(writer.write(fileEntry('next.js', 'x'))).rejects.toBe(failures[0])
  })
})
