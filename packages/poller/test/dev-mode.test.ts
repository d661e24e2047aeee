// Development mode in-process: startRelup without a base ref, with `dev`, over a real swap engine
// whose hot directory the test edits as a developer would.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { memoryStorage } from '@relup/storage-memory'
import { createSwapEngine, type SwapEngine } from '@relup/swap'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type DevOptions, Relup, type RelupEvents, silentLogger, startRelup } from '../src/index.js'
import { onCleanup, tempDir } from './helpers.js'

const routes = (answer: string) =>
  `export default function answer(): string {\n  return ${JSON.stringify(answer)}\n}\n`
const COUNTER = `export const units = {
  counter: {
    init: () => ({ count: 0 }),
    create: (ctx: { state: { count: number } }) => ({ hit: () => ++ctx.state.count }),
  },
}
`

interface DevApp {
  hot: string
  snapshots: string
  engine: SwapEngine
  relup: Relup
  lines: string[]
  reloads: RelupEvents['dev:reloaded'][0][]
  failures: RelupEvents['dev:failed'][0][]
  answer(): string
}

async function devApp(dev: Omit<DevOptions, 'write' | 'snapshotsDir'> = {}): Promise<DevApp> {
  const hot = join(await tempDir('dev-hot'), 'hot')
  await mkdir(hot)
  await writeFile(join(hot, 'package.json'), '{ "type": "module" }\n')
  await writeFile(join(hot, 'routes.ts'), routes('v1'))
  await writeFile(join(hot, 'counter.ts'), COUNTER)
  const snapshots = await tempDir('dev-snapshots')
  const engine = await createSwapEngine({ releaseDir: hot, logger: silentLogger })
  onCleanup(() => engine.close())
  const lines: string[] = []
  const relup = new Relup({
    app: 'shop',
    storage: memoryStorage(),
    engine,
    logger: silentLogger,
    dev: { snapshotsDir: snapshots, write: (line) => lines.push(line), ...dev },
  })
  const reloads: DevApp['reloads'] = []
  const failures: DevApp['failures'] = []
  relup.on('dev:reloaded', (event) => reloads.push(event))
  relup.on('dev:failed', (event) => failures.push(event))
  await relup.start()
  onCleanup(() => relup.stop())
  const answer = engine.module<() => string>('routes.ts')
  return { hot, snapshots, engine, relup, lines, reloads, failures, answer: () => answer() }
}

async function until<T>(
  check: () => T | undefined | null | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('development mode (no base ref, dev on)', () => {
  it('a save is loaded through the engine from a snapshot, never from the directory being edited', async () => {
    const app = await devApp()
    const counter = app.engine.unit<{ hit(): number }>('counter')
    await counter.hit()
    await writeFile(join(app.hot, 'routes.ts'), routes('v2'))
    await until(() => app.answer() === 'v2', 'v2')
    expect(app.engine.version).toBe('dev-1')
    expect(app.engine.releaseDir.startsWith(app.snapshots)).toBe(true)
    expect(app.reloads).toMatchObject([{ version: 'dev-1', fromVersion: 'base', changed: ['routes.ts'] }])
    expect(await counter.hit()).toBe(2) // the unit was not touched: its state is the same
    expect(app.lines.at(-1)).toMatch(
      /^relup dev: reloaded \S*routes\.ts in [\d.]+ ms \(pause [\d.]+ ms; no unit migrated\)$/,
    )
  })

  it('a burst of saves is one reload, and a save that changes nothing is none', async () => {
    const app = await devApp({ debounce: 300 })
    for (const answer of ['a', 'b', 'c']) await writeFile(join(app.hot, 'routes.ts'), routes(answer))
    await writeFile(join(app.hot, 'extra.ts'), 'export const extra = 1\n')
    await until(() => app.reloads.length > 0, 'a reload')
    await sleep(800)
    expect(app.reloads).toMatchObject([{ version: 'dev-1', changed: ['extra.ts', 'routes.ts'] }])
    expect(app.answer()).toBe('c')
    await writeFile(join(app.hot, 'routes.ts'), routes('c')) // same bytes
    await sleep(800)
    expect(app.reloads).toHaveLength(1)
    expect(app.engine.version).toBe('dev-1')
  })

  it('a save that cannot load reports file:line:column; the running version keeps serving, the next save loads', async () => {
    const app = await devApp()
    await writeFile(
      join(app.hot, 'routes.ts'),
      'export default function answer(): string {\n  return "v2" +* 1\n}\n',
    )
    await until(() => app.failures.length > 0, 'the failure')
    expect(app.failures[0]).toMatchObject({ version: 'dev-1', serving: 'base', location: 'routes.ts:2:16' })
    expect(app.lines.at(-1)).toMatch(
      /^relup dev: \S*routes\.ts:2:16: SyntaxError: .+ \(prepare\); still serving base$/,
    )
    expect(app.answer()).toBe('v1')
    await writeFile(
      join(app.hot, 'routes.ts'),
      'const boom = (): never => {\n  throw new Error("boom")\n}\nboom()\n',
    )
    await until(() => app.failures.length > 1, 'the second failure')
    expect(app.failures[1]).toMatchObject({ serving: 'base', location: 'routes.ts:2:9' })
    expect(app.lines.at(-1)).toMatch(/routes\.ts:2:9: Error: boom \(prepare\); still serving base$/)
    await writeFile(join(app.hot, 'routes.ts'), routes('v3'))
    await until(() => app.answer() === 'v3', 'v3')
    expect(app.engine.version).toBe('dev-1') // failed attempts take no version number
  })

  it('keeps only the snapshots the engine still loads files from', async () => {
    const app = await devApp()
    for (let i = 2; i <= 5; i++) {
      await writeFile(join(app.hot, 'routes.ts'), routes(`v${i}`))
      await until(() => app.answer() === `v${i}`, `v${i}`)
    }
    await until(() => app.reloads.length === 4, 'four reloads')
    const [root] = await readdir(app.snapshots)
    const snapshots = async () =>
      (await readdir(join(app.snapshots, root!))).map((name) => join(app.snapshots, root!, name))
    // Pruned after each reload: counter.ts never changed, so it still runs from the base (the hot
    // directory), and routes.ts from the last snapshot; no other snapshot is needed.
    const deadline = Date.now() + 5000
    while ((await snapshots()).length > 1 && Date.now() < deadline) await sleep(20)
    expect(await snapshots()).toEqual([app.engine.releaseDir])
    expect(app.engine.releaseDirsInUse().sort()).toEqual([app.hot, app.engine.releaseDir].sort())
  })

  it('follows a hot directory that is removed and made again (a clean rebuild)', async () => {
    const app = await devApp()
    const staged = `${app.hot}.next`
    await mkdir(staged)
    await writeFile(join(staged, 'package.json'), '{ "type": "module" }\n')
    await writeFile(join(staged, 'routes.ts'), routes('rebuilt'))
    await writeFile(join(staged, 'counter.ts'), COUNTER)
    await rm(app.hot, { recursive: true })
    await sleep(100)
    await rename(staged, app.hot)
    await until(() => app.answer() === 'rebuilt', 'the rebuilt directory to load')
    await writeFile(join(app.hot, 'routes.ts'), routes('after'))
    await until(() => app.answer() === 'after', 'a save in the new directory to load')
  })

  it('stops watching at stop()', async () => {
    const app = await devApp()
    await app.relup.stop()
    await writeFile(join(app.hot, 'routes.ts'), routes('v2'))
    await sleep(300)
    expect(app.answer()).toBe('v1')
    expect(app.reloads).toEqual([])
  })
})

describe('turning development mode on', () => {
  const saved = { ...process.env }
  beforeEach(() => {
    delete process.env.RELUP_DEV
    delete process.env.RELUP_BASE_REF
  })
  afterEach(() => {
    process.env = { ...saved }
  })

  const start = async (options: { dev?: boolean; baseRef?: string }, warnings: string[] = []) => {
    const hot = await tempDir('dev-on')
    await writeFile(join(hot, 'routes.js'), 'module.exports = () => "v1"\n')
    const engine = await createSwapEngine({ releaseDir: hot, logger: silentLogger })
    onCleanup(() => engine.close())
    const relup = await startRelup({
      app: 'shop',
      storage: memoryStorage(),
      engine,
      stateDir: await tempDir('dev-state'),
      logger: {
        ...silentLogger,
        warn: (_fields: unknown, message?: string) => void warnings.push(String(message)),
      },
      ...options,
    })
    onCleanup(() => relup.stop())
    return { hot, engine }
  }

  it('RELUP_DEV=1 (what `relup dev` sets) turns it on without the option; dev: false keeps it off', async () => {
    process.env.RELUP_DEV = '1'
    process.env.RELUP_DEV_SNAPSHOTS = await tempDir('dev-env')
    const on = await start({})
    await writeFile(join(on.hot, 'routes.js'), 'module.exports = () => "v2"\n')
    await until(() => on.engine.version === 'dev-1', 'the reload')
    const warnings: string[] = []
    const off = await start({ dev: false }, warnings)
    await writeFile(join(off.hot, 'routes.js'), 'module.exports = () => "v2"\n')
    await sleep(300)
    expect(off.engine.version).toBe('base')
    expect(warnings.join('\n')).toMatch(/development mode: no baseRef.*run the app under `relup dev`/)
  })

  it('a base ref makes a production machine: dev is ignored, and it says so', async () => {
    const warnings: string[] = []
    const machine = await start({ dev: true, baseRef: 'image-1' }, warnings)
    expect(warnings).toContainEqual(expect.stringMatching(/the dev option\) is ignored: a base ref is set/))
    await writeFile(join(machine.hot, 'routes.js'), 'module.exports = () => "v2"\n')
    await sleep(300)
    expect(machine.engine.version).toBe('base')
  })
})
