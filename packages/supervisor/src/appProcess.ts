/**
 * One app process as the supervisor sees it: started from a release with the supervisor's
 * sockets on offer, ready when it says so, drained (or killed at the deadline) when replaced.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { constants } from 'node:os'
import { ChildNotReadyError } from './errors.js'
import {
  type AppMessage,
  type DrainReason,
  isRelupMessage,
  type PlainData,
  SUPERVISOR_ENV,
  type SupervisorMessage,
} from './protocol.js'
import type { OwnedSocket } from './sockets.js'

/** What a process is started from: a command, run in a directory. */
export interface Release {
  /** Names the release in logs, events and the child's `RELUP_RELEASE`. */
  id: string
  /** The command and its arguments, e.g. `['node', 'dist/server.js']`. */
  command: readonly string[]
  cwd?: string
  /** Added to the supervisor's environment. */
  env?: Readonly<Record<string, string>>
}

export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export const exitCodeOf = ({ code, signal }: ProcessExit) =>
  code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)

export const describeExit = ({ code, signal }: ProcessExit) =>
  signal ? `killed by ${signal}` : code === 127 ? 'command not found (exit 127)' : `exited with code ${code}`

export interface AppProcessOptions {
  release: Release
  sockets: readonly OwnedSocket[]
  env: NodeJS.ProcessEnv
  stdio: 'inherit' | 'ignore'
  onHandoff(data: PlainData): void
  onUnhealthy(reason: string): void
  /** An idle connection this process handed over while draining, for its successor. */
  onConnection(port: number, handle: ConnectionHandle, handoff: boolean): void
}

/** A connected socket's native handle, as it crosses the IPC channel (closed once passed on). */
export interface ConnectionHandle {
  close(): void
}

export class AppProcess {
  readonly release: Release
  readonly startedAt = Date.now()
  readyAt: number | null = null
  /** Set once the process spoke relup's protocol: it drains on a message rather than a signal. */
  usesHelper = false
  /** Set when the supervisor asked it to go: its exit is expected. */
  leaving = false
  /** It said it adopts the idle connections of the process it replaces (a current helper does). */
  adopts = false
  /** How many idle connections it handed to its successor while draining (counted as they pass). */
  handedOver = 0
  readonly exited: Promise<ProcessExit>
  private readonly child: ChildProcess
  private readonly sockets: readonly OwnedSocket[]
  private readyListeners = new Set<() => void>()
  private exit: ProcessExit | null = null

  constructor(options: AppProcessOptions) {
    this.release = options.release
    this.sockets = options.sockets
    const [file, ...args] = options.release.command
    const ports = options.sockets.map((s) => `${s.port}=${s.actualPort}`).join(',')
    this.child = spawn(file ?? '', args, {
      cwd: options.release.cwd,
      env: {
        ...options.env,
        ...options.release.env,
        [SUPERVISOR_ENV.supervised]: '1',
        [SUPERVISOR_ENV.release]: options.release.id,
        [SUPERVISOR_ENV.ports]: ports,
      },
      stdio: [options.stdio === 'inherit' ? 'inherit' : 'ignore', options.stdio, options.stdio, 'ipc'],
      serialization: 'json',
      // Its own process group: Ctrl-C in a terminal reaches the supervisor, which drains it.
      detached: true,
    })
    this.exited = new Promise((resolve) => {
      const done = (exit: ProcessExit) => {
        if (this.exit) return
        this.exit = exit
        resolve(exit)
      }
      this.child.once('exit', (code, signal) => done({ code, signal }))
      // Spawning failed (ENOENT, EACCES): no exit event follows.
      this.child.once('error', (error: NodeJS.ErrnoException) => {
        if (this.child.pid === undefined) done({ code: error.code === 'ENOENT' ? 127 : 126, signal: null })
      })
    })
    this.child.on('message', (message: unknown, handle: unknown) => {
      if (!isRelupMessage<AppMessage>(message)) return
      this.usesHelper = true
      switch (message.relup) {
        case 'listen':
          return this.giveSocket(message.id, message.port)
        case 'ready':
          if (this.readyAt !== null) return
          this.readyAt = Date.now()
          this.adopts = message.adopts === true
          for (const listener of this.readyListeners) listener()
          return
        case 'handoff':
          return options.onHandoff(message.data)
        case 'unhealthy':
          return options.onUnhealthy(String(message.reason))
        case 'connection':
          if (isHandle(handle)) options.onConnection(message.port, handle, message.handoff === true)
          return
        case 'handoff-failed':
        case 'drained':
          return
      }
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  get running(): boolean {
    return this.exit === null
  }

  /** Resolves when the process says ready; rejects when it exits first or `timeout` passes. */
  whenReady(timeout: number): Promise<void> {
    if (this.readyAt !== null) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settle()
        reject(new ChildNotReadyError(this.release.id, `no ready message within ${timeout} ms`))
      }, timeout)
      const onReady = () => {
        settle()
        resolve()
      }
      const settle = () => {
        clearTimeout(timer)
        this.readyListeners.delete(onReady)
      }
      this.readyListeners.add(onReady)
      void this.exited.then((exit) => {
        if (this.readyAt !== null) return
        settle()
        reject(new ChildNotReadyError(this.release.id, `it ${describeExit(exit)} while starting`))
      })
    })
  }

  /** False when the process is gone (nothing sent, `sent` not called). */
  send(
    message: SupervisorMessage,
    handle?: OwnedSocket['handle'] | ConnectionHandle,
    sent?: () => void,
  ): boolean {
    if (!this.running || !this.child.connected) return false
    // A process that exits meanwhile makes the send fail; its exit is handled where it is awaited.
    this.child.send(message, handle as never, {}, () => sent?.())
    return true
  }

  /**
   * Pass a connection handed over by the predecessor on to this process. The supervisor's copy of
   * the descriptor is closed once it is written to the channel (or at once when this process is
   * gone): the connection lives on in this process alone, and ends when it closes it.
   */
  adopt(port: number, handle: ConnectionHandle, handoff: boolean): void {
    if (!this.send({ relup: 'connection', port, handoff }, handle, () => handle.close())) handle.close()
  }

  /**
   * Ask the process to drain and exit; kill it at `timeout`. A process that never spoke relup's
   * protocol gets SIGTERM instead. Resolves with whether it had to be killed.
   */
  async stop(
    reason: DrainReason,
    timeout: number,
    successor?: AppProcess,
  ): Promise<{ killed: boolean; exit: ProcessExit }> {
    this.leaving = true
    if (!this.running) return { killed: false, exit: await this.exited }
    const handOver = successor?.adopts === true
    if (this.usesHelper) this.send({ relup: 'drain', reason, deadline: Date.now() + timeout, handOver })
    else this.signal('SIGTERM')
    let killed = false
    const timer = setTimeout(() => {
      killed = true
      this.signal('SIGKILL')
    }, timeout)
    const exit = await this.exited
    clearTimeout(timer)
    return { killed, exit }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal)
  }

  private giveSocket(id: number, port: number): void {
    const socket =
      this.sockets.find((s) => s.port === port) ?? (this.sockets.length === 1 ? this.sockets[0] : undefined)
    if (!socket) {
      this.send({ relup: 'no-socket', id, port, available: this.sockets.map((s) => s.port) })
      return
    }
    this.send({ relup: 'socket', id, port, actualPort: socket.actualPort }, socket.handle)
  }
}

function isHandle(value: unknown): value is ConnectionHandle {
  return (
    typeof value === 'object' && value !== null && typeof (value as ConnectionHandle).close === 'function'
  )
}
