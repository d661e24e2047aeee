// Machines in their own processes (what a supervisor sees), on the filesystem storage and on a
// real S3-compatible server (s3rver), with a view of the same storage for the test itself.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import {
  type MachineRecord,
  type MachineResult,
  parseMachineRecord,
  parseMachineResult,
  readDocument,
  relupKeys,
  type Storage,
} from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { s3Storage } from '@relup/storage-s3'
import { type S3rverServer, s3rverEnv, startS3rver } from '@relup/testkit'
import { afterAll } from 'vitest'
import { APP, onCleanup, tempDir } from './helpers.js'

export const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name)

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ChildRun {
  child: ChildProcess
  /** The JSON lines printed on stdout so far. */
  lines(): Record<string, unknown>[]
  stdout(): string
  stderr(): string
  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
  exited: Promise<Exit>
  /** SIGTERM (or `signal`), and the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

/** Run `script` with Node, with `env` added to this process's environment. Killed at cleanup. */
export function runNode(script: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): ChildRun {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const lines = () =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return exited
  }
  onCleanup(() => stop('SIGKILL'))
  return {
    child,
    lines,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    stop,
    async waitForLine(match, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = lines().find(match)
        if (found) return found
        const ended = child.exitCode !== null || child.signalCode !== null
        if (ended || Date.now() > deadline) {
          throw new Error(
            `${ended ? `the process exited (${child.exitCode ?? child.signalCode})` : `timed out after ${timeoutMs} ms`} waiting for ${what}\nstdout: ${stdout}\nstderr: ${stderr}`,
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
}

/** Where machines keep their state, and how a child process opens the same storage. */
export interface ProcessBackend {
  storage: Storage
  /** `RELUP_TEST_STORAGE` and, for S3, the variables s3Storage() reads. */
  env: NodeJS.ProcessEnv
}

let s3rver: Promise<S3rverServer> | null = null
let buckets = 0
afterAll(async () => {
  await (await s3rver)?.stop()
})

export function sharedS3rver(): Promise<S3rverServer> {
  s3rver ??= startS3rver()
  return s3rver
}

export function s3StorageFor(server: Pick<S3rverServer, 'endpoint'>, bucket: string): Storage {
  return s3Storage({
    bucket,
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  })
}

export const processBackends: [string, () => Promise<ProcessBackend>][] = [
  [
    'fs',
    async () => {
      const dir = await tempDir('storage')
      return { storage: fsStorage({ dir }), env: { RELUP_TEST_STORAGE: `fs:${dir}` } }
    },
  ],
  [
    's3rver',
    async () => {
      const server = await sharedS3rver()
      const bucket = `poller-${process.pid}-${++buckets}`
      await server.createBucket(bucket)
      const storage = s3StorageFor(server, bucket)
      onCleanup(async () => storage.close?.())
      return { storage, env: { RELUP_TEST_STORAGE: 's3', ...s3rverEnv(server, bucket) } }
    },
  ],
]

const keys = relupKeys(APP)

export async function machineRecord(
  storage: Storage,
  machineId: string,
  app = APP,
): Promise<MachineRecord | null> {
  const read = await readDocument(storage, relupKeys(app).machine(machineId), parseMachineRecord)
  return read.status === 'ok' ? read.document : null
}

export async function machineResult(
  storage: Storage,
  upgradeId: string,
  machineId: string,
): Promise<MachineResult | null> {
  const read = await readDocument(storage, keys.result(upgradeId, machineId), parseMachineResult)
  return read.status === 'ok' ? read.document : null
}
