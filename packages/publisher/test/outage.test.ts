import { parseLock, readDocument, type Storage } from '@relup/core'
import { faultyStorage } from '@relup/storage-conformance'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { publish, type Reporter } from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  freshStorage,
  hotDir,
  keys,
  onCleanup,
  recordingReporter,
  simulateMachines,
} from './helpers.js'
import { tcpProxy } from './stores.js'

/** A reporter that calls `onMoved` once the pointer has moved (the wait is about to start). */
function whenPointerMoves(onMoved: () => void) {
  const recorded = recordingReporter()
  const reporter: Reporter = {
    ...recorded.reporter,
    step(message) {
      recorded.steps.push(message)
      if (message.startsWith('pointer moved')) onMoved()
    },
  }
  return { ...recorded, reporter }
}

async function fleetOfTwo(storage: Storage) {
  await bootPointer(storage)
  await announceMachine(storage, 'm1')
  await announceMachine(storage, 'm2')
  simulateMachines(storage, { m1: 'complete', m2: 'complete' })
}

describe('storage failing during a publish', () => {
  it('the wait rides out an outage for its timeout, saying so once, and ends ok', async () => {
    const inner = freshStorage()
    await fleetOfTwo(inner)
    const storage = faultyStorage(inner, { operations: ['list', 'get'] })
    const { reporter, steps, warnings } = whenPointerMoves(() => {
      storage.faults.failRate = 1
      setTimeout(() => {
        storage.faults.failRate = 0
      }, 2500)
    })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 20_000, reporter })
    expect(outcome.ok).toBe(true)
    expect(outcome.outcomes.map((o) => o.status)).toEqual(['completed', 'completed'])
    expect(warnings.filter((w) => /storage failed while waiting for the machines/.test(w))).toEqual([
      expect.stringMatching(/injected fault.*; still waiting for it to answer again, until the timeout \(/),
    ])
    expect(steps).toContainEqual(expect.stringMatching(/^storage answers again after \d+\.\d s$/))
    expect(storage.stats.failures).toBeGreaterThan(1)
  }, 30_000)

  it('a lock that cannot be released (storage down) says so, with its expiry and `relup unlock`, not "taken over"', async () => {
    const inner = freshStorage()
    await fleetOfTwo(inner)
    const storage = faultyStorage(inner, { operations: ['delete'], failRate: 1 })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 5000 })
    expect(outcome.ok).toBe(true)
    const lock = await readDocument(inner, keys.lock, parseLock)
    expect(lock.status).toBe('ok')
    const expiresAt = lock.status === 'ok' ? lock.document.expiresAt : ''
    expect(outcome.warnings).toEqual([
      `could not release the deploy lock (injected fault: delete ${keys.lock} failed (faultyStorage)): it stays held until ${expiresAt}; ` +
        'if no publish is running, run `relup unlock --app chat`',
    ])
    expect(outcome.warnings.join('\n')).not.toMatch(/taken over/)
  }, 30_000)

  it('on S3: the store unreachable for 3 s (ECONNREFUSED) during the wait, then back: the publish ends ok', async () => {
    const server = await startS3rver()
    onCleanup(() => server.stop())
    await server.createBucket('outage')
    const direct = s3Storage({ bucket: 'outage', env: s3rverEnv(server, 'outage') })
    onCleanup(async () => direct.close?.())
    await fleetOfTwo(direct)
    const proxy = await tcpProxy(server)
    onCleanup(() => proxy.down())
    const storage = s3Storage({
      bucket: 'outage',
      env: { ...s3rverEnv(server, 'outage'), AWS_ENDPOINT_URL_S3: proxy.endpoint },
    })
    onCleanup(async () => storage.close?.())
    const { reporter, warnings } = whenPointerMoves(() => {
      void proxy.down().then(() => setTimeout(() => void proxy.up(), 3000))
    })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 30_000, reporter })
    expect(outcome.ok).toBe(true)
    expect(warnings).toEqual([
      expect.stringMatching(
        /^storage failed while waiting for the machines \(list .*results.* failed \(ECONNREFUSED/,
      ),
    ])
    expect((await direct.get(keys.lock)).status).toBe('not-found')
  }, 60_000)
})
