/**
 * The SSE connections: host-owned `ServerResponse`s that outlive every upgrade. Hot code reaches
 * them only through this hub (`broadcast`, `send`, `clientIds`, the `open`/`close` events), so no
 * version of the hot code ever holds a socket.
 */
import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface StreamClient {
  id: string
  /** ISO date. */
  connectedAt: string
}

export interface EventHubEvents {
  open: [StreamClient]
  close: [string]
}

interface Connection {
  client: StreamClient
  res: ServerResponse
  /** Events broadcast before the hello went out; written right after it, so the hello comes first. */
  pending: string[] | null
}

const format = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

export class EventHub extends EventEmitter<EventHubEvents> {
  readonly #connections = new Map<string, Connection>()
  readonly #keepAlive: NodeJS.Timeout
  #nextId = 1

  constructor(keepAliveMs = 15_000) {
    super()
    this.#keepAlive = setInterval(() => {
      for (const { res } of this.#connections.values()) res.write(': keep-alive\n\n')
    }, keepAliveMs)
    this.#keepAlive.unref()
  }

  /**
   * Turn a response into an event stream. `hello(id)` computes the first event; events broadcast
   * meanwhile are held back until it is written.
   */
  async open(
    req: IncomingMessage,
    res: ServerResponse,
    hello: (clientId: string) => Promise<unknown>,
  ): Promise<string> {
    const client: StreamClient = { id: `c${this.#nextId++}`, connectedAt: new Date().toISOString() }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write('retry: 1000\n\n')
    req.socket.setKeepAlive(true)
    req.socket.setNoDelay(true)
    const connection: Connection = { client, res, pending: [] }
    this.#connections.set(client.id, connection)
    res.on('close', () => {
      if (this.#connections.delete(client.id)) this.emit('close', client.id)
    })
    this.emit('open', { ...client })
    try {
      const data = await hello(client.id)
      if (!res.writableEnded) res.write(format('hello', data))
    } finally {
      const held = connection.pending ?? []
      connection.pending = null
      for (const chunk of held) if (!res.writableEnded) res.write(chunk)
    }
    return client.id
  }

  /** Send an event to every connected client; returns how many were reached. */
  broadcast(event: string, data: unknown): number {
    const chunk = format(event, data)
    for (const connection of this.#connections.values()) this.#write(connection, chunk)
    return this.#connections.size
  }

  send(clientId: string, event: string, data: unknown): boolean {
    const connection = this.#connections.get(clientId)
    if (!connection) return false
    this.#write(connection, format(event, data))
    return true
  }

  clientIds(): string[] {
    return [...this.#connections.keys()]
  }

  get size(): number {
    return this.#connections.size
  }

  /** End every stream (on shutdown). */
  closeAll(): void {
    clearInterval(this.#keepAlive)
    for (const { res } of [...this.#connections.values()]) res.end()
  }

  #write(connection: Connection, chunk: string): void {
    if (connection.pending) connection.pending.push(chunk)
    else if (!connection.res.writableEnded) connection.res.write(chunk)
  }
}
