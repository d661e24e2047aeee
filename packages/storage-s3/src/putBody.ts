import { Readable } from 'node:stream'
import type { PutBody } from '@relup/core'
import { bodyToBytes } from '@relup/core/adapter'

/** A put body as the SDK sends it: whole bytes (retryable), or a stream of a known length. */
export type PreparedBody =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'stream'; stream: Readable; length: number }

/**
 * Bytes and strings are sent whole. A stream with `contentLength` is streamed, and must be exactly
 * that long (S3's PutObject needs the length up front). A stream without one is buffered up to
 * `maxBufferBytes` and sent whole: relup's bodies are documents and artifacts of a few MB, and one
 * PutObject keeps the write atomic and conditional on every S3-compatible store, which a
 * multipart upload would not.
 */
export async function preparePutBody(
  body: PutBody,
  contentLength: number | undefined,
  maxBufferBytes: number,
): Promise<PreparedBody> {
  if (contentLength !== undefined && (!Number.isSafeInteger(contentLength) || contentLength < 0)) {
    throw new RangeError(`contentLength must be a whole number of bytes, got ${contentLength}`)
  }
  if (typeof body === 'string') return { kind: 'bytes', bytes: new TextEncoder().encode(body) }
  if (body instanceof Uint8Array) {
    if (contentLength !== undefined && contentLength !== body.byteLength) {
      throw new RangeError(
        `contentLength ${contentLength} does not match the body's ${body.byteLength} bytes`,
      )
    }
    return { kind: 'bytes', bytes: body }
  }
  if (contentLength !== undefined) {
    return {
      kind: 'stream',
      stream: Readable.from(exactly(body, contentLength), { objectMode: false }),
      length: contentLength,
    }
  }
  try {
    return { kind: 'bytes', bytes: await bodyToBytes(body, maxBufferBytes) }
  } catch (error) {
    if (error instanceof RangeError && error.message.startsWith('body is larger than')) {
      throw new RangeError(
        `a streamed body without contentLength is buffered up to maxBufferBytes (${maxBufferBytes} bytes) and this one is larger: pass contentLength to stream it`,
      )
    }
    throw error
  }
}

async function* exactly(source: AsyncIterable<Uint8Array>, expected: number): AsyncGenerator<Uint8Array> {
  let seen = 0
  for await (const chunk of source) {
    seen += chunk.byteLength
    if (seen > expected)
      throw new RangeError(`the streamed body is longer than its contentLength (${expected} bytes)`)
    yield chunk
  }
  if (seen !== expected)
    throw new RangeError(`the streamed body ended after ${seen} bytes, but its contentLength is ${expected}`)
}
