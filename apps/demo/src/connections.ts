/**
 * A graceful `server.close()`: connections with no request in progress (idle keep-alive sockets,
 * and sockets that never sent one) are closed at once, busy ones as soon as their response is done.
 * Node's own `closeIdleConnections()` leaves a socket that never sent a request open until its
 * headers timeout.
 */
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { Socket } from 'node:net'

export interface ConnectionTracker {
  /** Stop accepting, close what is idle, and resolve once every connection is gone (or `forceAfterMs` passed). */
  close(forceAfterMs: number): Promise<void>
}

export function trackConnections(server: Server): ConnectionTracker {
  const sockets = new Set<Socket>()
  const busy = new Set<Socket>()
  let closing = false
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => {
      sockets.delete(socket)
      busy.delete(socket)
    })
  })
  server.on('request', (req, res) => {
    const socket = req.socket
    busy.add(socket)
    res.once('close', () => {
      busy.delete(socket)
      if (closing) socket.end()
    })
  })
  return {
    async close(forceAfterMs) {
      closing = true
      const closed = once(server, 'close')
      server.close()
      for (const socket of sockets) if (!busy.has(socket)) socket.end()
      const force = setTimeout(() => {
        for (const socket of sockets) socket.destroy()
      }, forceAfterMs)
      await closed
      clearTimeout(force)
    },
  }
}
