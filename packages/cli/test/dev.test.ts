// `relup dev` as a developer runs it: the built bin supervising a real app (a cold entry .mjs with
// startRelup + createSwapEngine over a hot directory of TypeScript modules, an HTTP server, an
// SSE stream and a unit with state), files saved while it serves.

import { appendFile, mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { get, type IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { onCleanup, tempDir } from './helpers.js'
import { type RelupProcess, spawnRelup, until } from './processes.js'

const packages = fileURLToPath(new URL('../..', import.meta.url))

const SERVER = `import { createServer } from 'node:http'
import { startRelup } from '@relup/poller'
import { memoryStorage } from '@relup/storage-memory'
import { createSwapEngine } from '@relup/swap'

const engine = await createSwapEngine({ releaseDir: new URL('./hot', import.meta.url).pathname })
const relup = await startRelup({ app: 'dev-test', storage: memoryStorage(), engine })
const answer = engine.module('routes.ts')
const counter = engine.unit('counter')
const streams = new Set()
const server = createServer(async (req, res) => {
  if (req.url === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    streams.add(res)
    req.on('close', () => streams.delete(res))
    return
  }
  if (req.url === '/crash') {
    res.end('bye')
    setTimeout(() => process.exit(3), 10)
    return
  }
  const count = await counter.hit()
  res.end(JSON.stringify({ answer: answer(), count, pid: process.pid }))
})
// Every open stream hears the current answer: the same connection sees the new code.
setInterval(() => { for (const res of streams) res.write('data: ' + answer() + '\\n\\n') }, 50).unref()
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port, pid: process.pid })))
process.on('SIGTERM', async () => {
  server.closeAllConnections()
  server.close()
  await relup.stop()
  await engine.close()
  process.exit(0)
})
`

const routes = (body: string) => `export default function answer(): string {\n  ${body}\n}\n`

const counterUnit = (step: number) => `interface State { count: number }

export const units = {
  counter: {
    init: (): State => ({ count: 0 }),
    create: (ctx: { state: State }) => ({ hit: (): number => (ctx.state.count += ${step}) }),
  },
}
`

/** The app in a directory of its own, its packages linked from the workspace as an install would. */
async function writeApp(): Promise<string> {
  const dir = await tempDir('dev-app')
  await mkdir(join(dir, 'hot'))
  await mkdir(join(dir, 'node_modules', '@relup'), { recursive: true })
  for (const name of ['poller', 'swap', 'storage-memory'])
    await symlink(join(packages, name), join(dir, 'node_modules', '@relup', name))
  await writeFile(join(dir, 'server.mjs'), SERVER)
  await writeFile(join(dir, 'hot', 'package.json'), '{ "type": "module" }\n')
  await writeFile(join(dir, 'hot', 'routes.ts'), routes("return 'v1'"))
  await writeFile(join(dir, 'hot', 'counter.ts'), counterUnit(1))
  return dir
}

interface App {
  dir: string
  tmp: string
  relup: RelupProcess
  /** The port the app's latest process listens on. */
  port(): number | null
}

async function devApp(...flags: string[]): Promise<App> {
  const dir = await writeApp()
  const tmp = await tempDir('dev-tmp')
  const relup = spawnRelup(['dev', '--hot', 'hot', ...flags, '--', process.execPath, 'server.mjs'], {
    cwd: dir,
    env: { TMPDIR: tmp },
  })
  const started = () =>
    relup
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{"port"'))
      .map((line) => JSON.parse(line) as { port: number; pid: number })
  const port = () => started().at(-1)?.port ?? null
  onCleanup(async () => {
    relup.child.kill('SIGTERM')
    const stopped = await Promise.race([
      relup.exited,
      new Promise((resolve) => setTimeout(resolve, 5000, null)),
    ])
    if (stopped === null) relup.child.kill('SIGKILL')
    for (const { pid } of started()) {
      try {
        process.kill(pid, 'SIGKILL') // an app left behind by a supervisor that did not stop
      } catch {}
    }
  })
  await until(async () => port(), `the app to listen\n${relup.stderr()}`)
  return { dir, tmp, relup, port }
}

interface Answer {
  answer: string
  count: number
  pid: number
}

function ask(app: App): Promise<Answer> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: app.port()!, path: '/', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve(JSON.parse(body) as Answer))
    }).on('error', reject)
  })
}

/** Ask until the answer passes `check` (the reload is asynchronous: no timing is asserted). */
const answerWhere = (app: App, check: (a: Answer) => boolean, what: string) =>
  until(async () => {
    const answer = await ask(app).catch(() => null)
    return answer && check(answer) ? answer : null
  }, `${what}\n${app.relup.stderr()}`)

/** An open SSE stream: the events it received, and whether the connection ended. */
function openStream(app: App) {
  const events: string[] = []
  let ended = false
  let response: IncomingMessage | null = null
  const request = get({ host: '127.0.0.1', port: app.port()!, path: '/events', agent: false }, (res) => {
    response = res
    res.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.startsWith('data: ')) events.push(line.slice(6))
    })
    res.on('close', () => (ended = true))
  })
  request.on('error', () => (ended = true))
  onCleanup(async () => request.destroy())
  return {
    events,
    ended: () => ended,
    opened: () => until(async () => response !== null && events.length > 0, 'the event stream to open'),
  }
}

const save = (app: App, file: string, text: string) => writeFile(join(app.dir, 'hot', file), text)

describe('relup dev (real processes: the built bin supervising an app)', () => {
  it('a save reloads the hot module in place: the new answer, the counter and the SSE connection kept', async () => {
    const app = await devApp()
    for (let i = 0; i < 3; i++) await ask(app)
    const before = await ask(app)
    expect(before).toMatchObject({ answer: 'v1', count: 4 })
    const stream = openStream(app)
    await stream.opened()

    await save(app, 'routes.ts', routes("return 'v2'"))
    const after = await answerWhere(app, (a) => a.answer === 'v2', 'the app to answer v2')
    expect(after.pid).toBe(before.pid)
    expect(after.count).toBeGreaterThan(before.count) // the unit's state went on
    await until(async () => stream.events.includes('v2'), 'the open stream to carry v2')
    expect(stream.ended()).toBe(false)
    expect(app.relup.stderr()).toMatch(
      /relup dev: reloaded hot\/routes\.ts in [\d.]+ ms \(pause [\d.]+ ms; no unit migrated\)/,
    )

    // The unit's own code changes: its state is migrated to the new version, not reset.
    const counted = (await ask(app)).count
    await save(app, 'counter.ts', counterUnit(100))
    // A reset counter would answer 100 at most: never counted + 100.
    const migrated = await answerWhere(app, (a) => a.count >= counted + 100, 'the counter to go on by 100s')
    expect(migrated.pid).toBe(before.pid)
    expect(app.relup.stderr()).toMatch(
      /relup dev: reloaded hot\/counter\.ts in [\d.]+ ms \(pause [\d.]+ ms; migrated: counter\)/,
    )
    expect(stream.ended()).toBe(false)
  }, 60_000)

  it('a syntax error prints file:line:column and the old code keeps answering; fixing it resumes', async () => {
    const app = await devApp()
    await ask(app)
    await save(app, 'routes.ts', routes("return 'v2' +* 1"))
    await until(async () => /still serving/.test(app.relup.stderr()), 'the failure to be reported')
    expect(app.relup.stderr()).toMatch(
      /relup dev: hot\/routes\.ts:2:\d+: SyntaxError: [^\n]+ \(prepare\); still serving base\n/,
    )
    expect(await ask(app)).toMatchObject({ answer: 'v1', count: 2 })

    await save(app, 'routes.ts', routes("return 'v3'"))
    const fixed = await answerWhere(app, (a) => a.answer === 'v3', 'the fixed file to load')
    expect(fixed.count).toBeGreaterThan(2)
    expect(app.relup.stderr()).toMatch(/relup dev: reloaded hot\/routes\.ts in/)
  }, 60_000)

  it('a change of a --watch file restarts the app: a new process, its state lost, and it says so', async () => {
    const app = await devApp('--watch', 'server.mjs')
    const before = await ask(app)
    await ask(app)
    await appendFile(join(app.dir, 'server.mjs'), '// changed\n')
    const after = await answerWhere(app, (a) => a.pid !== before.pid, 'a new process')
    expect(after.count).toBe(1)
    expect(app.relup.stderr()).toMatch(
      /relup dev: server\.mjs changed; restarting the app \(its state and connections are lost\)/,
    )
  }, 60_000)

  it('an app that crashes after it started is started again', async () => {
    const app = await devApp()
    const before = await ask(app)
    await new Promise((resolve) => setTimeout(resolve, 2100)) // past the startup-crash window
    const crashed = new Promise((resolve) =>
      get({ host: '127.0.0.1', port: app.port()!, path: '/crash', agent: false }, resolve),
    )
    await crashed
    const after = await answerWhere(app, (a) => a.pid !== before.pid, 'the restarted app')
    expect(after.count).toBe(1)
    expect(app.relup.stderr()).toMatch(/relup dev: the app crashed \(code 3\); restarting it/)
  }, 60_000)

  it('SIGTERM reaches the app; relup dev exits with its code and leaves no snapshot behind', async () => {
    const app = await devApp()
    await save(app, 'routes.ts', routes("return 'v2'"))
    await answerWhere(app, (a) => a.answer === 'v2', 'the app to answer v2')
    expect((await readdir(app.tmp)).some((name) => name.startsWith('relup-dev-'))).toBe(true)
    app.relup.child.kill('SIGTERM')
    expect(await app.relup.exited).toEqual({ code: 0, signal: null })
    expect(await readdir(app.tmp)).toEqual([])
  }, 60_000)
})
