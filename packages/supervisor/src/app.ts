/**
 * The app side of `relup run`, for the app's cold entry. `listen(server, port)` takes the
 * listening socket from the supervisor when there is one (and says ready), or calls
 * `server.listen(port)` when there is none: the same code runs both ways. When the supervisor
 * replaces this process, the drain begins: the servers stop accepting (the socket stays open in
 * the supervisor and in the new process), responses already running finish with
 * `Connection: close`, idle keep-alive connections move to the new process (on a stop, or to a
 * process that cannot take them, they are closed), `onDrain` listeners tell long-lived clients to
 * reconnect, the `handOff` state goes to the new process, and the process exits once every
 * connection is gone (or the supervisor kills it at its drain timeout).
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http'
import { Server as NetServer, type Server, type Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import { HandoffNotPlainError, NoSupervisedSocketError } from './errors.js'
import { Adoptions, handOverConnection, type NativeHandle } from './handOver.js'
import { sweepIdle, type TrackedConnection } from './idleSweep.js'
import { assertPlain } from './plain.js'
import {
  type AppMessage,
  type DrainReason,
  isRelupMessage,
  type PlainData,
  SUPERVISOR_ENV,
  type SupervisorMessage,
} from './protocol.js'

/**
 * With no successor to take it (a stop), a keep-alive connection idle this long during a drain is
 * closed, at the second look (idleSweep.ts); a busier one gets `Connection: close`.
 */
const IDLE_GRACE_MS = 500
const SWEEP_EVERY_MS = 100
/** With a connection that never ends, the handoff goes this long before the supervisor's kill. */
const HANDOFF_MARGIN_MS = 250

export interface DrainEvent {
  /** `cutover`: a new process took over; `stop`: the supervisor is stopping. */
  reason: DrainReason
  /** Epoch ms at which the supervisor kills this process if it is still running. */
  deadline: number
}

export interface Predecessor {
  pid: number
  release: string
}

export interface ListenOptions {
  /** Without a supervisor: the host to listen on (default: Node's, all interfaces). */
  host?: string
  /** Say ready once listening (default true). False when the app listens on several ports, or has more to do: call `ready()` itself. */
  ready?: boolean
}

/** True when this process runs under `relup run` (or `runSupervisor`). */
export function isSupervised(): boolean {
  return process.env[SUPERVISOR_ENV.supervised] === '1' && typeof process.send === 'function'
}

/**
 * Listen on `port`: on the supervisor's socket when supervised, else `server.listen(port)`.
 * Resolves once listening. Throws `NoSupervisedSocketError` when the supervisor has no such port.
 */
export async function listen(server: Server, port: number, options: ListenOptions = {}): Promise<void> {
  const state = connect()
  if (!state) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      const done = () => {
        server.off('error', reject)
        resolve()
      }
      if (options.host === undefined) server.listen(port, done)
      else server.listen(port, options.host, done)
    })
    return
  }
  track(state, server, port)
  const handle = await state.socketFor(port)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(handle, () => {
      server.off('error', reject)
      resolve()
    })
  })
  if (options.ready !== false) ready()
}

/** Tell the supervisor this process is ready for traffic (`listen` does it unless `ready: false`). */
export function ready(): void {
  connect()?.send({ relup: 'ready', adopts: true })
}

/**
 * Tell the supervisor this process cannot serve as it should (a dependency it needs is gone, its
 * own checks fail). During a cold rollout's health window the machine goes back to the stable
 * release, started beside this process (which drains and hands its state over), and the release
 * is reported failed; otherwise the supervisor reports it. Without a supervisor it does nothing.
 */
export function unhealthy(reason: string): void {
  connect()?.send({ relup: 'unhealthy', reason })
}

/** Called when the drain begins: end long-lived connections (SSE, WebSocket) with a "reconnect" to clients. */
export function onDrain(listener: (event: DrainEvent) => void | Promise<void>): () => void {
  const state = connect()
  if (!state) return () => {}
  state.drainListeners.add(listener)
  return () => state.drainListeners.delete(listener)
}

/**
 * The state this process hands to its successor, asked for once its drain is done (every
 * connection ended, or shortly before the drain deadline if one does not): plain data
 * only (a function or class instance is refused with `HandoffNotPlainError`, and the successor
 * starts without it). The successor already serves when it arrives: merge it in `onHandoff`.
 */
export function handOff(provider: () => PlainData | Promise<PlainData>): void {
  const state = connect()
  if (state) state.provider = provider
}

/** Receives the predecessor's handoff state (at most once per process; also when registered after it came). */
export function onHandoff(listener: (data: PlainData, from: Predecessor) => void): () => void {
  const state = connect()
  if (!state) return () => {}
  if (state.received) listener(state.received.data, state.received.from)
  state.handoffListeners.add(listener)
  return () => state.handoffListeners.delete(listener)
}

// ---- the connection to the supervisor (one per process, made on first use) ---------------------

interface Connection {
  send(message: AppMessage, sent?: () => void, handle?: NativeHandle): void
  socketFor(port: number): Promise<unknown>
  servers: Set<Server>
  /** The supervisor's port each server listens on (as the app asked for it). */
  ports: Map<Server, number>
  sockets: Map<Socket, TrackedConnection>
  /** Connections the predecessor handed over (handOver.ts). */
  adopted: Adoptions
  responses: Set<ServerResponse>
  /** Responses under way when the drain began, with their headers sent: their connection ends with them. */
  closeAfter: WeakSet<ServerResponse>
  drainListeners: Set<(event: DrainEvent) => void | Promise<void>>
  handoffListeners: Set<(data: PlainData, from: Predecessor) => void>
  provider: (() => PlainData | Promise<PlainData>) | null
  received: { data: PlainData; from: Predecessor } | null
  draining: boolean
  /** Set by a cutover's drain when the successor adopts connections: idle ones move to it instead of closing. */
  handOver: boolean
}

let connection: Connection | null | undefined

function connect(): Connection | null {
  if (connection !== undefined) return connection
  if (!isSupervised()) {
    connection = null
    return null
  }
  const pending = new Map<number, { resolve(handle: unknown): void; reject(error: Error): void }>()
  let nextId = 1
  const state: Connection = {
    send(message, sent, handle) {
      process.send?.(message, handle as never, {}, () => sent?.())
    },
    socketFor(port) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        state.send({ relup: 'listen', id, port })
      })
    },
    servers: new Set(),
    ports: new Map(),
    sockets: new Map(),
    adopted: new Adoptions(),
    responses: new Set(),
    closeAfter: new WeakSet(),
    drainListeners: new Set(),
    handoffListeners: new Set(),
    provider: null,
    received: null,
    draining: false,
    handOver: false,
  }
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isRelupMessage<SupervisorMessage>(message)) return
    switch (message.relup) {
      case 'socket':
        pending.get(message.id)?.resolve(handle)
        pending.delete(message.id)
        return
      case 'no-socket':
        pending.get(message.id)?.reject(new NoSupervisedSocketError(message.port, message.available))
        pending.delete(message.id)
        return
      case 'drain':
        state.handOver = message.handOver === true
        void drain(state, { reason: message.reason, deadline: message.deadline })
        return
      case 'connection':
        adopt(state, message.port, handle as NativeHandle | undefined, message.handoff === true)
        return
      case 'handoff':
        if (state.received) return
        state.received = { data: message.data, from: message.from }
        for (const listener of state.handoffListeners) listener(message.data, message.from)
        state.adopted.release()
        return
    }
  })
  // The supervisor is gone (killed): nobody will replace or stop this process, so it drains now.
  process.once('disconnect', () => void drain(state, { reason: 'stop', deadline: Date.now() }))
  connection = state
  return state
}

/** Follow the server's connections, so that a drain can tell idle keep-alive ones from busy ones. */
function track(state: Connection, server: Server, port: number): void {
  state.servers.add(server)
  state.ports.set(server, port)
  // A TLS server's requests arrive on the TLS socket, once its handshake is done (net's socket
  // below it never sees one). Its session lives in this process: it cannot move to another one.
  const tls = server instanceof TlsServer
  const movable = !tls
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    state.sockets.set(socket, {
      busy: 0,
      idleSince: Date.now(),
      bytesAtIdle: socket.bytesRead,
      port,
      movable,
    })
    socket.once('close', () => state.sockets.delete(socket))
    // One the predecessor handed over after this process began draining itself.
    if (state.draining) handOverLater(state, socket)
  })
  const http = server as HttpServer
  // A WebSocket leaves HTTP: the app owns it from here, and onDrain is how it ends.
  http.prependListener('upgrade', (request: IncomingMessage) => state.sockets.delete(request.socket))
  http.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const tracked = state.sockets.get(request.socket)
    if (tracked) tracked.busy++
    if (state.draining) response.setHeader('connection', 'close')
    state.responses.add(response)
    response.once('close', () => {
      state.responses.delete(response)
      if (tracked) {
        tracked.busy--
        tracked.idleSince = Date.now()
        tracked.bytesAtIdle = request.socket.bytesRead
      }
      // Its headers went out before the drain, without `Connection: close` (an SSE stream the app
      // ended in onDrain), and nobody takes the connection over: a client reusing it would reach
      // this process again.
      if (state.closeAfter.has(response)) request.socket.end()
      // Its client may send the next request on it at once: the successor answers that one.
      else if (state.draining) handOverLater(state, request.socket)
    })
  })
}

/** After the response's own bookkeeping (and whatever the event loop reads meanwhile). */
function handOverLater(state: Connection, socket: Socket): void {
  if (state.handOver) setImmediate(() => moveOut(state, socket))
}

/** Hand an idle connection to the successor (handOver.ts), saying whether this process's state follows. */
function moveOut(state: Connection, socket: Socket): void {
  handOverConnection(state.sockets, socket, (port, handle, sent) =>
    state.send({ relup: 'connection', port, handoff: state.provider !== null }, sent, handle),
  )
}

/** A connection handed over by the predecessor: served by this process's server for that port. */
function adopt(state: Connection, port: number, handle: NativeHandle | undefined, handoff: boolean): void {
  if (!handle) return
  const servers = [...state.ports]
  const server =
    servers.find(([, listening]) => listening === port)?.[0] ??
    (servers.length === 1 ? servers[0]?.[0] : undefined)
  // Closed already when this process is draining too: it serves the connection, or hands it on.
  if (!server) handle.close()
  else state.adopted.adopt(server, handle, handoff)
}

async function drain(state: Connection, event: DrainEvent): Promise<void> {
  if (state.draining) return
  state.draining = true
  state.adopted.release()
  // net's close, not http's: since Node 19 http's also destroys every idle keep-alive connection
  // at once, racing a client that is sending its next request on it (it would see a reset).
  const closed = [...state.servers].map(
    (server) => new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve())),
  )
  // Responses already under way end their connection when they finish. One whose headers went
  // out before the drain keeps it: it moves to the successor once the response ends, or, when
  // there is none to take it, is ended then.
  for (const response of state.responses) {
    if (!response.headersSent) response.setHeader('connection', 'close')
    else if (!state.handOver) state.closeAfter.add(response)
  }
  if (state.handOver) for (const socket of [...state.sockets.keys()]) moveOut(state, socket)
  const sweeper = setInterval(() => sweepIdle(state.sockets, Date.now(), IDLE_GRACE_MS), SWEEP_EVERY_MS)
  await Promise.allSettled([...state.drainListeners].map(async (listener) => listener(event)))
  // The state is read once no request can change it any more (every connection gone), or just
  // before the supervisor's deadline when one never ends: a late handoff beats none.
  const allClosed = Promise.all([...closed, state.adopted.whenGone()])
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    allClosed,
    new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, event.deadline - Date.now() - HANDOFF_MARGIN_MS))
    }),
  ])
  clearTimeout(timer)
  await sendHandoff(state)
  await allClosed
  clearInterval(sweeper)
  // Timers and pools of the app would keep it alive: the drain is the end of this process.
  if (process.connected) state.send({ relup: 'drained' }, () => process.exit(0))
  else process.exit(0)
}

async function sendHandoff(state: Connection): Promise<void> {
  if (!state.provider) return
  try {
    const data = await state.provider()
    assertPlain(data)
    state.send({ relup: 'handoff', data })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (!(error instanceof HandoffNotPlainError)) process.emitWarning(`relup handoff failed: ${message}`)
    else process.emitWarning(message)
    state.send({ relup: 'handoff-failed', error: message })
  }
}
