// A real process killed between extraction and the marker write converges on restart.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { initialPointer, parseMachineResult, readDocument, relupKeys, writeDocument } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { describe, expect, it } from 'vitest'
import { readMarker } from '../src/index.js'
import { APP, publishDirect, tempDir, writeRelease } from './helpers.js'

const machineScript = join(import.meta.dirname, 'fixtures', 'machine.mjs')

function runMachine(
  args: string[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [machineScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

describe('crash safety', () => {
  it('a process killed after the swap but before the marker write converges when it restarts', async () => {
    const storageDir = await tempDir('storage')
    const storage = fsStorage({ dir: storageDir })
    const keys = relupKeys(APP)
    await writeDocument(storage, keys.current, initialPointer(APP, 'image-1', { setBy: 'test' }))
    const hot = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    const baseDir = await writeRelease(await tempDir(), 'base')
    const stateDir = join(await tempDir('state'), 'm1')

    const crashed = await runMachine([storageDir, baseDir, stateDir, 'crash-after-swap'])
    expect(crashed.signal).toBe('SIGKILL')
    // It extracted the release and swapped, but died before claiming it: no marker, and no result
    // (a quick download is not acknowledged with `pending`; the terminal result never came).
    expect(await readMarker(stateDir)).toBeNull()
    expect(existsSync(join(stateDir, 'releases', hot.upgradeId, 'counter.js'))).toBe(true)
    const none = await readDocument(storage, keys.result(hot.upgradeId, 'm1'), parseMachineResult)
    expect(none.status).toBe('not-found')

    const restarted = await runMachine([storageDir, baseDir, stateDir])
    expect(restarted.code, restarted.stderr).toBe(0)
    const report = JSON.parse(restarted.stdout.trim())
    expect(report.version).toBe('v2')
    expect(report.counter).toMatchObject({ version: 'v2', migratedFrom: ['base'] })
    expect(report.vsn).toMatchObject({ version: 'v2', upgradeId: hot.upgradeId })
    expect(await readMarker(stateDir)).toMatchObject({ upgradeId: hot.upgradeId, version: 'v2' })
    const completed = await readDocument(storage, keys.result(hot.upgradeId, 'm1'), parseMachineResult)
    expect(completed.status === 'ok' && completed.document).toMatchObject({ status: 'completed', attempt: 1 })
    expect(await readdir(join(stateDir, 'releases'))).toEqual([hot.upgradeId])
  })
})
