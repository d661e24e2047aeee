// Every bad input leaves the old code serving, with its state, and a failed result that says why.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { generateSigningKeyPair } from '@relup/artifact'
import {
  encodeDocument,
  type HotUpgrade,
  parseMachineResult,
  readDocument,
  relupKeys,
  type Storage,
} from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import { readMarker } from '../src/index.js'
import {
  APP,
  type Machine,
  publishDirect,
  readPointer,
  startMachine,
  tempDir,
  waitFor,
  writeRelease,
} from './helpers.js'
import { hostileTgz, type RawEntry } from './rawTar.js'

const keys = relupKeys(APP)
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

async function failedResult(storage: Storage, upgradeId: string) {
  return waitFor(async () => {
    const read = await readDocument(storage, keys.result(upgradeId, 'm1'), parseMachineResult)
    return read.status === 'ok' && read.document.status === 'failed' && read.document
  }, `a failed result for ${upgradeId}`)
}

/** A running machine with some state, on base code. */
async function runningMachine(
  storage: Storage,
  extra: Partial<Parameters<typeof startMachine>[1]> = {},
): Promise<Machine> {
  // The state directory sits alone in a sentinel parent: nothing may ever appear beside it.
  const stateDir = join(await tempDir('sentinel'), 'state')
  const machine = await startMachine(storage, {
    baseDir: await writeRelease(await tempDir(), 'base'),
    stateDir,
    ...extra,
  })
  await machine.engine.unit('counter').increment()
  await machine.engine.unit('counter').increment()
  await machine.engine.unit('counter').increment()
  return machine
}

async function expectStillServingBase(machine: Machine) {
  expect(machine.engine.version).toBe('base')
  expect(await machine.counter()).toEqual({ count: 3, version: 'base', migratedFrom: [] })
  expect(await readMarker(machine.stateDir)).toBeNull()
  expect(machine.relup.currentVsn()?.version).toBeNull()
  const releases = await readdir(join(machine.stateDir, 'releases'))
  expect(releases).toEqual([])
}

/** Publish a hand-made archive whose sha256 and size are honestly declared: only safety checks can stop it. */
async function publishArchive(storage: Storage, bytes: Buffer, version: string): Promise<HotUpgrade> {
  const normal = await writeRelease(await tempDir(), version)
  return publishDirect(storage, normal, {
    version,
    artifactBytes: () => bytes,
    mutate: (hot) => ({ ...hot, artifact: { ...hot.artifact, sha256: sha256(bytes), size: bytes.length } }),
  })
}

describe('bad input leaves the old code serving and a failed result that says why', () => {
  it('a sha256 mismatch', async () => {
    const storage = memoryStorage()
    const machine = await runningMachine(storage)
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), {
      version: 'v2',
      mutate: (h) => ({ ...h, artifact: { ...h.artifact, sha256: 'f'.repeat(64) } }),
    })
    const failed = await failedResult(storage, hot.upgradeId)
    expect(failed.error).toMatchObject({ code: 'ERR_RELUP_INTEGRITY' })
    expect(failed.error?.message).toMatch(/sha256/)
    await expectStillServingBase(machine)
  })

  it('a truncated download', async () => {
    const storage = memoryStorage()
    const machine = await runningMachine(storage)
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), {
      version: 'v2',
      artifactBytes: (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2)),
    })
    const failed = await failedResult(storage, hot.upgradeId)
    expect(failed.error?.code).toBe('ERR_RELUP_INTEGRITY')
    await expectStillServingBase(machine)
  })

  it('a malformed pointer document', async () => {
    const storage = memoryStorage()
    const machine = await runningMachine(storage)
    const good = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), {
      version: 'v2',
      mutate: (h) => h,
    })
    // Someone writes the pointer by hand and breaks a field.
    const current = await readPointer(storage)
    const broken = {
      ...current!.pointer,
      hot: { ...good, upgradeId: 'U-BROKEN', artifact: { ...good.artifact, sha256: 'not-a-hash' } },
    }
    const errors: Error[] = []
    machine.relup.on('poll:error', ({ error }) => errors.push(error))
    await storage.put(keys.current, encodeDocument(broken))
    const failed = await failedResult(storage, 'U-BROKEN')
    expect(failed.error).toMatchObject({ code: 'ERR_RELUP_DOCUMENT', phase: 'pointer' })
    expect(failed.error?.message).toMatch(/hot\.artifact\.sha256/)
    await waitFor(() => errors.length > 0, 'a poll error event')
    // The first good pointer had been applied meanwhile or not; either way nothing crashed and
    // the malformed one was not used.
    expect(['base', 'v2']).toContain(machine.engine.version)
  })

  const outside = join(tmpdir(), `relup-pwned-${randomBytes(6).toString('hex')}`)
  const hostile: [string, RawEntry[], RegExp][] = [
    [
      'a "../" path',
      [
        { name: 'ok.js', body: '1' },
        { name: '../escaped.js', body: 'pwned' },
      ],
      /ERR_RELUP_UNSAFE_ARCHIVE/,
    ],
    ['a nested "a/../../" path', [{ name: 'a/../../escaped.js', body: 'pwned' }], /ERR_RELUP_UNSAFE_ARCHIVE/],
    ['an absolute path', [{ name: `${outside}.js`, body: 'pwned' }], /ERR_RELUP_UNSAFE_ARCHIVE/],
    [
      'a symlink out of the release',
      [
        { name: 'link', type: '2', linkname: '/etc' },
        { name: 'link/passwd', body: 'pwned' },
      ],
      /ERR_RELUP_UNSAFE_ARCHIVE/,
    ],
    [
      'a hard link out of the release',
      [{ name: 'hard', type: '1', linkname: '../../../../etc/passwd' }],
      /ERR_RELUP_UNSAFE_ARCHIVE/,
    ],
    ['a FIFO', [{ name: 'fifo', type: '6' }], /ERR_RELUP_UNSAFE_ARCHIVE/],
  ]

  it.each(hostile)('an archive with %s', async (_what, entries, code) => {
    const storage = memoryStorage()
    const machine = await runningMachine(storage)
    const before = await readdir(dirname(machine.stateDir), { recursive: true })
    const hot = await publishArchive(storage, hostileTgz(entries), 'v2')
    const failed = await failedResult(storage, hot.upgradeId)
    expect(failed.error?.code).toMatch(code)
    await expectStillServingBase(machine)
    expect(existsSync(join(machine.stateDir, 'escaped.js'))).toBe(false)
    expect(existsSync(join(machine.stateDir, 'releases', 'escaped.js'))).toBe(false)
    expect(existsSync(`${outside}.js`)).toBe(false)
    expect(await readdir(dirname(machine.stateDir), { recursive: true })).toEqual(before)
  })

  it('an archive bomb over the caps', async () => {
    const storage = memoryStorage()
    const machine = await runningMachine(storage, { limits: { maxTotalBytes: 1024 * 1024 } })
    const bomb = hostileTgz([{ name: 'zeros.bin', body: Buffer.alloc(20 * 1024 * 1024) }])
    expect(bomb.length).toBeLessThan(100 * 1024)
    const hot = await publishArchive(storage, bomb, 'v2')
    const failed = await failedResult(storage, hot.upgradeId)
    expect(failed.error?.code).toBe('ERR_RELUP_ARCHIVE_LIMIT')
    await expectStillServingBase(machine)
  })

  describe('signatures, when trusted keys are configured', () => {
    const trusted = generateSigningKeyPair()
    const stranger = generateSigningKeyPair()

    it.each([
      ['an unsigned upgrade', undefined, (h: HotUpgrade) => h, /missing|not signed|unsigned/i],
      [
        'an upgrade signed by an untrusted key',
        stranger.privateKey,
        (h: HotUpgrade) => h,
        /trusted|unknown/i,
      ],
      [
        'an upgrade tampered with after signing',
        trusted.privateKey,
        (h: HotUpgrade) => ({ ...h, version: 'v2-evil' }),
        /does not verify/,
      ],
    ])('%s is refused', async (_what, key, mutate, message) => {
      const storage = memoryStorage()
      const machine = await runningMachine(storage, { trustedKeys: [trusted.publicKey] })
      const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), {
        version: 'v2',
        sign: key,
        mutate,
      })
      const failed = await failedResult(storage, hot.upgradeId)
      expect(failed.error).toMatchObject({ code: 'ERR_RELUP_SIGNATURE', phase: 'verify' })
      expect(failed.error?.message).toMatch(message)
      await expectStillServingBase(machine)
    })

    it('a correctly signed upgrade is applied', async () => {
      const storage = memoryStorage()
      const machine = await runningMachine(storage, { trustedKeys: [stranger.publicKey, trusted.publicKey] })
      await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), {
        version: 'v2',
        sign: trusted.privateKey,
      })
      await waitFor(() => machine.relup.getState().lastUpgrade?.status === 'completed', 'the upgrade')
      expect(await machine.counter()).toMatchObject({ count: 3, version: 'v2' })
    })
  })
})
