import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { lockFileName, self } from '../src/keyLock.js'
import { deadPid, exited, nextMessage, startFixture } from './fixtures/processes.js'
import { tempDir } from './fixtures/tempDir.js'

const WORKERS = 8
const ATTEMPTS_PER_WORKER = 2
const ROUNDS = 20

interface Outcome {
  op: 'create' | 'cas' | 'delete'
  body: string
  status: string
}

describe('conditional writes hold across processes (8 real processes racing on one directory)', () => {
  const dir = tempDir('race')
  let storage: FsStorage
  let workers: ChildProcess[] = []
  let roundNumber = 0

  beforeAll(async () => {
    storage = fsStorage({ dir: dir.path })
    workers = Array.from({ length: WORKERS }, (_, id) =>
      startFixture('raceWorker.mjs', [dir.path, String(id)]),
    )
    await Promise.all(workers.map((worker) => nextMessage(worker)))
  })

  afterAll(async () => {
    for (const worker of workers) worker.send({ op: 'exit' })
    await Promise.all(workers.map(exited))
    await storage.close()
    dir.remove()
  })

  /** Every worker fires its attempts at the same instant; returns all outcomes. */
  async function race(round: {
    op: 'create' | 'cas' | 'mixed'
    key: string
    etag?: string
    deleteJitterMs?: number
  }): Promise<Outcome[]> {
    const n = ++roundNumber
    const startAt = Date.now() + 20
    const replies = workers.map((worker) => nextMessage<{ outcomes?: Outcome[]; error?: string }>(worker))
    for (const worker of workers) worker.send({ ...round, n, startAt, attempts: ATTEMPTS_PER_WORKER })
    const outcomes: Outcome[] = []
    for (const reply of await Promise.all(replies)) {
      if (reply.error) throw new Error(`a worker failed: ${reply.error}`)
      outcomes.push(...reply.outcomes!)
    }
    expect(outcomes).toHaveLength(WORKERS * ATTEMPTS_PER_WORKER)
    return outcomes
  }

  const bodyOf = async (key: string) => {
    const result = await storage.get(key)
    return result.status === 'ok' ? new TextDecoder().decode(result.body) : result.status
  }

  it(`create-only: exactly one of ${WORKERS * ATTEMPTS_PER_WORKER} puts wins, in each of ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const key = `race/create-${round}.json`
      const outcomes = await race({ op: 'create', key })
      const winners = outcomes.filter((o) => o.status === 'ok')
      expect(winners, `round ${round}`).toHaveLength(1)
      expect(outcomes.filter((o) => o.status !== 'precondition-failed')).toEqual(winners)
      expect(await bodyOf(key)).toBe(winners[0]!.body)
    }
  })

  it(`compare-and-swap: exactly one of ${WORKERS * ATTEMPTS_PER_WORKER} puts with the same etag wins, in each of ${ROUNDS} rounds`, async () => {
    const key = 'race/pointer.json'
    for (let round = 0; round < ROUNDS; round++) {
      const base = await storage.put(key, `base-${round}`)
      if (base.status !== 'ok') throw new Error('base write failed')
      const outcomes = await race({ op: 'cas', key, etag: base.etag })
      const winners = outcomes.filter((o) => o.status === 'ok')
      expect(winners, `round ${round}`).toHaveLength(1)
      expect(await bodyOf(key)).toBe(winners[0]!.body)
    }
  })

  it(`compare-and-swap against conditional delete on the same etag: one of them wins, in each of ${ROUNDS} rounds`, async () => {
    const key = 'race/mixed.json'
    for (let round = 0; round < ROUNDS; round++) {
      const base = await storage.put(key, `base-${round}`)
      if (base.status !== 'ok') throw new Error('base write failed')
      const outcomes = await race({ op: 'mixed', key, etag: base.etag, deleteJitterMs: 5 + (round % 5) * 8 })
      const putWinners = outcomes.filter((o) => o.op === 'cas' && o.status === 'ok')
      // Once one delete removed the key, the other deletes find it missing, which is ok too.
      const deleteOks = outcomes.filter((o) => o.op === 'delete' && o.status === 'ok')
      expect(putWinners.length + (deleteOks.length > 0 ? 1 : 0), `round ${round}`).toBe(1)
      expect(await bodyOf(key)).toBe(putWinners.length === 1 ? putWinners[0]!.body : 'not-found')
    }
  })

  it('a lock left by a killed process is broken, and exactly one create-only put still wins', async () => {
    for (let round = 0; round < 10; round++) {
      const key = `race/after-crash-${round}.json`
      const holder = { ...self, pid: deadPid(), token: 'crashed', key, acquiredAt: new Date().toISOString() }
      writeFileSync(join(dir.path, '.relup', 'locks', lockFileName(key)), JSON.stringify(holder))
      const outcomes = await race({ op: 'create', key })
      expect(
        outcomes.filter((o) => o.status === 'ok'),
        `round ${round}`,
      ).toHaveLength(1)
    }
  })
})
