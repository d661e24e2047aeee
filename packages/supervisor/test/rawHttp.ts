/**
 * One keep-alive HTTP/1.1 connection, by hand: every request goes on the same TCP connection, so
 * a test sees exactly what a client reusing it sees (undici would quietly open another one).
 * Enough HTTP for the fixture app: Content-Length and chunked bodies, ASCII text.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

export interface RawConnection {
  /** Send a request and read its response. Rejects when the connection ends first. */
  request(path: string, method?: string): Promise<RawResponse>
  /** Send a request without waiting for anything. */
  send(path: string, method?: string): void
  /** Read the next whole response (one sent with `send`, or a stream once it ends). */
  response(): Promise<RawResponse>
  /** Resolves once what has arrived so far contains `text`. */
  received(text: string): Promise<void>
  /** Resolves when the server ends the connection. */
  readonly closed: Promise<void>
  close(): void
}

export async function rawConnection(origin: string): Promise<RawConnection> {
  const { hostname, port } = new URL(origin)
  const socket: Socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  socket.setEncoding('utf8')
  let buffer = ''
  let ended = false
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const waiter of waiters) waiter()
    waiters.clear()
  }
  socket.on('data', (chunk: string) => {
    buffer += chunk
    wake()
  })
  const closed = new Promise<void>((resolve) => {
    const end = () => {
      ended = true
      wake()
      resolve()
    }
    socket.once('end', end)
    socket.once('close', end)
    socket.on('error', end)
  })
  const until = async <T>(what: string, take: () => T | undefined): Promise<T> => {
    for (;;) {
      const value = take()
      if (value !== undefined) return value
      if (ended) throw new Error(`the connection ended before ${what} (received: ${JSON.stringify(buffer)})`)
      await new Promise<void>((resolve) => waiters.add(resolve))
    }
  }
  const send = (path: string, method = 'GET') => {
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Length: 0\r\n\r\n`)
  }
  const response = () =>
    until('a whole response', () => {
      const parsed = parseResponse(buffer)
      if (!parsed) return undefined
      buffer = buffer.slice(parsed.length)
      return parsed.response
    })
  return {
    send,
    response,
    async request(path, method) {
      send(path, method)
      return response()
    },
    received: (text) => until(`"${text}"`, () => (buffer.includes(text) ? true : undefined)).then(() => {}),
    closed,
    close: () => socket.destroy(),
  }
}

function parseResponse(text: string): { response: RawResponse; length: number } | undefined {
  const headEnd = text.indexOf('\r\n\r\n')
  if (headEnd < 0) return undefined
  const [statusLine = '', ...lines] = text.slice(0, headEnd).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = Number(statusLine.split(' ')[1])
  let at = headEnd + 4
  if (headers['transfer-encoding'] === 'chunked') {
    let body = ''
    for (;;) {
      const sizeEnd = text.indexOf('\r\n', at)
      if (sizeEnd < 0) return undefined
      const size = Number.parseInt(text.slice(at, sizeEnd), 16)
      if (text.length < sizeEnd + 2 + size + 2) return undefined
      body += text.slice(sizeEnd + 2, sizeEnd + 2 + size)
      at = sizeEnd + 2 + size + 2
      if (size === 0) return { response: { status, headers, body }, length: at }
    }
  }
  const size = Number(headers['content-length'] ?? 0)
  if (text.length < at + size) return undefined
  return { response: { status, headers, body: text.slice(at, at + size) }, length: at + size }
}
