import { Writable } from 'node:stream'
import { fakeFleet, testDirs } from '@relup/testkit'
import { afterEach } from 'vitest'
import { run } from '../src/main.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
})
export const onCleanup = (fn: () => Promise<unknown>) => cleanups.push(fn)

export const { tempDir, hotDir } = testDirs(onCleanup, 'cli')

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
export const { keys, bootPointer, pointerOf, announceMachine, simulateMachines } = fakeFleet(APP, onCleanup)
