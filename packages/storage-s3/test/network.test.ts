/**
 * Failures only a real socket shows: resets, refused connections, servers that stop answering
 * mid-request or mid-body, and sockets left open. A plain node:http server plays S3.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { StorageTransportError } from '@relup/core'
import { afterEach, describe, expect, it } from 'vitest'
import { type S3Storage, type S3StorageOptions, s3Storage } from '../src/index.js'

type Handler = (request: IncomingMessage, response: ServerResponse, index: number) => void

const servers: Server[] = []
const opened: S3Storage[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((storage) => storage.close()))
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

async function listen(
  handler: Handler,
): Promise<{ server: Server; endpoint: string; requests: () => number }> {
  let count = 0
  const server = createServer((request, response) => handler(request, response, count++))
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => count,
  }
}

function storageAt(endpoint: string, options: S3StorageOptions = {}): S3Storage {
  const storage = s3Storage({
    bucket: 'b',
    endpoint,
    credentials: { accessKeyId: 'AKIANETWORKTEST0001', secretAccessKey: 'network-test-secret' },
    env: {},
    ...options,
    retry: { baseDelayMs: 1, ...options.retry },
  })
  opened.push(storage)
  return storage
}

const ok = (response: ServerResponse, body = 'hello') =>
  response.writeHead(200, { ETag: '"e1"', 'content-length': Buffer.byteLength(body) }).end(body)

async function drain(request: IncomingMessage) {
  for await (const _ of request);
}

async function rejection(promise: Promise<unknown>): Promise<StorageTransportError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(StorageTransportError)
  return error as StorageTransportError
}

describe('network failures', () => {
  it('a connection reset before any answer is retried', async () => {
    const { endpoint, requests } = await listen((request, response, index) => {
      if (index === 0) request.socket.destroy()
      else ok(response)
    })
    const result = await storageAt(endpoint).get('current.json')
    expect(result).toMatchObject({ status: 'ok', etag: '"e1"' })
    expect(requests()).toBe(2)
  })

  it('nothing listening: a retryable StorageTransportError that names the endpoint to check', async () => {
    const { server, endpoint } = await listen(() => {})
    await new Promise((resolve) => server.close(resolve))
    const error = await rejection(storageAt(endpoint, { retry: { maxAttempts: 2 } }).get('current.json'))
    expect(error).toMatchObject({ retryable: true, status: undefined, operation: 'get' })
    expect(error.message).toContain('ECONNREFUSED')
    expect(error.message).toContain(`could not reach ${endpoint}`)
  })

  it('a PUT the server never answers ends after timeoutMs of silence, per attempt', async () => {
    const { endpoint, requests } = await listen((request) => {
      void drain(request)
    })
    const started = performance.now()
    const error = await rejection(
      storageAt(endpoint, { timeoutMs: 300, retry: { maxAttempts: 2 } }).put('doc.json', '{}'),
    )
    const elapsed = performance.now() - started
    expect(error).toMatchObject({ retryable: true, operation: 'put' })
    expect(requests()).toBe(2)
    expect(elapsed).toBeGreaterThanOrEqual(550)
    expect(elapsed).toBeLessThan(3000)
  })

  it('a download that stalls after the response started errors the stream with a retryable StorageTransportError', async () => {
    const { endpoint } = await listen((_request, response) => {
      response.writeHead(200, { ETag: '"e1"', 'content-length': 1000 })
      response.write('x'.repeat(10))
      // …and nothing more.
    })
    const result = await storageAt(endpoint, { timeoutMs: 300 }).getStream('artifacts/a.tgz')
    expect(result.status).toBe('ok')
    if (result.status !== 'ok') return
    const started = performance.now()
    const error = await (async () => {
      for await (const _ of result.body);
    })().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StorageTransportError)
    expect(error).toMatchObject({ retryable: true, operation: 'getStream', key: 'artifacts/a.tgz' })
    expect(performance.now() - started).toBeLessThan(2000)
  })
})

describe('close()', () => {
  async function openConnections(server: Server): Promise<number> {
    return new Promise((resolve, reject) =>
      server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    )
  }

  async function connectionsAfter(server: Server, ms: number): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    return openConnections(server)
  }

  it('keeps connections alive while open, and leaves none once closed', async () => {
    const { server, endpoint } = await listen((_request, response) => ok(response))
    const storage = storageAt(endpoint)
    await Promise.all([storage.get('a'), storage.get('b'), storage.get('c')])
    // Keep-alive: the sockets outlive the requests…
    expect(await connectionsAfter(server, 100)).toBeGreaterThan(0)
    await storage.close()
    // …until close() destroys the client.
    expect(await connectionsAfter(server, 100)).toBe(0)
  })
})
