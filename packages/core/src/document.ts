/**
 * Reading and writing relup's JSON documents through any `Storage`, with validation on the way
 * in: a malformed document is a `DocumentError` naming the key and field, never a crash.
 */
import type { PutOptions, PutResult, Storage } from './storage.js'

export type DocumentRead<T> =
  | { status: 'ok'; etag: string; document: T }
  | { status: 'not-modified' }
  | { status: 'not-found' }

export async function readDocument<T>(
  storage: Storage,
  key: string,
  parse: (input: unknown, key?: string) => T,
  options: { ifNoneMatch?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<DocumentRead<T>> {
  const result = await storage.get(key, options)
  if (result.status !== 'ok') return result
  return { status: 'ok', etag: result.etag, document: parse(result.body, key) }
}

export function encodeDocument(document: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(document, null, 2)}\n`)
}

export function writeDocument(
  storage: Storage,
  key: string,
  document: unknown,
  options: Omit<PutOptions, 'contentType' | 'contentLength'> = {},
): Promise<PutResult> {
  return storage.put(key, encodeDocument(document), { ...options, contentType: 'application/json' })
}
