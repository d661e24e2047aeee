/**
 * Real processes for the example's tests: the built server (`dist/server.js`) as a child process
 * on a throwaway filesystem storage, the real `relup` binary, a WebSocket client and an HTTP load
 * loop. `Workspace.cleanUp()` (from afterEach) stops everything even when a test failed half-way.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'

export const exampleDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const repoDir = resolve(exampleDir, '..', '..')
const serverEntry = join(exampleDir, 'dist', 'server.js')
const cliEntry = join(repoDir, 'packages', 'cli', 'dist', 'relup.js')
export const BASE_REF = 'example-image-1'

export interface ExampleServer {
  port: number
  url: string
  /** The base release's version name, from the ready line. */
  version: string
  /** Everything the server wrote to stderr so far: its log. */
  log(): string
  stop(): Promise<void>
}

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed (every run passes `--json`), or null. */
  json: any
}

export class Workspace {
  private readonly children: ChildProcess[] = []
  private readonly sockets: ChatClient[] = []
  private readonly loads: Traffic[] = []
  private constructor(readonly dir: string) {}

  static async create(): Promise<Workspace> {
    return new Workspace(await mkdtemp(join(tmpdir(), 'relup-example-ts-')))
  }

  get storageUrl(): string {
    return `file://${join(this.dir, 'storage')}`
  }

  /** Start `node dist/server.js` as machine `machineId` and wait for its ready line. */
  async startServer(machineId: string): Promise<ExampleServer> {
    if (!existsSync(serverEntry))
      throw new Error(`${serverEntry} does not exist: build first (pnpm --filter @relup/example-ts... build)`)
    const child = spawn(process.execPath, [serverEntry], {
      env: {
        ...process.env,
        PORT: '0',
        RELUP_STORAGE: this.storageUrl,
        RELUP_BASE_REF: BASE_REF,
        RELUP_MACHINE_ID: machineId,
        RELUP_STATE_DIR: join(this.dir, 'state', machineId),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.children.push(child)
    let log = ''
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    const ready = await new Promise<{ port: number; version: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line within 20 s\n${log}`)), 20_000)
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer)
        resolve(JSON.parse(line))
      })
      void exited.then((code) =>
        reject(new Error(`the server exited (code ${code}) before it was ready\n${log}`)),
      )
    })
    child.stdout!.resume()
    return {
      ...ready,
      url: `http://127.0.0.1:${ready.port}`,
      log: () => log,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
        await exited
      },
    }
  }

  /** `relup publish <dir> --app example-ts --storage … --base-ref … --json` with the real binary. */
  publish(dir: string, version: string): Promise<CliRun> {
    const args = ['publish', dir, '--app', 'example-ts', '--storage', this.storageUrl, '--base-ref', BASE_REF]
    args.push('--version', version, '--expect', '1', '--timeout', '20s', '--json')
    const child = spawn(process.execPath, [cliEntry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    return new Promise((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code) => {
        clearTimeout(timer)
        let json: any = null
        try {
          json = JSON.parse(stdout)
        } catch {}
        resolve({ code, stdout, stderr, json })
      })
    })
  }

  async connect(server: ExampleServer): Promise<ChatClient> {
    const client = await ChatClient.connect(`ws://127.0.0.1:${server.port}/ws`)
    this.sockets.push(client)
    return client
  }

  /** HTTP load on `server` until `stop()` (or the clean-up). */
  startTraffic(server: ExampleServer, room: string): Traffic {
    const traffic = startTraffic(server, room)
    this.loads.push(traffic)
    return traffic
  }

  async cleanUp(): Promise<void> {
    await Promise.all(this.loads.map((traffic) => traffic.stop()))
    for (const socket of this.sockets) socket.close()
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(timer)
      }),
    )
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** A WebSocket client of the chat that keeps every frame it receives. */
export class ChatClient {
  readonly frames: any[] = []
  closed = false
  private readonly checks = new Set<() => void>()

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()))
      for (const check of [...this.checks]) check()
    })
    socket.on('close', () => {
      this.closed = true
      for (const check of [...this.checks]) check()
    })
  }

  static async connect(url: string): Promise<ChatClient> {
    const socket = new WebSocket(url)
    // Listening before 'open': the server's first frame can come with the upgrade response.
    const client = new ChatClient(socket)
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return client
  }

  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame))
  }

  /** The first frame (received or still to come) that matches; rejects after `timeoutMs` or on close. */
  waitFor(predicate: (frame: any) => boolean, timeoutMs = 5000): Promise<any> {
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        this.checks.delete(check)
        settle()
      }
      const check = () => {
        const found = this.frames.find(predicate)
        if (found) finish(() => resolve(found))
        else if (this.closed) finish(() => reject(new Error(`the socket closed; frames: ${this.describe()}`)))
      }
      const timer = setTimeout(
        () =>
          finish(() => reject(new Error(`no matching frame in ${timeoutMs} ms; frames: ${this.describe()}`))),
        timeoutMs,
      )
      this.checks.add(check)
      check()
    })
  }

  close(): void {
    this.socket.close()
  }

  private describe(): string {
    return JSON.stringify(this.frames)
  }
}

export async function getJson(server: ExampleServer, path: string, init?: RequestInit) {
  const response = await fetch(`${server.url}${path}`, init)
  const text = await response.text()
  let body: any = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: response.status, body }
}

export const postJson = (server: ExampleServer, path: string, body: unknown) =>
  getJson(server, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

export interface TrafficReport {
  requests: number
  /** Every request that did not answer 200, or did not answer at all. */
  failures: string[]
  /** `/api/stats` versions seen, in order, without repeats. */
  versions: string[]
}

export interface Traffic {
  /** The report so far (it grows while the loops run). */
  report: TrafficReport
  /** Stop the loops; resolves with the report once every request in flight has answered. */
  stop(): Promise<TrafficReport>
}

/**
 * `workers` loops of GET /api/rooms/<room> (through the chat unit) and GET /api/stats, until
 * `stop()`, bounded to 20,000 requests.
 */
function startTraffic(server: ExampleServer, room: string, workers = 4): Traffic {
  const report: TrafficReport = { requests: 0, failures: [], versions: [] }
  let stopped = false
  const request = async (path: string) => {
    report.requests += 1
    try {
      const { status, body } = await getJson(server, path)
      if (status !== 200) report.failures.push(`${path}: ${status} ${JSON.stringify(body)}`)
      return body
    } catch (error) {
      report.failures.push(`${path}: ${(error as Error).message}`)
      return null
    }
  }
  const loop = async () => {
    while (!stopped && report.requests < 20_000) {
      await request(`/api/rooms/${room}`)
      const stats = await request('/api/stats')
      if (stats && report.versions.at(-1) !== stats.version) report.versions.push(stats.version)
    }
  }
  const running = Promise.all(Array.from({ length: workers }, loop))
  return {
    report,
    async stop(): Promise<TrafficReport> {
      stopped = true
      await running
      return report
    },
  }
}
