/** Storage wrappers that misbehave on purpose: what a publisher must notice. */
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { PutOptions, Storage } from '@relup/core'

/** `inner`, but every put ignores If-None-Match / If-Match (as plain s3rver does), while claiming them. */
export function ignoringConditions(inner: Storage): Storage {
  return {
    ...inner,
    put: (key, body, options: PutOptions = {}) =>
      inner.put(key, body, { contentType: options.contentType, contentLength: options.contentLength }),
  }
}

/** `inner`, whose puts of `key` wait until `parties` callers reached them, then go in arrival order. */
export function barrierOnPut(parties: number, key: string) {
  let arrived = 0
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return (inner: Storage): Storage => ({
    ...inner,
    async put(k, body, options) {
      if (k === key && arrived < parties) {
        arrived++
        if (arrived === parties) open()
        await opened
      }
      return inner.put(k, body, options)
    },
  })
}

/** `inner`, calling `after(key)` once right after the first successful put of a key matching `key`. */
export function afterFirstPut(inner: Storage, key: string, after: () => Promise<unknown>): Storage {
  let done = false
  return {
    ...inner,
    async put(k, body, options) {
      const put = await inner.put(k, body, options)
      if (!done && k === key && put.status === 'ok') {
        done = true
        await after()
      }
      return put
    },
  }
}

/**
 * A TCP proxy on a fixed loopback port in front of `target`: `down()` closes it (clients get
 * ECONNREFUSED, as from a store that went away), `up()` listens again on the same port.
 */
export async function tcpProxy(target: { port: number }) {
  const sockets = new Set<Socket>()
  let server: Server | null = null
  let port = 0
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(target.port, '127.0.0.1')
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('close', () => sockets.delete(s))
        s.on('error', () => s.destroy())
      }
      client.pipe(upstream).pipe(client)
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as { port: number }).port
  }
  await listen()
  return {
    get endpoint() {
      return `http://127.0.0.1:${port}`
    },
    async down() {
      const closing = server ? once(server, 'close') : Promise.resolve()
      server?.close()
      for (const s of sockets) s.destroy()
      await closing
      server = null
    },
    up: listen,
  }
}
