/** Run the real `relup` binary (packages/cli/dist/relup.js) as a child process. */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cliEntry, repoDir } from './paths.js'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON when `--json` was passed and it parses, else null. */
  json: any
  durationMs: number
}

export async function runRelupCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<CliRun> {
  if (!existsSync(cliEntry))
    throw new Error(`${cliEntry} does not exist: build it first (pnpm --filter @relup/cli build)`)
  const started = performance.now()
  const child = spawn(process.execPath, [cliEntry, ...args], {
    cwd: options.cwd ?? repoDir,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.signal ? { signal: options.signal, killSignal: 'SIGKILL' as const } : {}),
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const timeoutMs = options.timeoutMs ?? 60_000
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => {
      // An abort kills the child; 'close' still follows with its exit.
      if (error.name !== 'AbortError') reject(error)
    })
    child.once('close', (exitCode) => resolve(exitCode))
  }).finally(() => clearTimeout(timer))
  let json: any = null
  if (args.includes('--json')) {
    try {
      json = JSON.parse(stdout)
    } catch {}
  }
  return { code, stdout, stderr, json, durationMs: performance.now() - started }
}
