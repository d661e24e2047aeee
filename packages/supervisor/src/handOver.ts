/**
 * Keep-alive connections that cross from a draining process to its successor, instead of being
 * closed: closing one races a client that is sending its next request on it (the server said it
 * would keep it open), and the client sees a reset. The old process moves each idle one out
 * (`handOverConnection`); the new one serves what arrives (`Adoptions`), once the old process's
 * handoff state is there when one is coming, so a client's next request on a kept connection sees
 * what its previous one did.
 */
import { Socket as NetSocket, type Server, type Socket } from 'node:net'
import { canHandOver, type TrackedConnection } from './idleSweep.js'

/** A connected socket's native handle (net's `_handle`): what crosses the IPC channel. */
export interface NativeHandle {
  readStop(): number
  close(): void
}

/** A connection handed over waits at most this long for the predecessor's state before it is served. */
export const HOLD_FOR_HANDOFF_MS = 250

/**
 * Move an idle keep-alive connection out of this process. Reading stops first; bytes that arrive
 * later wait in the kernel and go with the descriptor. `send` writes the handle to the supervisor
 * and calls `sent` once it is on its way; this process then lets go of its copy, which does not
 * end the connection.
 */
export function handOverConnection(
  sockets: Map<Socket, TrackedConnection>,
  socket: Socket,
  send: (port: number, handle: NativeHandle, sent: () => void) => void,
): void {
  const tracked = sockets.get(socket)
  if (!tracked?.movable || !canHandOver(tracked, socket.bytesRead)) return
  // Ending already (a response said `Connection: close`): its client knows; nothing to move.
  if (socket.destroyed || socket.writableEnded || socket.writableLength > 0) return
  const handle = (socket as unknown as { _handle?: NativeHandle | null })._handle
  if (typeof handle?.readStop !== 'function') return
  handle.readStop()
  sockets.delete(socket)
  send(tracked.port, handle, () => socket.destroy())
}

/** The successor's side: connections handed over, served by this process's servers. */
export class Adoptions {
  readonly #open = new Set<Socket>()
  #gone: (() => void) | null = null
  readonly #held: (() => void)[] = []
  #timer: NodeJS.Timeout | null = null
  #released = false

  /**
   * Serve `handle` on `server`. With the predecessor's state still to come (`waitForState`), it
   * waits for `release()`, or HOLD_FOR_HANDOFF_MS at most; what its client sends meanwhile waits
   * in the kernel.
   */
  adopt(server: Server, handle: NativeHandle, waitForState: boolean): void {
    const serve = () => this.#serve(server, handle)
    if (!waitForState || this.#released) {
      serve()
      return
    }
    this.#held.push(serve)
    this.#timer ??= setTimeout(() => this.release(), HOLD_FOR_HANDOFF_MS)
  }

  /** The predecessor's state arrived, or will not be waited for: serve what waits, hold nothing more. */
  release(): void {
    this.#released = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    for (const serve of this.#held.splice(0)) serve()
  }

  /** Resolves once no adopted connection is open (net does not count them in `server.close()`). */
  whenGone(): Promise<void> {
    return new Promise((resolve) => {
      this.#gone = resolve
      if (this.#open.size === 0) resolve()
    })
  }

  #serve(server: Server, handle: NativeHandle): void {
    const socket = new NetSocket({
      handle,
      readable: true,
      writable: true,
      allowHalfOpen: (server as { allowHalfOpen?: boolean }).allowHalfOpen ?? false,
    } as ConstructorParameters<typeof NetSocket>[0])
    this.#open.add(socket)
    socket.once('close', () => {
      this.#open.delete(socket)
      if (this.#open.size === 0) this.#gone?.()
    })
    // What net does for a connection it accepts; http documents emitting it to inject one.
    server.emit('connection', socket)
  }
}
