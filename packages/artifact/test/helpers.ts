/** Test fixtures: temp directories, directory snapshots, and hand-made tar archives. */
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import type { HotUpgrade } from '@relup/core'
import { sha256Of } from '@relup/core/release'
import { afterEach } from 'vitest'

const created: string[] = []

/** A fresh temporary directory, deleted after the test. */
export async function tempDir(prefix = 'relup-artifact-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  created.push(dir)
  return dir
}

/** Delete `path` (a file or directory made outside `tempDir`, e.g. a default pack output) after the test. */
export function removeAfterTest(path: string): void {
  created.push(path)
}

afterEach(async () => {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

/** Write files (relative path → content) under `root`, creating directories. */
export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = join(root, ...path.split('/'))
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, content)
  }
}

/** Everything under `root`: type, size and content hash of each entry, link targets. */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const visit = async (dir: string, prefix: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name)
      const rel = prefix === '' ? name : `${prefix}/${name}`
      const stats = await lstat(path)
      if (stats.isSymbolicLink()) out[rel] = `link → ${await readlink(path)}`
      else if (stats.isDirectory()) {
        out[rel] = 'dir'
        await visit(path, rel)
      } else out[rel] = `file ${stats.size} ${sha256(await readFile(path))}`
    }
  }
  await visit(root, '')
  return out
}

export const sha256 = sha256Of

/** Yield `bytes` in chunks of `size`. */
export async function* chunks(bytes: Uint8Array, size = 1024): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size)
}

// --- Hand-made tar: every header field written here, so tests can put anything in them. ---

export interface RawHeader {
  /** Raw bytes of the name field (up to 100), for names with NUL bytes inside. */
  name: string | Buffer
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' dir, '6' FIFO, 'x' pax, 'g' global pax, 'L' GNU long name. */
  type?: string
  size?: number
  linkname?: string
  prefix?: string
  mode?: number
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`
}

export function tarHeader(fields: RawHeader): Buffer {
  const block = Buffer.alloc(512)
  const name = typeof fields.name === 'string' ? Buffer.from(fields.name) : fields.name
  name.copy(block, 0, 0, Math.min(100, name.length))
  block.write(octal(fields.mode ?? 0o644, 8), 100, 'latin1')
  block.write(octal(0, 8), 108, 'latin1')
  block.write(octal(0, 8), 116, 'latin1')
  block.write(octal(fields.size ?? 0, 12), 124, 'latin1')
  block.write(octal(946684800, 12), 136, 'latin1')
  block.write(' '.repeat(8), 148, 'latin1')
  block.write(fields.type ?? '0', 156, 'latin1')
  block.write(fields.linkname ?? '', 157, 'utf8')
  block.write('ustar\u000000', 257, 'latin1')
  block.write(fields.prefix ?? '', 345, 'utf8')
  let sum = 0
  for (const byte of block) sum += byte
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  return block
}

export interface RawEntry extends RawHeader {
  body?: string | Buffer
}

/** One entry: header, body, zero padding to 512 bytes. */
export function tarEntry(entry: RawEntry): Buffer {
  const body = entry.body === undefined ? Buffer.alloc(0) : Buffer.from(entry.body)
  const size = entry.size ?? body.length
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512)
  return Buffer.concat([tarHeader({ ...entry, size }), body, padding])
}

/** A pax record `"<len> key=value\n"`. */
export function paxRecord(key: string, value: string): string {
  const text = ` ${key}=${value}\n`
  let length = Buffer.byteLength(text) + 1
  while (String(length).length + Buffer.byteLength(text) !== length) length++
  return `${length}${text}`
}

/** Entries followed by the end-of-archive marker, gzipped. */
export function tgz(...entries: (RawEntry | Buffer)[]): Buffer {
  const parts = entries.map((entry) => (Buffer.isBuffer(entry) ? entry : tarEntry(entry)))
  return gzipSync(Buffer.concat([...parts, Buffer.alloc(1024)]))
}

// --- Hot upgrade documents ---

export function hotUpgrade(overrides: Partial<HotUpgrade> = {}): HotUpgrade {
  return {
    version: 'v2',
    upgradeId: '01KABCDEFGHJKMNPQRSTVWXYZ0',
    sourceRef: 'git:abc123',
    baseRef: 'image-1',
    artifact: { key: 'relup/chat/artifacts/v2-aaaaaaaaaaaa.tgz', sha256: 'a'.repeat(64), size: 1234 },
    manifest: {
      files: {
        'index.js': { sha256: 'b'.repeat(64), size: 10 },
        'lib/x.node': { sha256: 'c'.repeat(64), size: 20 },
      },
      nativeAddons: ['lib/x.node'],
      nodeAbi: '115',
    },
    publishedAt: '2026-11-26T12:00:00.000Z',
    publishedBy: 'ci@runner',
    ...overrides,
  }
}
