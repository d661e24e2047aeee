import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { onCleanup } from './helpers.js'
import { type RelupProcess, spawnRelup, until } from './processes.js'

const APP = fileURLToPath(new URL('./fixtures/supervised-app.mjs', import.meta.url))

interface Event {
  type: string
  pid?: number
  sockets?: { actualPort: number }[]
  result?: { status: string; pid?: number }
}

const eventsOf = (run: RelupProcess): Event[] =>
  run
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Event)

async function startRun(): Promise<{ run: RelupProcess; origin: string }> {
  const run = spawnRelup([
    'run',
    '--port',
    '127.0.0.1:0',
    '--drain-timeout',
    '3000',
    '--json',
    '--',
    process.execPath,
    APP,
  ])
  onCleanup(async () => {
    run.child.kill('SIGKILL')
  })
  const ready = await until(
    async () => eventsOf(run).find((e) => e.type === 'ready'),
    'the app to be ready',
    10_000,
  )
  expect(ready.pid).toBeGreaterThan(0)
  const port = eventsOf(run).find((e) => e.type === 'listening')?.sockets?.[0]?.actualPort
  return { run, origin: `http://127.0.0.1:${port}` }
}

const answer = async (origin: string, path = '/', method = 'GET') =>
  (await (await fetch(`${origin}${path}`, { method })).json()) as { pid: number; counter: number }

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('relup run', () => {
  it('on SIGTERM drains the app (its in-flight request finishes) and exits 0', async () => {
    const { run, origin } = await startRun()
    const { pid } = await answer(origin)
    const slow = answer(origin, '/slow')
    await new Promise((resolve) => setTimeout(resolve, 100))
    run.child.kill('SIGTERM')
    expect((await slow).pid).toBe(pid)
    expect((await run.exited).code).toBe(0)
    expect(alive(pid)).toBe(false)
  })

  it('on SIGUSR2 replaces the app with a new process of the command, the counter kept', async () => {
    const { run, origin } = await startRun()
    await answer(origin, '/inc', 'POST')
    const before = await answer(origin, '/inc', 'POST')
    run.child.kill('SIGUSR2')
    const cutover = await until(
      async () => eventsOf(run).find((e) => e.type === 'cutover'),
      'the cutover',
      10_000,
    )
    expect(cutover.result?.status).toBe('completed')
    const after = await until(async () => {
      const now = await answer(origin)
      return now.pid !== before.pid && now.counter === before.counter && now
    }, 'the counter on the new process')
    expect(after.pid).toBe(cutover.result?.pid)
    expect(alive(before.pid)).toBe(false)
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  })

  it('says what is missing without a command or a port', async () => {
    const noCommand = spawnRelup(['run', '--port', '3000'])
    expect((await noCommand.exited).code).toBe(2)
    expect(noCommand.stderr()).toMatch(/needs the command/)
    const noPort = spawnRelup(['run', '--', 'node', APP])
    expect((await noPort.exited).code).toBe(2)
    expect(noPort.stderr()).toMatch(/--port/)
  })
})
