/** What the groups' tests assert with, on top of `node:assert`: any runner reports its failures. */
import { strict as assert } from 'node:assert'
import { createHash } from 'node:crypto'
import { isRelupError, type Storage, UnsupportedCapabilityError } from '@relup/core'

export const text = (value: string) => new TextEncoder().encode(value)
export const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
export const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  return new Uint8Array(Buffer.concat(chunks))
}

/** The object at `key`, asserting it exists. */
export async function expectOk(storage: Storage, key: string) {
  const result = await storage.get(key)
  assert.equal(result.status, 'ok', `expected ${key} to exist, got ${result.status}`)
  if (result.status !== 'ok') throw new Error('unreachable')
  return result
}

/** Put `body` at `key`, asserting it succeeds with a non-empty etag; returns the etag. */
export async function putOk(storage: Storage, key: string, body: Uint8Array | string) {
  const result = await storage.put(key, body)
  assert.equal(result.status, 'ok', `put ${key} should succeed, got ${result.status}`)
  if (result.status !== 'ok') throw new Error('unreachable')
  assert.equal(typeof result.etag, 'string')
  assert.ok(result.etag.length > 0, 'put must return a non-empty etag')
  return result.etag
}

export async function expectUnsupported(promise: Promise<unknown>, capability: string) {
  await assert.rejects(
    promise,
    (error: unknown) =>
      error instanceof UnsupportedCapabilityError || isRelupError(error, UnsupportedCapabilityError.code),
    `the adapter declares ${capability} unsupported, so using it must throw UnsupportedCapabilityError (never ignore it)`,
  )
}

/** Run `count` tasks, at most `concurrency` at a time; results in task order. */
export async function inParallel<T>(
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
