// The demo under `relup run`: a cold upgrade (SIGUSR2: a new process of the same command beside the
// old one, the socket kept) while requests flow and a page's stream is open; then a hot upgrade
// on the new process, and another cold upgrade that boots v1 and replays the hot upgrade.
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { parseMachineRecord, readDocument, relupKeys } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cliEntry, serverEntry } from '../src/paths.js'
import { EventStream } from '../src/sseClient.js'
import { describeRun, Workspace } from './helpers.js'

let work: Workspace
let run: ChildProcess | null = null
beforeEach(async () => {
  work = await Workspace.create()
})
afterEach(async () => {
  run?.kill('SIGKILL')
  await work.cleanUp()
})

interface Event {
  type: string
  pid?: number
  sockets?: { actualPort: number }[]
  result?: { status: string; pid?: number }
}

async function relupRun() {
  const child = spawn(
    process.execPath,
    [cliEntry, 'run', '--port', '127.0.0.1:0', '--json', '--', process.execPath, serverEntry],
    {
      env: {
        ...process.env,
        RELUP_STORAGE: work.storageUrl,
        RELUP_APP: 'demo',
        RELUP_BASE_REF: 'demo-image-1',
        RELUP_POLL_INTERVAL: '250',
        // One state directory per process: two overlap during a cold upgrade.
        RELUP_STATE_DIR: undefined,
        RELUP_MACHINE_ID: undefined,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  run = child
  const events: Event[] = []
  let buffer = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk
    const lines = buffer.split('\n')
    buffer = lines.pop() ?? ''
    for (const line of lines) if (line.startsWith('{')) events.push(JSON.parse(line) as Event)
  })
  child.stderr.resume()
  const until = async <T>(what: string, find: () => T | undefined, timeout = 20_000): Promise<T> => {
    const end = Date.now() + timeout
    for (;;) {
      const found = find()
      if (found) return found
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  await until('the first process', () => events.find((e) => e.type === 'ready'))
  const origin = `http://127.0.0.1:${events.find((e) => e.type === 'listening')?.sockets?.[0]?.actualPort}`
  const cutovers = () => events.filter((e) => e.type === 'cutover')
  const coldUpgrade = async () => {
    const before = cutovers().length
    child.kill('SIGUSR2')
    return until('the cutover', () => cutovers()[before])
  }
  return { child, origin, coldUpgrade }
}

const json = async (origin: string, path: string, method = 'GET') => {
  const response = await fetch(`${origin}${path}`, { method })
  if (response.status !== 200) throw new Error(`${method} ${path}: ${response.status}`)
  return (await response.json()) as Record<string, unknown>
}

describe('the demo under relup run', () => {
  it('takes cold upgrades under load: no failed request, the page reconnects, the counter continues, hot upgrades still apply', async () => {
    const { child, origin, coldUpgrade } = await relupRun()
    for (let i = 0; i < 3; i++) await json(origin, '/api/increment', 'POST')
    const first = await json(origin, '/api/version')

    const page = await EventStream.open(`${origin}/events`)
    await page.waitFor((e) => e.event === 'hello')
    let stop = false
    let ok = 0
    const failures: string[] = []
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) {
          try {
            await json(origin, '/api/increment', 'POST')
            ok++
          } catch (error) {
            failures.push((error as Error).message)
          }
        }
      }),
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    const cutover = await coldUpgrade()
    await new Promise((resolve) => setTimeout(resolve, 300))
    stop = true
    await load
    expect(cutover.result?.status).toBe('completed')
    expect(failures).toEqual([])
    // The old process ended the page's stream cleanly; a new one reaches the new process.
    await page.ended
    const again = await EventStream.open(`${origin}/events`)
    const hello = await again.waitFor((e) => e.event === 'hello')
    again.close()
    const second = await json(origin, '/api/version')
    expect(second.machineId).not.toBe(first.machineId)
    expect((hello.data as { machineId: string }).machineId).toBe(second.machineId)
    expect((await json(origin, '/api/counter')).count).toBe(3 + ok)

    // A hot upgrade lands on the new process; the next cold upgrade boots v1 and replays it.
    const published = await work.publish('v2')
    expect(published.code, describeRun(published)).toBe(0)
    expect((await json(origin, '/api/version')).version).toBe('v2')
    await coldUpgrade()
    const third = await json(origin, '/api/version')
    expect(third).toMatchObject({ version: 'v2' })
    expect(third.machineId).not.toBe(second.machineId)
    expect((await json(origin, '/api/counter')).count).toBe(3 + ok)
    // Its record says it runs under relup run, which (without --app) does not follow cold releases.
    const storage = fsStorage({ dir: join(work.dir, 'storage') })
    const record = await readDocument(
      storage,
      relupKeys('demo').machine(String(third.machineId)),
      parseMachineRecord,
    )
    await storage.close?.()
    expect(record.status === 'ok' && record.document.supervised).toEqual({
      followsColdReleases: false,
      coldReleaseId: null,
    })

    child.kill('SIGTERM')
    const code = await new Promise((resolve) => child.once('exit', resolve))
    expect(code).toBe(0)
  }, 60_000)
})
