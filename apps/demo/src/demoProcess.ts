/**
 * Run the demo server as a real child process and wait for its ready line: what the tour, the
 * tests and anyone scripting the demo need.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { serverEntry } from './paths.js'

/** The one JSON line the server prints on stdout once it listens. */
export interface ReadyLine {
  ready: true
  port: number
  version: string
  machineId: string
  fingerprint: string
}

export interface DemoServer {
  ready: ReadyLine
  /** `http://127.0.0.1:<port>` */
  url: string
  child: ChildProcess
  /** Everything the server wrote to stderr so far (its log). */
  log(): string
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<number | null>
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code. Safe to call twice. */
  stop(timeoutMs?: number): Promise<number | null>
}

export interface StartOptions {
  /** Added to the parent's environment. `PORT` defaults to `0` (a free port). */
  env?: NodeJS.ProcessEnv
  /** How long to wait for the ready line. Default 20 s. */
  timeoutMs?: number
  /** Also copy the server's stderr here as it arrives. */
  onLog?: (chunk: string) => void
}

export async function startDemoServer(options: StartOptions = {}): Promise<DemoServer> {
  if (!existsSync(serverEntry)) {
    throw new Error(
      `${serverEntry} does not exist: build the demo first (pnpm --filter @relup/demo... build)`,
    )
  }
  const child = spawn(process.execPath, [serverEntry], {
    env: { ...process.env, PORT: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    log += chunk
    options.onLog?.(chunk)
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const stop = async (timeoutMs = 10_000): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(timer)
    }
    return exited
  }

  const timeoutMs = options.timeoutMs ?? 20_000
  const lines = createInterface({ input: child.stdout! })
  try {
    const ready = await new Promise<ReadyLine>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the demo server printed no ready line within ${timeoutMs} ms`)),
        timeoutMs,
      )
      lines.once('line', (line) => {
        clearTimeout(timer)
        try {
          const parsed = JSON.parse(line) as ReadyLine
          if (parsed.ready !== true || typeof parsed.port !== 'number') throw new Error('not a ready line')
          resolve(parsed)
        } catch {
          reject(new Error(`the demo server's first stdout line is not its ready line: ${line}`))
        }
      })
      void exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`the demo server exited (code ${code}) before it was ready`))
      })
    })
    // Later stdout lines (there should be none) must not block the child on a full pipe.
    child.stdout!.resume()
    return { ready, url: `http://127.0.0.1:${ready.port}`, child, log: () => log, exited, stop }
  } catch (error) {
    await stop(2000)
    throw new Error(`${(error as Error).message}\n--- server log ---\n${log}`)
  }
}
