import { describe, expect, it } from 'vitest'
import {
  DocumentError,
  encodeDocument,
  initialPointer,
  isStaleRead,
  newHotUpgrade,
  parseCurrentPointer,
  parseHotUpgrade,
  parseLocalMarker,
  parseLock,
  parseMachineRecord,
  parseMachineResult,
  parseModuleManifest,
  resetPointer,
  supervisedFromEnv,
  withHotUpgrade,
  withoutHotUpgrade,
} from '../src/index.js'
import { hotUpgrade, marker, pointer } from './fixtures.js'

function documentError(fn: () => unknown): DocumentError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(DocumentError)
    return error as DocumentError
  }
  throw new Error('expected a DocumentError')
}

describe('current pointer', () => {
  it('parses a valid pointer from JSON bytes and keeps unknown fields', () => {
    const doc = { ...pointer({ hot: hotUpgrade() }), futureField: 42 }
    const parsed = parseCurrentPointer(encodeDocument(doc), 'relup/chat/current.json')
    expect(parsed).toEqual(doc)
  })

  it.each([
    ['a missing baseRef', { baseRef: undefined }, 'baseRef', /is missing/],
    [
      'a wrong sha256',
      { hot: hotUpgrade({ artifact: { key: 'k', sha256: 'abc', size: 1 } }) },
      'hot.artifact.sha256',
      /64 lowercase hex/,
    ],
    ['a negative seq', { seq: -1 }, 'seq', /integer >= 0/],
    ['a bad date', { setAt: 'yesterday' }, 'setAt', /ISO 8601/],
    [
      'a previous base that is not a string',
      { previousBases: ['a', 3] },
      'previousBases[1]',
      /non-empty string/,
    ],
    ['an unknown schema version', { schema: 2 }, 'schema', /must be 1/],
    [
      'a manifest file without size',
      {
        hot: {
          ...hotUpgrade(),
          manifest: { files: { 'a.js': { sha256: 'a'.repeat(64) } }, nativeAddons: [], nodeAbi: null },
        },
      },
      'hot.manifest.files.a.js.size',
      /is missing/,
    ],
    [
      'a hot upgrade for another base',
      { hot: hotUpgrade({ baseRef: 'image-9' }) },
      'hot.baseRef',
      /must equal baseRef/,
    ],
  ])('names the field for %s', (_name, change, field, problem) => {
    const error = documentError(() =>
      parseCurrentPointer({ ...pointer(), ...change }, 'relup/chat/current.json'),
    )
    expect(error.field).toBe(field)
    expect(error.key).toBe('relup/chat/current.json')
    expect(error.code).toBe('ERR_RELUP_DOCUMENT')
    expect(error.message).toContain('relup/chat/current.json (current pointer)')
    expect(error.message).toContain(`field "${field}"`)
    expect(error.message).toMatch(problem)
  })

  it('reports invalid JSON as a document error, not a SyntaxError', () => {
    const error = documentError(() => parseCurrentPointer('{"schema": 1,', 'relup/chat/current.json'))
    expect(error.message).toMatch(/is not valid JSON/)
    expect(error.field).toBe('')
  })

  it('refuses a manifest path that could escape the release', () => {
    for (const path of ['../x.js', '/abs.js', 'a/../../b.js', 'a/./b.js']) {
      const error = documentError(() =>
        parseModuleManifest({
          files: { [path]: { sha256: 'a'.repeat(64), size: 1 } },
          nativeAddons: [],
          nodeAbi: null,
        }),
      )
      expect(error.field).toBe(`files.${path}`)
    }
  })
})

describe('the other documents', () => {
  const now = '2026-11-26T12:00:00.000Z'
  const stats = {
    modulesReloaded: 2,
    moduleNames: ['a.js', 'b.js'],
    unitsMigrated: 1,
    unitNames: ['counter'],
    unitsFailed: 0,
    pauseMs: 0.12,
    totalMs: 40,
  }

  it('machine result: pending, completed and failed parse; a bad status is named', () => {
    const base = {
      schema: 1,
      upgradeId: 'U1',
      machineId: 'm1',
      region: 'ams',
      baseRef: 'image-1',
      version: 'v2',
      attempt: 1,
      startedAt: now,
    }
    expect(
      parseMachineResult({ ...base, status: 'pending', finishedAt: null, stats: null, error: null }).status,
    ).toBe('pending')
    expect(
      parseMachineResult({ ...base, status: 'completed', finishedAt: now, stats, error: null }).stats,
    ).toEqual(stats)
    const failed = parseMachineResult({
      ...base,
      status: 'failed',
      finishedAt: now,
      stats: null,
      error: { code: 'ERR_RELUP_INTEGRITY', message: 'sha256 mismatch', phase: 'verify' },
    })
    expect(failed.error?.code).toBe('ERR_RELUP_INTEGRITY')
    expect(
      documentError(() =>
        parseMachineResult({ ...base, status: 'done', finishedAt: null, stats: null, error: null }),
      ).field,
    ).toBe('status')
  })

  it('machine record: fingerprint must be 12 hex characters', () => {
    const record = {
      schema: 1,
      app: 'chat',
      machineId: 'm1',
      region: null,
      baseRef: 'image-1',
      hotRef: null,
      version: null,
      upgradeId: null,
      fingerprint: '0123456789ab',
      startedAt: now,
      updatedAt: now,
      lastResult: null,
    }
    expect(parseMachineRecord(record).fingerprint).toBe('0123456789ab')
    expect(documentError(() => parseMachineRecord({ ...record, fingerprint: 'xyz' })).field).toBe(
      'fingerprint',
    )
    // Under relup run or not: optional, so records of older runtimes still parse.
    expect(parseMachineRecord(record).supervised).toBeUndefined()
    expect(parseMachineRecord({ ...record, supervised: null }).supervised).toBeNull()
    const supervised = { followsColdReleases: true, coldReleaseId: null }
    expect(parseMachineRecord({ ...record, supervised }).supervised).toEqual(supervised)
    expect(
      documentError(() =>
        parseMachineRecord({ ...record, supervised: { followsColdReleases: 'yes', coldReleaseId: null } }),
      ).field,
    ).toBe('supervised.followsColdReleases')
  })

  it('supervisedFromEnv: what a supervisor put in the environment of a process of the app', () => {
    expect(supervisedFromEnv({}, 'shop')).toBeNull()
    expect(supervisedFromEnv({ RELUP_SUPERVISOR: '1' }, 'shop')).toEqual({
      followsColdReleases: false,
      coldReleaseId: null,
    })
    expect(
      supervisedFromEnv({ RELUP_SUPERVISOR: '1', RELUP_COLD_APP: 'shop', RELUP_COLD_RELEASE: 'r7' }, 'shop'),
    ).toEqual({ followsColdReleases: true, coldReleaseId: 'r7' })
    expect(
      supervisedFromEnv({ RELUP_SUPERVISOR: '1', RELUP_COLD_APP: 'chat' }, 'shop')?.followsColdReleases,
    ).toBe(false)
  })

  it('lock: token must be long and random-looking', () => {
    const lock = {
      schema: 1,
      owner: 'ci@runner',
      token: 'abcdefghijklmnopqrstuv',
      purpose: 'publish v2',
      acquiredAt: now,
      expiresAt: now,
    }
    expect(parseLock(lock).owner).toBe('ci@runner')
    expect(documentError(() => parseLock({ ...lock, token: 'short' })).field).toBe('token')
  })

  it('local marker: names the file it came from', () => {
    expect(parseLocalMarker(marker()).version).toBe('v2')
    const error = documentError(() =>
      parseLocalMarker({ ...marker(), artifactSha256: 'nope' }, '/var/lib/relup/marker.json'),
    )
    expect(error.message).toContain('/var/lib/relup/marker.json (local marker)')
    expect(error.field).toBe('artifactSha256')
  })
})

describe('newHotUpgrade', () => {
  const fields = {
    version: 'v2',
    sourceRef: 'git:abc',
    baseRef: 'image-1',
    artifact: { key: 'relup/chat/artifacts/v2-aaaaaaaaaaaa.tgz', sha256: 'a'.repeat(64), size: 10 },
    manifest: { files: {}, nativeAddons: [], nodeAbi: null },
    publishedBy: 'ci@runner',
  }

  it('gives each upgrade a fresh time-sortable id and the time it was made', () => {
    const now = new Date('2026-12-01T10:00:00.000Z')
    const a = newHotUpgrade(fields, now)
    const b = newHotUpgrade(fields, new Date(now.getTime() + 1))
    expect(a.upgradeId).not.toBe(b.upgradeId)
    expect(a.upgradeId < b.upgradeId).toBe(true)
    expect(a.publishedAt).toBe('2026-12-01T10:00:00.000Z')
    expect(parseHotUpgrade(JSON.stringify(a))).toEqual(a)
  })

  it('drops a signature it was handed (a rollback re-signs), and keeps a given id', () => {
    const hot = newHotUpgrade({
      ...fields,
      upgradeId: 'U1',
      signature: { alg: 'ed25519', keyId: 'k', value: 'v' },
    } as Parameters<typeof newHotUpgrade>[0])
    expect(hot.upgradeId).toBe('U1')
    expect(hot).not.toHaveProperty('signature')
  })

  it('refuses fields machines would refuse to parse', () => {
    expect(() => newHotUpgrade({ ...fields, version: '' })).toThrow(DocumentError)
  })
})

describe('pointer lineage', () => {
  const ctx = { setBy: 'machine:m1' }

  it('a first pointer starts a lineage that every later write keeps', () => {
    const first = initialPointer('chat', 'image-1', { ...ctx, baseDigest: 'aaaa1111aaaa1111' })
    expect(first.lineage).toMatch(/^[A-Za-z0-9_-]{16}$/)
    expect(first.baseDigest).toBe('aaaa1111aaaa1111')
    const published = withHotUpgrade(first, hotUpgrade({ baseRef: 'image-1' }), ctx)
    const reset = resetPointer(published, 'image-2', ctx)
    const base = withoutHotUpgrade(published, ctx)
    for (const next of [published, reset, base]) expect(next.lineage).toBe(first.lineage)
    expect(base).toMatchObject({ hot: null, baseRef: 'image-1', seq: published.seq + 1 })
    expect(parseCurrentPointer(JSON.stringify(published))).toEqual(published)
  })

  it('a lower seq of the same lineage is a stale read; any seq of a new lineage is not', () => {
    const known = { ...initialPointer('chat', 'image-1', ctx), seq: 74 }
    const stale = { ...known, seq: 2 }
    const recreated = { ...initialPointer('chat', 'image-1', ctx), seq: 1 }
    expect(isStaleRead(known, stale)).toBe(true)
    expect(isStaleRead(known, recreated)).toBe(false)
    expect(isStaleRead(known, { ...known, seq: 75 })).toBe(false)
    // Pointers written before lineages existed: seq alone, as before.
    const { lineage: _, ...legacy } = known
    expect(isStaleRead(legacy, { ...legacy, seq: 2 })).toBe(true)
  })

  it('a malformed pointer or lock says which command rewrites it', () => {
    expect(() => parseCurrentPointer('garbage{{{ not json', 'relup/chat/current.json')).toThrow(
      /relup repair --app/,
    )
    expect(() => parseLock('{}', 'relup/chat/lock.json')).toThrow(/relup unlock --app/)
  })
})
