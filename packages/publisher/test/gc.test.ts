import { createHash } from 'node:crypto'
import {
  coldKey,
  type HotUpgrade,
  initialPointer,
  listAll,
  type Storage,
  StorageTransportError,
  withHotUpgrade,
  writeDocument,
} from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import {
  ArtifactGoneError,
  acquireLock,
  DEFAULT_ORPHAN_GRACE_MS,
  gc,
  LockHeldError,
  NothingToRollBackError,
  publish,
  publishCold,
  publishHistory,
  rollback,
  rollbackCold,
} from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  COMPLETED_STATS,
  freshStorage,
  hotDir,
  hotUpgrade,
  keys,
  onCleanup,
  pointerOf,
  recordingReporter,
  tempDir,
  writeResult,
} from './helpers.js'

const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const T0 = Date.parse('2026-11-01T10:00:00.000Z')
const minutes = (n: number) => n * 60_000

async function keysUnder(storage: Storage, prefix: string): Promise<string[]> {
  const found: string[] = []
  for await (const item of listAll(storage, prefix)) found.push(item.key)
  return found
}

async function result(storage: Storage, hot: HotUpgrade, machineId: string) {
  await writeResult(storage, {
    schema: 1,
    upgradeId: hot.upgradeId,
    machineId,
    region: 'ams',
    baseRef: hot.baseRef,
    version: hot.version,
    attempt: 1,
    startedAt: hot.publishedAt,
    status: 'completed',
    finishedAt: hot.publishedAt,
    stats: COMPLETED_STATS,
    error: null,
  })
}

/**
 * A store with `count` publishes v1..vN, a minute apart (each with its artifact, history entry and
 * a result from m1), the pointer on the last. `sameAs` gives some versions the artifact of another.
 */
async function seed(
  storage: Storage,
  count: number,
  sameAs: Record<number, number> = {},
): Promise<HotUpgrade[]> {
  const upgrades: HotUpgrade[] = []
  for (let i = 1; i <= count; i++) {
    const content = `v${sameAs[i] ?? i}`
    const artifact = { key: keys.artifact(content, sha(content)), sha256: sha(content), size: content.length }
    const hot = hotUpgrade({ version: `v${i}`, artifact }, new Date(T0 + minutes(i)))
    await storage.put(artifact.key, content)
    await writeDocument(storage, keys.history(hot.upgradeId), hot)
    await result(storage, hot, 'm1')
    upgrades.push(hot)
  }
  const first = initialPointer(APP, 'image-1', { setBy: 'machine:test' })
  await writeDocument(storage, keys.current, withHotUpgrade(first, upgrades.at(-1)!, { setBy: 'test' }))
  return upgrades
}

/** What `result()` needs of a cold release: its results are machine results under its release id. */
const upgradeLike = (release: { releaseId: string; version: string; publishedAt: string }) =>
  ({
    upgradeId: release.releaseId,
    version: release.version,
    baseRef: `cold-${release.releaseId}`,
    publishedAt: release.publishedAt,
  }) as HotUpgrade

/** A live machine record running `hot`. */
const runs = (storage: Storage, machineId: string, hot: HotUpgrade, extra = {}) =>
  announceMachine(storage, machineId, 'image-1', {
    hotRef: hot.sourceRef,
    version: hot.version,
    upgradeId: hot.upgradeId,
    ...extra,
  })

const stores: [string, () => Promise<Storage>][] = [
  ['memory', async () => freshStorage()],
  ['the filesystem', async () => fsStorage({ dir: await tempDir('gc-fs') })],
  [
    's3rver',
    async () => {
      const server = await startS3rver()
      onCleanup(() => server.stop())
      await server.createBucket('relup-gc')
      const storage = s3Storage({ bucket: 'relup-gc', env: s3rverEnv(server, 'relup-gc') })
      onCleanup(async () => storage.close?.())
      return storage
    },
  ],
]

describe.each(stores)('relup gc on %s', (_, open) => {
  it('keeps the stable release, the last N publishes, what live machines run and the rollback target; a dry run deletes nothing', async () => {
    const storage = await open()
    // v7..v10 are republishes of v6's build: `rollback` without --to goes back to v5.
    const upgrades = await seed(storage, 10, { 7: 6, 8: 6, 9: 6, 10: 6 })
    const v = (n: number) => upgrades[n - 1]!
    await runs(storage, 'm1', v(10))
    await runs(storage, 'm2', v(2)) // live, on an old release
    await runs(storage, 'm3', v(1), { stoppedAt: new Date().toISOString() }) // stopped: not kept for
    const before = await keysUnder(storage, keys.prefix)

    const dry = await gc({ storage, app: APP, keep: 3, dryRun: true })
    expect(dry.dryRun).toBe(true)
    expect(await keysUnder(storage, keys.prefix)).toEqual(before)
    const removed = [1, 3, 4, 6, 7].map((n) => v(n)) // v6's artifact stays: v8..v10 name it
    expect(dry.deleted.history.sort()).toEqual(removed.map((h) => keys.history(h.upgradeId)).sort())
    expect(dry.deleted.results.sort()).toEqual(removed.map((h) => keys.result(h.upgradeId, 'm1')).sort())
    expect(dry.deleted.artifacts.sort()).toEqual([1, 3, 4].map((n) => v(n).artifact.key).sort())
    expect(dry.objectsBefore).toBe(before.length)
    expect(dry.objectsAfter).toBe(before.length - 5 - 5 - 3)
    const reasons = Object.fromEntries(dry.kept.map((k) => [k.version, k.reasons.sort()]))
    expect(reasons).toEqual({
      v10: ['machine', 'recent', 'stable'],
      v9: ['recent'],
      v8: ['recent'],
      v2: ['machine'],
      v5: ['rollback'],
    })

    const done = await gc({ storage, app: APP, keep: 3 })
    expect(done.deleted).toEqual(dry.deleted)
    const after = await keysUnder(storage, keys.prefix)
    expect(after.length).toBe(dry.objectsAfter + 1) // + gc.json
    for (const key of [...dry.deleted.history, ...dry.deleted.results, ...dry.deleted.artifacts])
      expect(after).not.toContain(key)
    expect((await publishHistory(storage, APP)).map((h) => h.version)).toEqual([
      'v2',
      'v5',
      'v8',
      'v9',
      'v10',
    ])
    // A second run finds nothing more to do.
    const again = await gc({ storage, app: APP, keep: 3 })
    expect(again.deleted).toEqual({ history: [], results: [], artifacts: [], machines: [] })
  })

  it('removes the records of machines silent for the retention (7 days), never a live one', async () => {
    const storage = await open()
    const [v1] = await seed(storage, 1)
    const days = (n: number) => new Date(Date.now() - n * 24 * 60 * 60_000).toISOString()
    await runs(storage, 'live', v1!)
    await runs(storage, 'stopped-yesterday', v1!, { stoppedAt: days(1), updatedAt: days(1) })
    await runs(storage, 'gone', v1!, { stoppedAt: days(8), updatedAt: days(8) })
    await runs(storage, 'vanished', v1!, { updatedAt: days(30) }) // never said it stopped
    const dry = await gc({ storage, app: APP, dryRun: true })
    expect(dry.deleted.machines.sort()).toEqual([keys.machine('gone'), keys.machine('vanished')])
    await gc({ storage, app: APP })
    const left = await keysUnder(storage, keys.machinesPrefix)
    expect(left.sort()).toEqual([keys.machine('live'), keys.machine('stopped-yesterday')])
    // A shorter retention, down to an hour; less is refused (a live machine may be 10 minutes quiet).
    await gc({ storage, app: APP, machineRetentionMs: 60 * 60_000 })
    expect(await keysUnder(storage, keys.machinesPrefix)).toEqual([keys.machine('live')])
    await expect(gc({ storage, app: APP, machineRetentionMs: 60_000 })).rejects.toThrow(
      /machineRetentionMs takes at least an hour/,
    )
  })

  it('pages through more than 1,000 keys', async () => {
    const storage = await open()
    const [old] = await seed(storage, 3)
    const machines = Array.from({ length: 1_050 }, (_, i) => `m${String(i).padStart(4, '0')}`)
    for (let i = 0; i < machines.length; i += 50)
      await Promise.all(machines.slice(i, i + 50).map((m) => result(storage, old!, m)))
    // m1's result of the seed, and 1,050 more.
    expect((await keysUnder(storage, keys.results(old!.upgradeId))).length).toBe(1_051)
    const outcome = await gc({ storage, app: APP, keep: 2 })
    expect(outcome.deleted.results.length).toBe(1_051)
    expect(await keysUnder(storage, keys.results(old!.upgradeId))).toEqual([])
    expect(outcome.objectsBefore).toBeGreaterThan(1_050)
  }, 120_000)
})

describe('relup gc and concurrent publishers', () => {
  it('leaves an artifact no history entry names alone until its grace is over, remembering since when', async () => {
    const storage = freshStorage()
    await seed(storage, 2)
    const stray = keys.artifact('v9', sha('v9'))
    await storage.put(stray, 'an upload whose publish has not moved the pointer yet')
    const now = new Date()
    const first = await gc({ storage, app: APP, now })
    expect(first.deleted.artifacts).toEqual([])
    expect(first.waiting).toEqual([
      {
        key: stray,
        since: now.toISOString(),
        deletableAt: new Date(now.getTime() + DEFAULT_ORPHAN_GRACE_MS).toISOString(),
      },
    ])
    const later = await gc({ storage, app: APP, now: new Date(now.getTime() + minutes(5)) })
    expect(later.waiting.map((w) => w.since)).toEqual([now.toISOString()])
    expect((await storage.get(stray)).status).toBe('ok')
    const past = await gc({ storage, app: APP, now: new Date(now.getTime() + DEFAULT_ORPHAN_GRACE_MS) })
    expect(past.deleted.artifacts).toEqual([stray])
    expect((await storage.get(stray)).status).toBe('not-found')
  })

  it('a document it cannot read (storage failing) stops it before any delete; a malformed one is left alone', async () => {
    const inner = freshStorage()
    const upgrades = await seed(inner, 6)
    const newest = keys.history(upgrades.at(-2)!.upgradeId)
    const before = await keysUnder(inner, keys.prefix)
    const failing: Storage = {
      ...inner,
      get: async (key, options) => {
        if (key === newest)
          throw new StorageTransportError('injected: read failed', { operation: 'get', key, retryable: true })
        return inner.get(key, options)
      },
    }
    await expect(gc({ storage: failing, app: APP, keep: 2 })).rejects.toBeInstanceOf(StorageTransportError)
    expect(await keysUnder(inner, keys.prefix)).toEqual(before.filter((k) => k !== keys.lock))
    await inner.put(keys.history('01BROKEN'), 'not json {{{')
    const outcome = await gc({ storage: inner, app: APP, keep: 2 })
    expect(outcome.deleted.history).not.toContain(keys.history('01BROKEN'))
    expect((await inner.get(keys.history('01BROKEN'))).status).toBe('ok')
    expect(outcome.deleted.history.length).toBe(4)
  })

  it('does not run while another publisher holds the deploy lock (a dry run still answers)', async () => {
    const storage = freshStorage()
    await seed(storage, 5)
    await acquireLock(storage, keys, { app: APP, purpose: 'publish v6', ttlMs: 60_000, force: false })
    const before = await keysUnder(storage, keys.prefix)
    await expect(gc({ storage, app: APP, keep: 1 })).rejects.toBeInstanceOf(LockHeldError)
    expect(await keysUnder(storage, keys.prefix)).toEqual(before)
    expect((await gc({ storage, app: APP, keep: 1, dryRun: true })).deleted.history.length).toBe(3)
  })

  /** `inner`, running `during()` once right after the first artifact upload lands. */
  function afterArtifactUpload(inner: Storage, during: () => Promise<unknown>): Storage {
    let done = false
    return {
      ...inner,
      async put(key, body, options) {
        const put = await inner.put(key, body, options)
        if (!done && key.startsWith(keys.artifactsPrefix) && put.status === 'ok') {
          done = true
          await during()
        }
        return put
      },
    }
  }

  it('a gc between a publish upload and its lock leaves the new artifact alone', async () => {
    const inner = freshStorage()
    await bootPointer(inner)
    let during: Awaited<ReturnType<typeof gc>> | undefined
    const storage = afterArtifactUpload(inner, async () => {
      during = await gc({ storage: inner, app: APP })
    })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v1'), version: 'v1', wait: false })
    expect(during?.waiting.map((w) => w.key)).toEqual([outcome.upgrade.artifact.key])
    expect((await pointerOf(inner)).hot?.upgradeId).toBe(outcome.upgrade.upgradeId)
    expect((await inner.get(outcome.upgrade.artifact.key)).status).toBe('ok')
  })

  it('a publish whose artifact was removed before it took the lock fails without moving the pointer', async () => {
    const inner = freshStorage()
    await bootPointer(inner)
    const storage = afterArtifactUpload(inner, () => gc({ storage: inner, app: APP, orphanGraceMs: 0 }))
    const error = await publish({
      storage,
      app: APP,
      dir: await hotDir('v1'),
      version: 'v1',
      wait: false,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ArtifactGoneError)
    expect((error as Error).message).toMatch(/the pointer was not moved .* Publish again/)
    expect((await pointerOf(inner)).hot).toBeNull()
    expect(await keysUnder(inner, keys.historyPrefix)).toEqual([])
  })
})

describe('relup gc and cold releases', () => {
  it('keeps the cold release `relup run` machines run and those its rollback offers, with their results', async () => {
    const storage = freshStorage()
    await seed(storage, 3)
    const releases = []
    for (const version of ['c1', 'c2', 'c3'])
      releases.push(
        await publishCold({
          storage,
          app: APP,
          dir: await hotDir(version),
          version,
          command: ['node', 'handler.js'],
          reason: 'test',
        }),
      )
    for (const release of releases) await result(storage, { ...upgradeLike(release) }, 'm1')
    // A cold artifact that no cold release names any more (dropped from its history long ago).
    const stale = keys.artifact('cold-c0', sha('c0'))
    await storage.put(stale, 'old cold release')
    const outcome = await gc({ storage, app: APP, keep: 1, orphanGraceMs: 0 })
    expect(
      outcome.kept
        .filter((k) => k.reasons.includes('cold'))
        .map((k) => k.version)
        .sort(),
    ).toEqual(['c1', 'c2', 'c3'])
    for (const release of releases) {
      expect((await storage.get(release.artifact.key)).status).toBe('ok')
      expect(await keysUnder(storage, keys.results(release.releaseId))).toHaveLength(1)
    }
    expect(outcome.deleted.artifacts).toContain(stale)
    expect((await rollbackCold({ storage, app: APP })).version).toBe('c2')
  })
})

describe('a cold publish that reuses an artifact', () => {
  it('fails with ArtifactGoneError, and leaves cold.json alone, when a gc removed the artifact before the lock', async () => {
    const inner = freshStorage()
    await seed(inner, 1)
    const first = await publishCold({
      storage: inner,
      app: APP,
      dir: await hotDir('c1'),
      version: 'c1',
      command: ['node', 'handler.js'],
      reason: 'test',
    })
    const before = await inner.get(coldKey(keys))
    // The same build again: its artifact is already stored (reused), and a gc removes it just as
    // this publisher takes the lock.
    const storage: Storage = {
      ...inner,
      async put(key, body, options) {
        if (key === keys.lock) await inner.delete(first.artifact.key)
        return inner.put(key, body, options)
      },
    }
    const error = await publishCold({
      storage,
      app: APP,
      dir: await hotDir('c1'),
      version: 'c1',
      command: ['node', 'handler.js'],
      reason: 'test',
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ArtifactGoneError)
    const after = await inner.get(coldKey(keys))
    expect(after.status === 'ok' && before.status === 'ok' && after.etag).toBe(
      before.status === 'ok' && before.etag,
    )
    expect((await inner.get(keys.lock)).status).toBe('not-found') // released
  })
})

describe('retention after each publish', () => {
  it('keeps the history at the policy, and rollback still offers the kept versions', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    for (let i = 1; i <= 6; i++)
      await publish({
        storage,
        app: APP,
        dir: await hotDir(`v${i}`),
        version: `v${i}`,
        wait: false,
        gc: { keep: 3 },
      })
    expect((await publishHistory(storage, APP)).map((h) => h.version)).toEqual(['v4', 'v5', 'v6'])
    expect((await keysUnder(storage, keys.artifactsPrefix)).length).toBe(3)
    await rollback({ storage, app: APP, wait: false, to: 'v4' })
    expect((await pointerOf(storage)).hot?.version).toBe('v4')
    const error = await rollback({ storage, app: APP, wait: false, to: 'v2' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NothingToRollBackError)
    expect((error as Error).message).toMatch(/known versions: v4, v5, v6/)
  })

  it('a failing gc is a warning, never a failed publish; gc: false skips it', async () => {
    const inner = freshStorage()
    await bootPointer(inner)
    for (let i = 1; i <= 3; i++)
      await publish({
        storage: inner,
        app: APP,
        dir: await hotDir(`v${i}`),
        version: `v${i}`,
        wait: false,
        gc: false,
      })
    expect((await keysUnder(inner, keys.historyPrefix)).length).toBe(3)
    const storage: Storage = {
      ...inner,
      delete: async (key, options) => {
        if (key.startsWith(keys.historyPrefix)) throw new Error('injected: delete refused')
        return inner.delete(key, options)
      },
    }
    const { reporter, warnings } = recordingReporter()
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v4'),
      version: 'v4',
      wait: false,
      gc: { keep: 1 },
      reporter,
    })
    expect(outcome.upgrade.version).toBe('v4')
    expect(outcome.warnings).toEqual([
      expect.stringMatching(
        /^retention after publish did not run \(injected: delete refused\); the publish itself is done/,
      ),
    ])
    expect(warnings).toEqual(outcome.warnings)
    expect((await pointerOf(inner)).hot?.version).toBe('v4')
    // The lock was released: the next gc runs.
    expect((await gc({ storage: inner, app: APP, keep: 1 })).deleted.history.length).toBe(2)
  })
})
