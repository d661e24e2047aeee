/** The README's main command: `npm start` runs this tour. It must pass, and fail loudly when it cannot. */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { demoDir, repoDir } from '../src/paths.js'

const keptDirs: string[] = []
const running = new Set<ChildProcess>()

afterEach(async () => {
  // A tour still running here means the test gave up on it: SIGTERM makes it stop its server.
  for (const child of running) await stop(child)
  for (const dir of keptDirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000)
  await exited
  clearTimeout(timer)
}

function runTour(env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(demoDir, 'dist', 'tour.js')], {
      cwd: demoDir,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    running.add(child)
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
    })
    const timer = setTimeout(() => void stop(child), 25_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      running.delete(child)
      resolve({ code, output })
    })
  })
}

/** The tour's storage directory, from its second line. */
const workDirOf = (output: string) => {
  const match = output.match(/storage: (\.relup-demo\/tour-[^/]+)\/storage/)
  return match ? join(repoDir, match[1]!) : null
}

describe('the tour', () => {
  it('upgrades a live server to v2 and v3, shows what was kept, and cleans up after itself', async () => {
    const { code, output } = await runTour()
    const workDir = workDirOf(output)
    if (workDir) keptDirs.push(workDir)
    expect(code, output).toBe(0)
    expect(output).toContain('GET /api/hello → 404')
    expect(output).toMatch(/published v2 in [\d.]+ s; tour-machine-1 reported: completed, pause [\d.]+ ms/)
    expect(output).toContain('GET / → "relup demo, hot-upgraded v2"')
    expect(output).toContain('GET /api/hello → {"hello":"from v2"}')
    expect(output).toContain('GET /api/counter → {"count":3,"version":"v2"}: the count is kept')
    expect(output).toContain('after: {"value":4,"changedAt":null}')
    expect(output).toMatch(
      /the same SSE connection, never reconnected: \d+ events \(hello, counter ×3, version v2, counter, version v3, counter\)/,
    )
    expect(output).toContain('server stopped with SIGTERM (exit 0)')
    expect(output).toContain('npm run demo')
    expect(output).toContain(
      'node packages/cli/dist/relup.js publish apps/demo/hot/v3 --app demo --storage file://.relup-demo/storage --version v3',
    )
    expect(workDir).not.toBeNull()
    expect(existsSync(workDir!)).toBe(false)
  })

  it('exits 1 with the server log when a check fails, and stops the server it started', async () => {
    // A server that boots on v2 breaks the tour's very first check (it expects v1).
    const { code, output } = await runTour({ RELUP_HOT_DIR: join(demoDir, 'hot', 'v2') })
    const workDir = workDirOf(output)
    if (workDir) keptDirs.push(workDir)
    expect(code, output).toBe(1)
    expect(output).toContain('✗ expected v1 at start, got v2')
    expect(output).toContain('the tour failed; its storage and state are kept in .relup-demo/tour-')
    const pid = Number(output.match(/the server log \(pid (\d+), stderr\)/)?.[1])
    expect(pid, output).toBeGreaterThan(0)
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }))
  })
})
