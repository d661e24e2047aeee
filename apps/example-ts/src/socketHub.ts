/**
 * The WebSocket connections, owned by the cold part. A socket is a class instance bound to a file
 * descriptor: it cannot be unit state (state crosses versions as a structured clone), and it must
 * outlive every version of the hot code. So the hub keeps `id → socket`, hands each event to the
 * hot `chat` unit by id, and lets the unit write through `send`.
 */
import { randomUUID } from 'node:crypto'
import type { UnitHandle } from '@relup/swap'
import type { WebSocket, WebSocketServer } from 'ws'
import type { ChatSocketApi } from './contract.js'

export class SocketHub {
  private readonly sockets = new Map<string, WebSocket>()

  get size(): number {
    return this.sockets.size
  }

  send(connectionId: string, text: string): boolean {
    const socket = this.sockets.get(connectionId)
    if (!socket || socket.readyState !== socket.OPEN) return false
    socket.send(text)
    return true
  }

  /**
   * Hand every connection's events to the unit. Each is one short call: during an upgrade it
   * waits at the unit's gate for a fraction of a millisecond and then runs on the new version,
   * in arrival order; the socket itself is never touched by the swap.
   */
  serve(
    wss: WebSocketServer,
    chat: UnitHandle<ChatSocketApi>,
    onError: (error: unknown, connectionId: string) => void,
  ): void {
    wss.on('connection', (socket) => {
      const id = randomUUID()
      const report = (error: unknown) => onError(error, id)
      this.sockets.set(id, socket)
      chat.connected(id).catch(report)
      socket.on('message', (data, isBinary) => {
        if (!isBinary) chat.received(id, data.toString()).catch(report)
      })
      socket.on('close', () => {
        this.sockets.delete(id)
        chat.disconnected(id).catch(report)
      })
    })
  }

  /** Close every connection (1001: going away), for a shutdown. */
  closeAll(): void {
    for (const socket of this.sockets.values()) socket.close(1001, 'server shutting down')
  }
}
