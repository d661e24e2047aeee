import { createHash } from 'node:crypto'
import { readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { hostTag } from '../src/keyLock.js'
import { formatHeader, HEADER_SIZE } from '../src/objectFile.js'
import { deadPid, exited, nextMessage, startFixture } from './fixtures/processes.js'
import { tempDir } from './fixtures/tempDir.js'

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

describe('writes are atomic: a half-written object is never visible', () => {
  let dir: ReturnType<typeof tempDir>
  let storage: FsStorage
  const tempFiles = () => readdirSync(join(dir.path, '.relup', 'tmp'))

  beforeEach(() => {
    dir = tempDir('atomicity')
    storage = fsStorage({ dir: dir.path })
  })

  afterEach(async () => {
    await storage.close()
    dir.remove()
  })

  /** A complete-looking object left in the temp folder, as a writer killed before its rename leaves it. */
  function strayTempFile(name: string): string {
    const path = join(dir.path, '.relup', 'tmp', name)
    writeFileSync(path, Buffer.concat([formatHeader(sha256(new Uint8Array()), 0)]))
    return path
  }

  it('a temp file left by a crash is never listed or read, and a later process removes it', async () => {
    await storage.put('app/current.json', 'v1')
    const dead = strayTempFile(`${hostTag}-${deadPid()}-0123456789abcdef.tmp`)
    const alive = strayTempFile(`${hostTag}-${process.ppid}-fedcba9876543210.tmp`)
    const abandoned = strayTempFile(`otherhost-1-00000000000000ff.tmp`)
    const recent = strayTempFile(`otherhost-1-00000000000000fe.tmp`)
    utimesSync(abandoned, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000))

    expect((await storage.list('')).items.map((item) => item.key)).toEqual(['app/current.json'])
    fsStorage({ dir: dir.path })
    // Gone: a dead writer's, and one untouched for hours. Kept: a live writer's, and another host's recent one.
    expect(tempFiles().sort()).toEqual([alive, recent].map((path) => path.split('/').pop()).sort())
    expect(dead).not.toBe(alive)
  })

  it('a body that fails mid-way leaves the previous version and no temp file', async () => {
    await storage.put('app/current.json', 'v1')
    async function* failing() {
      yield new TextEncoder().encode('{"half":')
      throw new Error('source failed mid-way')
    }
    await expect(storage.put('app/current.json', failing())).rejects.toThrow('source failed mid-way')
    const result = await storage.get('app/current.json')
    expect(result.status === 'ok' && decode(result.body)).toBe('v1')
    expect(tempFiles()).toEqual([])
  })

  it('an aborted put changes nothing and leaves no temp file', async () => {
    const controller = new AbortController()
    async function* slow() {
      yield new Uint8Array(1024)
      controller.abort()
      yield new Uint8Array(1024)
    }
    await expect(storage.put('aborted.bin', slow(), { signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    })
    expect((await storage.get('aborted.bin')).status).toBe('not-found')
    expect(tempFiles()).toEqual([])
  })

  it('a process killed (SIGKILL) while streaming a new version leaves the old one whole', async () => {
    const v1 = await storage.put('artifacts/app.tgz', 'version 1')
    const writer = startFixture('writer.mjs', [dir.path, 'artifacts/app.tgz', 'stalled'])
    await nextMessage(writer)
    writer.kill('SIGKILL')
    await exited(writer)

    expect(tempFiles()).toHaveLength(1) // the crash really happened mid-write
    const result = await storage.get('artifacts/app.tgz')
    expect(result.status === 'ok' && [decode(result.body), result.etag]).toEqual([
      'version 1',
      v1.status === 'ok' && v1.etag,
    ])
    expect((await storage.list('')).items).toEqual([
      expect.objectContaining({ key: 'artifacts/app.tgz', size: 9 }),
    ])
    fsStorage({ dir: dir.path })
    expect(tempFiles()).toEqual([])
  })

  it('a process killed at any moment of a write loop leaves a complete object, and its lock does not block', async () => {
    // Conditional writes only (as the pointer is written): a lock left behind would block the next one.
    const cautious = fsStorage({ dir: dir.path, staleLockMs: 60_000, lockTimeoutMs: 5_000 })
    try {
      // The key exists before the first kill, however slow the writer is to start.
      await cautious.put('current.json', 'initial')
      for (let round = 0; round < 5; round++) {
        const writer = startFixture('writer.mjs', [dir.path, 'current.json', 'loop'])
        await nextMessage(writer)
        await sleep(20 + Math.random() * 80)
        writer.kill('SIGKILL')
        await exited(writer)

        const result = await cautious.get('current.json')
        if (result.status !== 'ok')
          throw new Error(`round ${round}: expected an object, got ${result.status}`)
        expect(`"${sha256(result.body)}"`, `round ${round}: content and etag agree`).toBe(result.etag)
        const next = await cautious.put('current.json', `after crash ${round}`, { ifMatch: result.etag })
        expect(next.status, `round ${round}`).toBe('ok')
      }
    } finally {
      await cautious.close()
    }
  })

  it('the header announces the exact content size', async () => {
    await storage.put('sized.bin', new Uint8Array(1000))
    const listed = (await storage.list('')).items[0]
    expect(listed?.size).toBe(1000)
    expect(HEADER_SIZE).toBe(128)
  })
})
