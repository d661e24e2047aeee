/**
 * The listening sockets the supervisor owns. Each is bound here and never closed while the
 * supervisor runs: app processes come and go, but the socket (and the kernel's accept queue on
 * it) stays, so a connection that arrives between two processes waits in the queue instead of
 * being refused. Closing a listener drops what is queued on it, which is why blue-green on
 * `SO_REUSEPORT` loses connections; passing one handle needs no `reusePort` (Node 22.12+ only).
 *
 * The supervisor must never accept a connection itself, so it holds a bound handle without
 * polling it: Node's `net._createServerHandle`, the one cluster's shared-handle mode uses. The
 * first app process's `server.listen(handle)` puts the socket in the listening state; from then
 * on the kernel queues connections for whichever process accepts.
 */
import net from 'node:net'
import { getSystemErrorName } from 'node:util'
import { ListenError } from './errors.js'

/** The raw TCP handle of Node's `tcp_wrap` (what `child.send(message, handle)` passes on). */
export interface TcpHandle {
  getsockname(out: { address?: string; port?: number }): number
  close(callback?: () => void): void
}

export interface PortSpec {
  port: number
  /** Default `0.0.0.0`. */
  host?: string
}

export interface OwnedSocket {
  /** The port as configured (what the app asks for; 0 = any free port). */
  readonly port: number
  readonly host: string
  /** The port actually bound. */
  readonly actualPort: number
  readonly handle: TcpHandle
}

type CreateServerHandle = (
  address: string,
  port: number,
  addressType: 4 | 6,
  fd: undefined,
  flags: number,
) => TcpHandle | number

const errnoName = (code: number) => {
  try {
    return getSystemErrorName(code)
  } catch {
    return `error ${code}`
  }
}

export function bindSocket(spec: PortSpec): OwnedSocket {
  const host = spec.host ?? '0.0.0.0'
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle
  if (typeof create !== 'function')
    throw new ListenError(host, spec.port, `this Node.js (${process.version}) has no net._createServerHandle`)
  const handle = create(host, spec.port, net.isIPv6(host) ? 6 : 4, undefined, 0)
  if (typeof handle === 'number') throw new ListenError(host, spec.port, errnoName(handle))
  // libuv reports EADDRINUSE from bind only later (at listen); getsockname tells it now.
  const address: { port?: number } = {}
  const status = handle.getsockname(address)
  if (status !== 0) {
    handle.close()
    throw new ListenError(host, spec.port, errnoName(status))
  }
  return { port: spec.port, host, actualPort: address.port ?? spec.port, handle }
}

/** Binds every port, or none: a failure closes what was already bound. */
export function bindSockets(specs: readonly PortSpec[]): OwnedSocket[] {
  const bound: OwnedSocket[] = []
  try {
    for (const spec of specs) bound.push(bindSocket(spec))
    return bound
  } catch (error) {
    for (const socket of bound) socket.handle.close()
    throw error
  }
}
