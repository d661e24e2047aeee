/**
 * The conformance suite every relup storage adapter passes. It takes the test runner's
 * `describe` and `it`, so it runs under vitest, node:test, jest or mocha, and asserts with
 * `node:assert`. Each test gets a fresh store from `create()` and works under its own random
 * folder, so a store backed by a shared bucket works too.
 */
import { strict as assert } from 'node:assert'
import { createHash, randomBytes } from 'node:crypto'
import {
  InvalidKeyError,
  isRelupError,
  listAll,
  type Storage,
  type StorageCapability,
  UnsupportedCapabilityError,
} from '@relup/core'

export type ConformanceGroup =
  | 'round-trip'
  | 'streaming'
  | 'listing'
  | 'conditional-get'
  | 'create-only'
  | 'compare-and-swap'
  | 'delete'
  | 'keys'
  | 'capabilities'

export interface ConformanceOptions {
  /** Shown in the suite's title. */
  name: string
  /** A fresh store for one test. */
  create: () => Storage | Promise<Storage>
  /** Called after each test with the store it used (close clients, remove directories). */
  cleanup?: (storage: Storage) => void | Promise<void>
  describe: (name: string, fn: () => void) => void
  /** The runner's `it`/`test`; called as `it(name, fn, timeoutMs)`. */
  it: (name: string, fn: () => Promise<void>, timeout?: number) => void
  /** Per-test timeout passed as `it`'s third argument (default 60 s); runners that take options elsewhere ignore it. */
  timeout?: number
  /** Groups to leave out, e.g. while developing an adapter. A published adapter should pass all. */
  skip?: ConformanceGroup[]
  /** How many keys the pagination test writes (default 1,050: past one 1,000-key page). */
  paginationKeys?: number
}

const text = (value: string) => new TextEncoder().encode(value)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  return new Uint8Array(Buffer.concat(chunks))
}

async function expectOk(storage: Storage, key: string) {
  const result = await storage.get(key)
  assert.equal(result.status, 'ok', `expected ${key} to exist, got ${result.status}`)
  if (result.status !== 'ok') throw new Error('unreachable')
  return result
}

async function putOk(storage: Storage, key: string, body: Uint8Array | string) {
  const result = await storage.put(key, body)
  assert.equal(result.status, 'ok', `put ${key} should succeed, got ${result.status}`)
  if (result.status !== 'ok') throw new Error('unreachable')
  assert.equal(typeof result.etag, 'string')
  assert.ok(result.etag.length > 0, 'put must return a non-empty etag')
  return result.etag
}

async function expectUnsupported(promise: Promise<unknown>, capability: string) {
  await assert.rejects(
    promise,
    (error: unknown) =>
      error instanceof UnsupportedCapabilityError || isRelupError(error, UnsupportedCapabilityError.code),
    `the adapter declares ${capability} unsupported, so using it must throw UnsupportedCapabilityError (never ignore it)`,
  )
}

async function inParallel<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count)
  let next = 0
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++
      results[index] = await task(index)
    }
  })
  await Promise.all(workers)
  return results
}

export function storageConformance(options: ConformanceOptions): void {
  const { describe, it } = options
  const timeout = options.timeout ?? 60_000
  const skip = new Set(options.skip ?? [])
  const paginationKeys = options.paginationKeys ?? 1050

  /** Run `body` with a fresh store and a random folder for its keys. */
  const test = (name: string, body: (storage: Storage, k: (key: string) => string) => Promise<void>) =>
    it(
      name,
      async () => {
        const storage = await options.create()
        const folder = `conformance-${randomBytes(6).toString('hex')}`
        try {
          await body(storage, (key) => `${folder}/${key}`)
        } finally {
          // Leave nothing behind in a shared bucket (best effort: the test's outcome stands).
          try {
            for await (const item of listAll(storage, folder)) await storage.delete(item.key)
          } catch {}
          await options.cleanup?.(storage)
        }
      },
      timeout,
    )

  const group = (name: ConformanceGroup, title: string, fn: () => void) => {
    if (!skip.has(name)) describe(title, fn)
  }

  /** Tests that need a capability run when it is declared; otherwise its honesty is tested instead. */
  const withCapability = (
    capability: StorageCapability,
    name: string,
    body: (storage: Storage, k: (key: string) => string) => Promise<void>,
  ) =>
    test(name, async (storage, k) => {
      if (!storage.capabilities[capability]) return
      await body(storage, k)
    })

  describe(`storage conformance: ${options.name}`, () => {
    test('declares its capabilities as booleans', async (storage) => {
      assert.equal(typeof storage.name, 'string')
      for (const capability of [
        'conditionalGet',
        'createOnly',
        'compareAndSwap',
        'conditionalDelete',
      ] as const) {
        assert.equal(
          typeof storage.capabilities[capability],
          'boolean',
          `capabilities.${capability} must be a boolean`,
        )
      }
    })

    group('round-trip', 'round trips', () => {
      for (const [label, size] of [
        ['0 B', 0],
        ['1 B', 1],
        ['10 MB', 10 * 1024 * 1024],
      ] as const) {
        test(`stores and returns a ${label} object byte for byte`, async (storage, k) => {
          const body = new Uint8Array(randomBytes(size))
          const etag = await putOk(storage, k('object.bin'), body)
          const result = await expectOk(storage, k('object.bin'))
          assert.equal(result.body.byteLength, size)
          assert.equal(sha(result.body), sha(body))
          assert.equal(result.etag, etag, 'get must return the etag put returned')
        })
      }

      test('keeps arbitrary bytes (every byte value, invalid UTF-8) intact', async (storage, k) => {
        const body = new Uint8Array(512)
        for (let i = 0; i < body.length; i++) body[i] = i % 256
        body.set([0xc3, 0x28, 0xff, 0xfe, 0x00], 256)
        await putOk(storage, k('bytes'), body)
        assert.deepEqual((await expectOk(storage, k('bytes'))).body, body)
      })

      test('accepts keys with unicode, spaces and slashes', async (storage, k) => {
        const keys = [
          k('with space/file name.json'),
          k('ünïcødé/日本語/ファイル.txt'),
          k('deep/a/b/c/d/e/f.txt'),
          k('emoji-🚀.bin'),
        ]
        for (const key of keys) await putOk(storage, key, key)
        for (const key of keys) assert.equal(decode((await expectOk(storage, key)).body), key)
        const listed = []
        for await (const item of listAll(storage, k(''))) listed.push(item.key)
        assert.deepEqual([...listed].sort(), [...keys].sort())
      })

      test('a string body is stored as its UTF-8 bytes', async (storage, k) => {
        await putOk(storage, k('text.txt'), 'héllo wörld')
        assert.deepEqual((await expectOk(storage, k('text.txt'))).body, text('héllo wörld'))
      })

      test('an overwrite replaces the content', async (storage, k) => {
        await putOk(storage, k('doc.json'), '{"v":1}')
        await putOk(storage, k('doc.json'), '{"v":2}')
        assert.equal(decode((await expectOk(storage, k('doc.json'))).body), '{"v":2}')
      })

      test('a missing key is not-found, not an error', async (storage, k) => {
        assert.deepEqual(await storage.get(k('missing.json')), { status: 'not-found' })
        assert.equal((await storage.getStream(k('missing.json'))).status, 'not-found')
      })
    })

    group('streaming', 'streaming', () => {
      test('getStream returns the object as a readable stream', async (storage, k) => {
        const body = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17))
        await putOk(storage, k('artifact.tgz'), body)
        const result = await storage.getStream(k('artifact.tgz'))
        assert.equal(result.status, 'ok')
        if (result.status !== 'ok') return
        if (result.size !== undefined) assert.equal(result.size, body.byteLength)
        const received = await readAll(result.body)
        assert.equal(sha(received), sha(body))
      })

      test('put accepts a streamed body (an async iterable of chunks)', async (storage, k) => {
        const chunks = Array.from({ length: 40 }, () => new Uint8Array(randomBytes(256 * 1024)))
        const total = chunks.reduce((n, c) => n + c.byteLength, 0)
        async function* source() {
          for (const chunk of chunks) {
            await new Promise((resolve) => setImmediate(resolve))
            yield chunk
          }
        }
        const result = await storage.put(k('streamed.bin'), source(), { contentLength: total })
        assert.equal(result.status, 'ok')
        const stored = await storage.getStream(k('streamed.bin'))
        assert.equal(stored.status, 'ok')
        if (stored.status !== 'ok') return
        assert.equal(sha(await readAll(stored.body)), sha(Buffer.concat(chunks)))
      })

      test('a failed streamed upload leaves no object behind', async (storage, k) => {
        async function* broken() {
          yield new Uint8Array(randomBytes(64 * 1024))
          throw new Error('source failed mid-way')
        }
        await assert.rejects(storage.put(k('partial.bin'), broken(), { contentLength: 128 * 1024 }))
        assert.equal(
          (await storage.get(k('partial.bin'))).status,
          'not-found',
          'a half-written object must not be visible',
        )
      })
    })

    group('listing', 'listing', () => {
      test('a prefix is a folder: "a/b" does not match "a/bc/"', async (storage, k) => {
        for (const key of ['a/b/x', 'a/b/y/z', 'a/bc/x', 'a/b.txt', 'ab/x']) await putOk(storage, k(key), key)
        const page = await storage.list(k('a/b'))
        assert.deepEqual(
          page.items.map((i) => i.key),
          [k('a/b/x'), k('a/b/y/z')],
        )
        assert.equal(page.cursor, undefined)
        const slash = await storage.list(k('a/b/'))
        assert.deepEqual(
          slash.items.map((i) => i.key),
          [k('a/b/x'), k('a/b/y/z')],
          'a trailing slash lists the same folder',
        )
      })

      test('items carry their size, and an empty folder lists nothing', async (storage, k) => {
        await putOk(storage, k('sizes/one'), 'x')
        await putOk(storage, k('sizes/three'), 'xyz')
        const page = await storage.list(k('sizes'))
        assert.deepEqual(
          page.items.map((i) => [i.key, i.size]),
          [
            [k('sizes/one'), 1],
            [k('sizes/three'), 3],
          ],
        )
        assert.deepEqual((await storage.list(k('nothing-here'))).items, [])
      })

      test(`pagination past 1,000 keys returns every key exactly once`, async (storage, k) => {
        const keys = Array.from({ length: paginationKeys }, (_, i) =>
          k(`many/key-${String(i).padStart(5, '0')}`),
        )
        await inParallel(keys.length, 32, (i) => putOk(storage, keys[i]!, String(i)))
        const seen: string[] = []
        let pages = 0
        let cursor: string | undefined
        do {
          const page = await storage.list(k('many'), { cursor })
          assert.ok(page.items.length <= 1000, 'a page holds at most 1,000 items')
          seen.push(...page.items.map((i) => i.key))
          cursor = page.cursor
          pages++
          assert.ok(pages <= keys.length, 'listing does not terminate')
        } while (cursor !== undefined)
        assert.ok(pages >= 2, `expected at least 2 pages for ${keys.length} keys, got ${pages}`)
        assert.equal(new Set(seen).size, seen.length, 'a key was listed twice')
        assert.deepEqual([...seen].sort(), [...keys].sort())

        const small: string[] = []
        let smallPages = 0
        cursor = undefined
        do {
          const page = await storage.list(k('many'), { cursor, limit: 250 })
          assert.ok(page.items.length <= 250, 'limit is respected')
          small.push(...page.items.map((i) => i.key))
          cursor = page.cursor
          smallPages++
        } while (cursor !== undefined)
        assert.equal(smallPages, Math.ceil(keys.length / 250))
        assert.deepEqual([...small].sort(), [...keys].sort())
      })

      test('deleted keys vanish from the listing', async (storage, k) => {
        await putOk(storage, k('gone/a'), 'a')
        await putOk(storage, k('gone/b'), 'b')
        await storage.delete(k('gone/a'))
        assert.deepEqual(
          (await storage.list(k('gone'))).items.map((i) => i.key),
          [k('gone/b')],
        )
      })
    })

    group('conditional-get', 'conditional GET', () => {
      withCapability(
        'conditionalGet',
        'the current etag answers not-modified, without a body',
        async (storage, k) => {
          const etag = await putOk(storage, k('current.json'), '{"seq":1}')
          assert.deepEqual(await storage.get(k('current.json'), { ifNoneMatch: etag }), {
            status: 'not-modified',
          })
          assert.equal(
            (await storage.getStream(k('current.json'), { ifNoneMatch: etag })).status,
            'not-modified',
          )
        },
      )

      withCapability(
        'conditionalGet',
        'after an overwrite, the old etag gets the new content',
        async (storage, k) => {
          const first = await putOk(storage, k('current.json'), '{"seq":1}')
          const second = await putOk(storage, k('current.json'), '{"seq":2}')
          assert.notEqual(first, second, 'the etag must change when the content does')
          const result = await storage.get(k('current.json'), { ifNoneMatch: first })
          assert.equal(result.status, 'ok')
          if (result.status !== 'ok') return
          assert.equal(decode(result.body), '{"seq":2}')
          assert.equal(result.etag, second)
        },
      )

      withCapability('conditionalGet', 'ifNoneMatch on a missing key is not-found', async (storage, k) => {
        assert.equal((await storage.get(k('none.json'), { ifNoneMatch: '"abc"' })).status, 'not-found')
      })
    })

    group('create-only', 'create-only (ifNoneMatch: "*")', () => {
      withCapability(
        'createOnly',
        'creates a missing key and refuses an existing one',
        async (storage, k) => {
          assert.equal((await storage.put(k('lock.json'), 'first', { ifNoneMatch: '*' })).status, 'ok')
          assert.deepEqual(await storage.put(k('lock.json'), 'second', { ifNoneMatch: '*' }), {
            status: 'precondition-failed',
          })
          assert.equal(decode((await expectOk(storage, k('lock.json'))).body), 'first')
        },
      )

      withCapability(
        'createOnly',
        '20 concurrent create-only puts of one key: exactly one wins',
        async (storage, k) => {
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              storage.put(k('race.json'), `writer-${i}`, { ifNoneMatch: '*' }),
            ),
          )
          const winners = results.flatMap((r, i) => (r.status === 'ok' ? [i] : []))
          assert.equal(winners.length, 1, `exactly one create-only put must win, ${winners.length} did`)
          for (const r of results) assert.ok(r.status === 'ok' || r.status === 'precondition-failed')
          assert.equal(decode((await expectOk(storage, k('race.json'))).body), `writer-${winners[0]}`)
        },
      )
    })

    group('compare-and-swap', 'compare-and-swap (ifMatch)', () => {
      withCapability(
        'compareAndSwap',
        'replaces on the current etag, refuses a stale one',
        async (storage, k) => {
          const first = await putOk(storage, k('pointer.json'), 'v1')
          const swapped = await storage.put(k('pointer.json'), 'v2', { ifMatch: first })
          assert.equal(swapped.status, 'ok')
          assert.deepEqual(await storage.put(k('pointer.json'), 'v3', { ifMatch: first }), {
            status: 'precondition-failed',
          })
          assert.equal(decode((await expectOk(storage, k('pointer.json'))).body), 'v2')
        },
      )

      withCapability('compareAndSwap', 'ifMatch on a missing key fails', async (storage, k) => {
        assert.deepEqual(await storage.put(k('absent.json'), 'x', { ifMatch: '"0123456789abcdef"' }), {
          status: 'precondition-failed',
        })
        assert.equal((await storage.get(k('absent.json'))).status, 'not-found')
      })

      withCapability(
        'compareAndSwap',
        '20 concurrent puts with the same ifMatch: exactly one wins',
        async (storage, k) => {
          const etag = await putOk(storage, k('pointer.json'), 'base')
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              storage.put(k('pointer.json'), `writer-${i}`, { ifMatch: etag }),
            ),
          )
          const winners = results.flatMap((r, i) => (r.status === 'ok' ? [i] : []))
          assert.equal(winners.length, 1, `exactly one compare-and-swap must win, ${winners.length} did`)
          assert.equal(decode((await expectOk(storage, k('pointer.json'))).body), `writer-${winners[0]}`)
        },
      )
    })

    group('delete', 'delete', () => {
      test('deletes, and deleting again (or a key that never existed) is ok', async (storage, k) => {
        await putOk(storage, k('tmp.json'), 'x')
        assert.deepEqual(await storage.delete(k('tmp.json')), { status: 'ok' })
        assert.equal((await storage.get(k('tmp.json'))).status, 'not-found')
        assert.deepEqual(await storage.delete(k('tmp.json')), { status: 'ok' })
        assert.deepEqual(await storage.delete(k('never.json')), { status: 'ok' })
      })

      withCapability(
        'conditionalDelete',
        'a conditional delete only removes the expected version',
        async (storage, k) => {
          const first = await putOk(storage, k('lock.json'), 'mine')
          const second = await putOk(storage, k('lock.json'), 'theirs')
          assert.deepEqual(await storage.delete(k('lock.json'), { ifMatch: first }), {
            status: 'precondition-failed',
          })
          assert.equal(decode((await expectOk(storage, k('lock.json'))).body), 'theirs')
          assert.deepEqual(await storage.delete(k('lock.json'), { ifMatch: second }), { status: 'ok' })
          assert.equal((await storage.get(k('lock.json'))).status, 'not-found')
        },
      )
    })

    group('keys', 'keys', () => {
      test('refuses keys that could escape their namespace', async (storage, k) => {
        for (const key of [
          '',
          '/absolute',
          '../up',
          k('a/../../b'),
          k('a/./b'),
          k('a//b'),
          k('nul\0byte'),
          k('trailing/'),
        ]) {
          await assert.rejects(
            storage.put(key, 'x'),
            (error: unknown) => error instanceof InvalidKeyError || isRelupError(error, InvalidKeyError.code),
            `key ${JSON.stringify(key)} must be refused with InvalidKeyError`,
          )
          await assert.rejects(storage.get(key), (error: unknown) =>
            isRelupError(error, InvalidKeyError.code),
          )
        }
      })
    })

    group('capabilities', 'capability honesty', () => {
      test('every capability declared unsupported throws when asked, never ignored', async (storage, k) => {
        const caps = storage.capabilities
        const etag = await putOk(storage, k('honest.json'), 'x')
        if (!caps.conditionalGet) {
          await expectUnsupported(storage.get(k('honest.json'), { ifNoneMatch: etag }), 'conditionalGet')
          await expectUnsupported(
            storage.getStream(k('honest.json'), { ifNoneMatch: etag }),
            'conditionalGet',
          )
        }
        if (!caps.createOnly)
          await expectUnsupported(storage.put(k('new.json'), 'y', { ifNoneMatch: '*' }), 'createOnly')
        if (!caps.compareAndSwap)
          await expectUnsupported(storage.put(k('honest.json'), 'y', { ifMatch: etag }), 'compareAndSwap')
        if (!caps.conditionalDelete)
          await expectUnsupported(storage.delete(k('honest.json'), { ifMatch: etag }), 'conditionalDelete')
        // Whatever was refused must not have happened.
        assert.equal(decode((await expectOk(storage, k('honest.json'))).body), 'x')
      })
    })
  })
}
