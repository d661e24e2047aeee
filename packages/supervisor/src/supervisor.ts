/**
 * `runSupervisor()`: the process that owns an app's listening sockets and runs the app as a
 * child, handing it those sockets. It never serves traffic itself. It restarts a crashed child
 * with backoff, goes back to the last good release when a new one crashes before proving itself
 * (no crash loop), replaces the child for a cold release without closing the sockets (start the
 * new one, wait for its ready message, then drain the old one: in-flight requests finish, its
 * handoff state goes to the new one, it is killed at the drain timeout), and stops every child
 * gracefully on stop.
 */
import { isRelupError, type RelupError } from '@relup/core'
import { AppProcess, describeExit, type Release } from './appProcess.js'
import { type RestartDelay, restartDelay } from './backoff.js'
import { ChildNotReadyError, CutoverInProgressError, SupervisorStoppedError } from './errors.js'
import type { CutoverResult, ProcessInfo, SocketInfo, SupervisorEvent } from './events.js'
import type { PlainData } from './protocol.js'
import { bindSockets, type OwnedSocket, type PortSpec } from './sockets.js'

export interface SupervisorOptions {
  /** What the first process runs: a release, or just its command. */
  release: Release | readonly string[]
  /** The ports to own; each is bound before the first process starts. */
  ports: readonly (number | PortSpec)[]
  /** How long a new process may take to say ready (default 30 s). */
  readyTimeout?: number
  /** How long a replaced or stopped process may take to drain before it is killed (default 10 s). */
  drainTimeout?: number
  /** Restart backoff for a crashed process (default 200 ms doubling up to 30 s). */
  restartDelay?: RestartDelay
  /** A release whose process stayed up this long after ready is the one to go back to (default 10 s). */
  stableAfter?: number
  /** The children's environment (default `process.env`). */
  env?: NodeJS.ProcessEnv
  /** The children's stdout/stderr (default `inherit`). */
  stdio?: 'inherit' | 'ignore'
  onEvent?: (event: SupervisorEvent) => void
}

export interface Supervisor {
  readonly sockets: readonly SocketInfo[]
  /** The process serving now, or null between a crash and its restart. */
  readonly current: ProcessInfo | null
  /** The release of the process serving now. */
  readonly currentRelease: Release | null
  /** The last release that proved itself (stayed up `stableAfter`), or null. */
  readonly lastGood: string | null
  /** Resolves when a first process is ready. */
  readonly ready: Promise<void>
  /** Replace the serving process with one started from `release`, the sockets kept open. */
  cutover(release: Release, options?: CutoverOptions): Promise<CutoverResult>
  /** Hear every event (beside `onEvent`); returns the way to stop hearing them. */
  subscribe(listener: (event: SupervisorEvent) => void): () => void
  /** Send a signal to the serving process (SIGHUP, SIGUSR1…). */
  signal(signal: NodeJS.Signals): void
  /** Drain every process (killed at the drain timeout), close the sockets. */
  stop(reason?: string): Promise<void>
  /** Resolves once stopped. */
  readonly stopped: Promise<void>
}

export interface CutoverOptions {
  /**
   * The release to go back to when the new one crashes before it proved itself (a staged
   * rollout's stable release). Default: the last good release.
   */
  fallback?: Release | undefined
  /** How long the new release must stay up after ready to prove itself (a health window). Default: `stableAfter`. */
  stableAfter?: number | undefined
}

const releaseOf = (release: Release | readonly string[]): Release =>
  'command' in release ? release : { id: 'initial', command: release }

export async function runSupervisor(options: SupervisorOptions): Promise<Supervisor> {
  const sockets = bindSockets(options.ports.map((p) => (typeof p === 'number' ? { port: p } : p)))
  const supervisor = new ProcessSupervisor(options, sockets)
  supervisor.start(releaseOf(options.release))
  return supervisor
}

class ProcessSupervisor implements Supervisor {
  readonly sockets: readonly SocketInfo[]
  readonly ready: Promise<void>
  readonly stopped: Promise<void>
  private serving: AppProcess | null = null
  private good: Release | null = null
  private readonly live = new Set<AppProcess>()
  private readonly successors = new Map<AppProcess, AppProcess>()
  private attempt = 0
  private restartTimer: NodeJS.Timeout | null = null
  private cutting: Release | null = null
  private stopping: Promise<void> | null = null
  private readonly listeners = new Set<(event: SupervisorEvent) => void>()
  private markReady!: () => void
  private markStopped!: () => void
  private readonly readyTimeout: number
  private readonly drainTimeout: number
  private readonly stableAfter: number

  constructor(
    private readonly options: SupervisorOptions,
    private readonly owned: OwnedSocket[],
  ) {
    this.sockets = owned.map(({ host, port, actualPort }) => ({ host, port, actualPort }))
    this.ready = new Promise((resolve) => {
      this.markReady = resolve
    })
    this.stopped = new Promise((resolve) => {
      this.markStopped = resolve
    })
    this.readyTimeout = options.readyTimeout ?? 30_000
    this.drainTimeout = options.drainTimeout ?? 10_000
    this.stableAfter = options.stableAfter ?? 10_000
    this.emit({ type: 'listening', sockets: [...this.sockets] })
  }

  get current(): ProcessInfo | null {
    return this.serving ? { release: this.serving.release.id, pid: this.serving.pid } : null
  }

  get currentRelease(): Release | null {
    return this.serving?.release ?? null
  }

  get lastGood(): string | null {
    return this.good?.id ?? null
  }

  /** Start `release` as the serving process (first start, restart after a crash, fallback). */
  start(release: Release): void {
    const proc = this.spawn(release)
    this.serving = proc
    proc.whenReady(this.readyTimeout).then(
      () => {
        this.announceReady(proc)
        this.markReady()
      },
      (error: RelupError) => {
        // Never ready: stop it; its exit is a crash like any other (restart or fall back).
        if (proc !== this.serving || !proc.running) return
        this.emit({ type: 'not-ready', release: proc.release.id, pid: proc.pid, reason: error.message })
        proc.signal('SIGKILL')
      },
    )
  }

  async cutover(release: Release, options: CutoverOptions = {}): Promise<CutoverResult> {
    if (this.stopping) throw new SupervisorStoppedError(`cut over to ${release.id}`)
    if (this.cutting) throw new CutoverInProgressError(release.id, this.cutting.id)
    this.cutting = release
    const previous = this.current
    try {
      const next = this.spawn(release)
      try {
        await next.whenReady(this.readyTimeout)
      } catch (error) {
        // The old process never stopped serving; the new one goes without taking traffic for long.
        if (next.running) await next.stop('stop', this.drainTimeout)
        const failure = isRelupError(error) ? error : new ChildNotReadyError(release.id, String(error))
        return this.report({ status: 'failed', release: release.id, error: failure, previous })
      }
      if (this.stopping) {
        await next.stop('stop', this.drainTimeout)
        throw new SupervisorStoppedError(`cut over to ${release.id}`)
      }
      const old = this.serving
      this.cancelRestart()
      this.serving = next
      this.attempt = 0
      if (options.fallback) this.good = options.fallback
      this.announceReady(next, options.stableAfter)
      let drainMs = 0
      let killedOld = false
      if (old?.running) {
        this.successors.set(old, next)
        const began = Date.now()
        killedOld = (await old.stop('cutover', this.drainTimeout, next)).killed
        drainMs = Date.now() - began
        this.emit({
          type: 'drained',
          release: old.release.id,
          pid: old.pid,
          ms: drainMs,
          killed: killedOld,
          handedOver: old.handedOver,
        })
      }
      return this.report({
        status: 'completed',
        release: release.id,
        pid: next.pid,
        previous,
        readyMs: (next.readyAt ?? Date.now()) - next.startedAt,
        drainMs,
        killedOld,
        handedOver: old?.handedOver ?? 0,
      })
    } finally {
      this.cutting = null
    }
  }

  subscribe(listener: (event: SupervisorEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  signal(signal: NodeJS.Signals): void {
    this.serving?.signal(signal)
  }

  stop(reason = 'stop requested'): Promise<void> {
    this.stopping ??= (async () => {
      this.emit({ type: 'stopping', reason })
      this.cancelRestart()
      await Promise.all([...this.live].map((proc) => proc.stop('stop', this.drainTimeout)))
      for (const socket of this.owned) socket.handle.close()
      this.serving = null
      this.emit({ type: 'stopped' })
      this.markStopped()
    })()
    return this.stopping
  }

  private spawn(release: Release): AppProcess {
    const proc: AppProcess = new AppProcess({
      release,
      sockets: this.owned,
      env: this.options.env ?? process.env,
      stdio: this.options.stdio ?? 'inherit',
      onHandoff: (data) => this.handOff(proc, data),
      onUnhealthy: (reason) => this.emit({ type: 'unhealthy', release: release.id, pid: proc.pid, reason }),
      // An idle keep-alive connection of a draining process goes on to the process that replaced it.
      onConnection: (port, handle, handoff) => {
        const to = this.successors.get(proc)
        if (!to?.running) return handle.close()
        to.adopt(port, handle, handoff)
        proc.handedOver++
      },
    })
    this.live.add(proc)
    this.emit({ type: 'spawned', release: release.id, pid: proc.pid })
    void proc.exited.then((exit) => {
      this.live.delete(proc)
      this.successors.delete(proc)
      const expected = proc.leaving || this.stopping !== null
      this.emit({ type: 'exited', release: release.id, pid: proc.pid, ...exit, expected })
      if (!expected && proc === this.serving) this.crashed(proc, describeExit(exit))
    })
    return proc
  }

  private announceReady(proc: AppProcess, stableAfter = this.stableAfter): void {
    this.emit({
      type: 'ready',
      release: proc.release.id,
      pid: proc.pid,
      ms: (proc.readyAt ?? 0) - proc.startedAt,
    })
    setTimeout(() => {
      if (proc === this.serving && proc.running) {
        this.good = proc.release
        this.attempt = 0
      }
    }, stableAfter).unref()
  }

  /** The serving process died on its own. */
  private crashed(proc: AppProcess, how: string): void {
    this.serving = null
    const release = proc.release
    if (this.good && this.good.id !== release.id) {
      const reason = `${release.id} ${how} ${proc.readyAt === null ? 'before it was ready' : `${Date.now() - proc.readyAt} ms after it was ready`}`
      this.emit({ type: 'fallback', from: release.id, to: this.good.id, reason })
      this.attempt = 0
      this.start(this.good)
      return
    }
    const inMs = restartDelay(this.attempt, this.options.restartDelay)
    this.attempt++
    this.emit({ type: 'restarting', release: release.id, attempt: this.attempt, inMs })
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null
      if (!this.stopping && !this.serving) this.start(release)
    }, inMs)
  }

  private cancelRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer)
    this.restartTimer = null
  }

  /** The handoff of a drained process goes to the process that replaced it, nowhere else. */
  private handOff(from: AppProcess, data: PlainData): void {
    const to = this.successors.get(from)
    if (!to?.running) return
    to.send({ relup: 'handoff', data, from: { pid: from.pid, release: from.release.id } })
    this.emit({ type: 'handoff', from: from.pid, to: to.pid, bytes: JSON.stringify(data).length })
  }

  private report(result: CutoverResult): CutoverResult {
    this.emit({ type: 'cutover', result })
    return result
  }

  private emit(event: SupervisorEvent): void {
    this.options.onEvent?.(event)
    for (const listener of this.listeners) listener(event)
  }
}
