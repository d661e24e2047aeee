import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import {
  fingerprint,
  initialPointer,
  type MachineRecord,
  type MachineResult,
  parseCurrentPointer,
  readDocument,
  relupKeys,
  type Storage,
  writeDocument,
} from '@relup/core'
import { afterEach } from 'vitest'
import { run } from '../src/main.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
})
export const onCleanup = (fn: () => Promise<unknown>) => cleanups.push(fn)

export async function tempDir(label = 'cli'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `relup-${label}-`))
  onCleanup(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export async function hotDir(version: string, extra: Record<string, string> = {}): Promise<string> {
  const dir = await tempDir('hot')
  await writeFile(join(dir, 'handler.js'), `module.exports = () => ${JSON.stringify(version)}\n`)
  for (const [name, content] of Object.entries(extra)) {
    await mkdir(join(dir, name, '..'), { recursive: true })
    await writeFile(join(dir, name), content)
  }
  return dir
}

class Capture extends Writable {
  text = ''
  isTTY = false
  override _write(chunk: Buffer, _encoding: string, callback: () => void) {
    this.text += chunk.toString()
    callback()
  }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

let storageCounter = 0
/** A fresh in-process memory store for one test, as a URL every `cli()` call of the test shares. */
export const freshMemoryUrl = () => `memory:cli-test-${process.pid}-${++storageCounter}`

export async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  cwd = process.cwd(),
): Promise<CliResult> {
  const stdout = new Capture()
  const stderr = new Capture()
  const code = await run(argv, { stdout, stderr, env: { ...env }, cwd })
  return { code, stdout: stdout.text, stderr: stderr.text }
}

export const APP = 'chat'
export const keys = relupKeys(APP)

export async function bootPointer(storage: Storage, baseRef = 'image-1') {
  await writeDocument(storage, keys.current, initialPointer(APP, baseRef, { setBy: 'machine:test' }), {
    ifNoneMatch: '*',
  })
}

export async function pointerOf(storage: Storage) {
  const read = await readDocument(storage, keys.current, parseCurrentPointer)
  if (read.status !== 'ok') throw new Error('no pointer')
  return read.document
}

export async function announceMachine(
  storage: Storage,
  machineId: string,
  baseRef = 'image-1',
  extra: Partial<MachineRecord> = {},
) {
  const now = new Date().toISOString()
  const record: MachineRecord = {
    schema: 1,
    app: APP,
    machineId,
    region: 'ams',
    baseRef,
    hotRef: null,
    version: null,
    upgradeId: null,
    fingerprint: fingerprint(baseRef, null),
    startedAt: now,
    updatedAt: now,
    lastResult: null,
    heartbeatMs: 60_000,
    stoppedAt: null,
    ...extra,
  }
  await writeDocument(storage, keys.machine(machineId), record)
}

const COMPLETED_STATS = {
  modulesReloaded: 1,
  moduleNames: ['handler.js'],
  unitsMigrated: 0,
  unitNames: [],
  unitsFailed: 0,
  pauseMs: 0.2,
  totalMs: 12,
}

/** An upgrade that committed while the old `counter` instance failed to dispose. */
const DEGRADED_STATS = {
  ...COMPLETED_STATS,
  unitsMigrated: 1,
  unitNames: ['counter'],
  unitsFailed: 1,
  degraded: true,
  disposeErrors: [{ unit: 'counter', version: 'v1', message: 'socket still open' }],
}

export async function writeResult(storage: Storage, result: MachineResult) {
  await writeDocument(storage, keys.result(result.upgradeId, result.machineId), result)
}

/**
 * A stand-in for machines: it watches the pointer and writes each machine's results the way the
 * runtime does (pending, then completed or failed). The real runtime is exercised end to end in
 * the fleet tests of apps/demo.
 */
export function simulateMachines(
  storage: Storage,
  machines: Record<string, 'complete' | 'degraded' | 'fail' | 'silent' | 'stuck'>,
): () => void {
  let stopped = false
  const handled = new Set<string>()
  const loop = async () => {
    while (!stopped) {
      const read = await readDocument(storage, keys.current, parseCurrentPointer).catch(() => null)
      const hot = read?.status === 'ok' ? read.document.hot : null
      if (hot && !handled.has(hot.upgradeId)) {
        handled.add(hot.upgradeId)
        for (const [machineId, behaviour] of Object.entries(machines)) {
          if (behaviour === 'silent') continue
          const base = {
            schema: 1 as const,
            upgradeId: hot.upgradeId,
            machineId,
            region: 'ams',
            baseRef: hot.baseRef,
            version: hot.version,
            attempt: 1,
            startedAt: new Date().toISOString(),
          }
          await writeResult(storage, {
            ...base,
            status: 'pending',
            finishedAt: null,
            stats: null,
            error: null,
          })
          if (behaviour === 'stuck') continue
          const finishedAt = new Date().toISOString()
          await writeResult(
            storage,
            behaviour === 'fail'
              ? {
                  ...base,
                  status: 'failed',
                  finishedAt,
                  stats: null,
                  error: {
                    code: 'ERR_RELUP_UPGRADE_FAILED',
                    message: `${machineId} could not evaluate handler.js`,
                    phase: 'prepare',
                  },
                }
              : {
                  ...base,
                  status: 'completed',
                  finishedAt,
                  stats: behaviour === 'degraded' ? DEGRADED_STATS : COMPLETED_STATS,
                  error: null,
                },
          )
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  void loop()
  const stop = () => {
    stopped = true
  }
  onCleanup(async () => stop())
  return stop
}
