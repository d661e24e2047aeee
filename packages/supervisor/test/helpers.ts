import { type AddressInfo, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import {
  type Release,
  runSupervisor,
  type Supervisor,
  type SupervisorEvent,
  type SupervisorOptions,
} from '../src/index.js'

export const APP = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url))

export function release(id: string, env: Record<string, string> = {}): Release {
  return { id, command: [process.execPath, APP], env: { APP_VERSION: id, ...env } }
}

export interface Running {
  supervisor: Supervisor
  events: SupervisorEvent[]
  origin: string
}

const running = new Set<Supervisor>()

export async function supervise(first: Release, options: Partial<SupervisorOptions> = {}): Promise<Running> {
  const events: SupervisorEvent[] = []
  const supervisor = await runSupervisor({
    release: first,
    ports: [{ port: 0, host: '127.0.0.1' }],
    readyTimeout: 5000,
    drainTimeout: 3000,
    stableAfter: 1000,
    restartDelay: { initial: 100, max: 1000 },
    onEvent: (event) => events.push(event),
    ...options,
  })
  running.add(supervisor)
  await supervisor.ready
  return { supervisor, events, origin: `http://127.0.0.1:${supervisor.sockets[0]?.actualPort}` }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()))
  running.clear()
}

export const agent = new Agent({ keepAliveTimeout: 10_000, connections: 4 })

export interface Answer {
  version: string
  pid: number
  counter: number
}

export async function get(origin: string, path = '/', method: 'GET' | 'POST' = 'GET'): Promise<Answer> {
  const { statusCode, body } = await request(`${origin}${path}`, { method, dispatcher: agent })
  const text = await body.text()
  if (statusCode !== 200) throw new Error(`${method} ${path}: ${statusCode} ${text}`)
  return JSON.parse(text) as Answer
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeout = 5000,
): Promise<T> {
  const end = Date.now() + timeout
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** Sends POST /inc as fast as `concurrency` keep-alive requests allow, until stopped. */
export function loadLoop(origin: string, concurrency = 4) {
  let stopped = false
  let ok = 0
  const failures: string[] = []
  const pids = new Set<number>()
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopped) {
      try {
        const answer = await get(origin, '/inc', 'POST')
        pids.add(answer.pid)
        ok++
      } catch (error) {
        failures.push((error as Error).message)
      }
    }
  })
  return {
    get ok() {
      return ok
    },
    failures,
    pids,
    async stop() {
      stopped = true
      await Promise.all(workers)
    },
  }
}

/** The value, or undefined when it throws. */
export async function attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn()
  } catch {
    return undefined
  }
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
