/**
 * `artifactFiles`: what an artifact holds, file by file, read from its stream without extracting
 * it (a publisher compares an app's directory with a cold release in storage this way).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { artifactFiles, pack } from '../src/index.js'
import { chunks, removeAfterTest, tempDir, writeTree } from './helpers.js'

const APP = {
  'server.js': 'require("./lib/db")\n',
  'lib/db.js': 'exports.pool = 4\n',
  'hot/handler.js': 'module.exports = () => "hi"\n',
  'node_modules/dep/index.js': 'exports.value = 1\n',
  'assets/big.bin': Buffer.alloc(300_000, 7),
}

async function packed() {
  const dir = join(await tempDir(), 'app')
  await writeTree(dir, APP)
  const artifact = await pack(dir)
  removeAfterTest(artifact.path)
  return { artifact, bytes: await readFile(artifact.path) }
}

describe('artifactFiles', () => {
  it('gives every file’s sha256 and size as pack recorded them, and the artifact’s own sha256 and size', async () => {
    const { artifact, bytes } = await packed()
    const read = await artifactFiles(chunks(bytes, 4096))
    expect(read.sha256).toBe(artifact.sha256)
    expect(read.size).toBe(artifact.size)
    expect(read.files).toEqual(artifact.manifest.files)
  })

  it('hashes only the files included', async () => {
    const { artifact, bytes } = await packed()
    const read = await artifactFiles(chunks(bytes), {
      include: (path) => !path.startsWith('node_modules/') && !path.startsWith('hot/'),
    })
    expect(Object.keys(read.files).sort()).toEqual(['assets/big.bin', 'lib/db.js', 'server.js'])
    expect(read.files['server.js']).toEqual(artifact.manifest.files['server.js'])
    // The whole artifact was still read: its sha256 is the one a release names.
    expect(read.sha256).toBe(artifact.sha256)
  })

  it('other bytes give another sha256; a truncated or over-long stream is an error', async () => {
    const { artifact, bytes } = await packed()
    const changed = Buffer.from(bytes)
    changed[changed.length - 1] = changed[changed.length - 1]! ^ 0xff
    const read = await artifactFiles(chunks(changed)).catch(() => null)
    // A flipped byte of the gzip trailer fails the gzip check, or at least the sha256.
    expect(read === null || read.sha256 !== artifact.sha256).toBe(true)
    await expect(artifactFiles(chunks(bytes.subarray(0, bytes.length / 2)))).rejects.toThrow()
    await expect(artifactFiles(chunks(bytes), { maxBytes: bytes.length - 1 })).rejects.toThrow(
      /larger than the expected/,
    )
  })
})
