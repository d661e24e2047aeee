/**
 * Real message servers for the notifier tests and benchmarks: Debian's `redis-server` and
 * `nats-server`, each started as a child process on a free loopback port, and killable and
 * restartable on the same port so tests can provoke an outage and its end.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { delimiter, join } from 'node:path'

export type ServerKind = 'redis' | 'nats'

const BINARIES: Record<ServerKind, { binary: string; env: string; apt: string }> = {
  redis: { binary: 'redis-server', env: 'RELUP_REDIS_SERVER', apt: 'redis-server' },
  nats: { binary: 'nats-server', env: 'RELUP_NATS_SERVER', apt: 'nats-server' },
}

/** The server binary: `RELUP_REDIS_SERVER` / `RELUP_NATS_SERVER`, else PATH, else the sbin directories Debian uses. */
export function serverBinary(kind: ServerKind): string | null {
  const { binary, env } = BINARIES[kind]
  const explicit = process.env[env]
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin']
  for (const candidate of explicit ? [explicit] : dirs.filter(Boolean).map((dir) => join(dir, binary))) {
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // try the next one
    }
  }
  return null
}

export interface ServerAvailability {
  /** Run the tests: the binary is there. */
  run: boolean
  /** Why not, with the command that fixes it; null when it runs. */
  reason: string | null
}

/**
 * Whether the tests of `kind` can run. Without the binary they are skipped with a message saying
 * how to install it, unless `RELUP_REQUIRE_NOTIFIERS=1` (CI), where `run` stays true and starting
 * the server fails the test instead.
 */
export function serverAvailability(kind: ServerKind): ServerAvailability {
  if (serverBinary(kind)) return { run: true, reason: null }
  const { binary, env, apt } = BINARIES[kind]
  const reason =
    `${binary} not found: install it with \`sudo apt-get install ${apt}\` (or point ${env} at one); ` +
    'set RELUP_REQUIRE_NOTIFIERS=1 to make its absence a failure.'
  return { run: process.env.RELUP_REQUIRE_NOTIFIERS === '1', reason }
}

export interface MessageServer {
  readonly kind: ServerKind
  /** `redis://127.0.0.1:<port>` or `nats://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  /** Whether the process is up. */
  readonly running: boolean
  /** SIGKILL the server (an outage: clients see the connection drop). */
  kill(): Promise<void>
  /** Start it again on the same port (after `kill`). */
  restart(): Promise<void>
  /** Kill it for good (idempotent). */
  stop(): Promise<void>
}

/** A free loopback port (the OS picks one; it is free again once the probe closes). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address ? address.port : 0
      probe.close(() => resolve(port))
    })
  })
}

function argsFor(kind: ServerKind, port: number): string[] {
  return kind === 'redis'
    ? ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no']
    : ['--addr', '127.0.0.1', '--port', String(port)]
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Start `redis-server` or `nats-server` on a free loopback port; it dies with this process. */
export async function startServer(
  kind: ServerKind,
  options: { startTimeoutMs?: number } = {},
): Promise<MessageServer> {
  const binary = serverBinary(kind)
  if (!binary) {
    const { binary: name, apt, env } = BINARIES[kind]
    throw new Error(
      `${name} not found (RELUP_REQUIRE_NOTIFIERS=1 makes that a failure): install it with \`sudo apt-get install ${apt}\` or point ${env} at one`,
    )
  }
  const port = await freePort()
  const timeout = options.startTimeoutMs ?? 10_000
  let child: ChildProcess | null = null
  let output = ''
  const killOnExit = () => child?.kill('SIGKILL')
  process.on('exit', killOnExit)

  async function launch(): Promise<void> {
    output = ''
    const started = spawn(binary as string, argsFor(kind, port), { stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000)
    }
    started.stdout?.on('data', keep)
    started.stderr?.on('data', keep)
    started.once('exit', () => {
      if (child === started) child = null
    })
    const deadline = Date.now() + timeout
    while (Date.now() < deadline) {
      if (child !== started) throw new Error(`${binary} exited at start on port ${port}:\n${output}`)
      if (await canConnect(port)) return
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    started.kill('SIGKILL')
    throw new Error(`${binary} did not listen on 127.0.0.1:${port} within ${timeout} ms:\n${output}`)
  }

  async function kill(): Promise<void> {
    const running = child
    if (!running) return
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()))
    running.kill('SIGKILL')
    await exited
  }

  await launch()
  return {
    kind,
    url: `${kind}://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== null
    },
    kill,
    restart: async () => {
      if (child) return
      await launch()
    },
    stop: async () => {
      await kill()
      process.off('exit', killOnExit)
    },
  }
}
