/**
 * Checks before anything is published: the hot code is loaded with the machines' own rules, and
 * a release they would refuse is stopped before any storage write (no artifact, no lock, no
 * history, no pointer move), naming file and line. The host packages it imports are resolved
 * from the hot directory and their versions recorded in the (signed) manifest.
 */
import { writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateSigningKeyPair, verifyHotUpgrade } from '@relup/artifact'
import { listAll, type Storage } from '@relup/core'
import { createSwapEngine, RestartRequiredError } from '@relup/swap'
import { describe, expect, it } from 'vitest'
import { publish, ReleaseCheckError } from '../src/index.js'
import { APP, bootPointer, freshStorage, pointerOf, recordingReporter, tempDir } from './helpers.js'

type Files = Record<string, string | Buffer>

async function write(root: string, files: Files): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), content)
  }
  return root
}

/** `node_modules/<name>/package.json` (and an entry) for each package, under `root`. */
const packages = (versions: Record<string, string>, exports?: unknown): Files =>
  Object.fromEntries(
    Object.entries(versions).flatMap(([name, version]) => [
      [
        `node_modules/${name}/package.json`,
        JSON.stringify({ name, version, main: 'lib/main.js', ...(exports ? { exports } : {}) }),
      ],
      [`node_modules/${name}/lib/main.js`, `module.exports = ${JSON.stringify(`${name} ${version}`)}`],
    ]),
  )

/** A publisher's project: `hot/` (what is published) and the project's own `node_modules`. */
async function project(hot: Files, installed: Files = {}): Promise<string> {
  const root = await write(await tempDir('project'), installed)
  return write(join(root, 'hot'), hot)
}

/** Every key in storage with its etag: what "nothing was written" is compared against. */
async function contents(storage: Storage): Promise<string[]> {
  const items: string[] = []
  for await (const item of listAll(storage, '')) items.push(`${item.key} ${item.etag}`)
  return items.sort()
}

/** A store whose writes are recorded. */
function recordingWrites(storage: Storage) {
  const writes: string[] = []
  const recording: Storage = {
    ...storage,
    put: (key, body, options) => {
      writes.push(key)
      return storage.put(key, body, options)
    },
    delete: (key, options) => {
      writes.push(`delete ${key}`)
      return storage.delete(key, options)
    },
  }
  return { storage: recording, writes }
}

async function refused(promise: Promise<unknown>): Promise<ReleaseCheckError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ReleaseCheckError)
  return error as ReleaseCheckError
}

const MODULE_PACKAGE = { 'package.json': '{"type":"module"}' }

describe('publish checks the hot code before anything is written to storage', () => {
  it.each([
    [
      'a syntax error in a .ts file',
      { ...MODULE_PACKAGE, 'src/routes.ts': 'export const a = 1\nexport const b: = 2\n' },
      'syntax src/routes.ts:2',
      /^src\/routes\.ts:2:\d+: SyntaxError/,
    ],
    [
      'an import of a missing relative file',
      { ...MODULE_PACKAGE, 'src/app.js': "export const x = 1\nimport { helper } from './helpers.js'\n" },
      'unresolved-import src/app.js:2',
      /^src\/app\.js:2:24: Cannot find module '\.\/helpers\.js'/,
    ],
    [
      'top-level await',
      { 'db.mts': 'const connect = async () => ({})\nexport const db = await connect()\n' },
      'top-level-await db.mts:2',
      /^db\.mts:2:19: top-level await is not supported in hot modules/,
    ],
  ])('refuses %s, naming file and line', async (_, files, problem, line) => {
    const { storage, writes } = recordingWrites(freshStorage())
    await bootPointer(storage)
    const before = await contents(storage)
    writes.length = 0
    const dir = await project(files)
    const error = await refused(publish({ storage, app: APP, dir, version: 'v2', wait: false }))
    expect(error.code).toBe('ERR_RELUP_RELEASE_CHECK')
    expect(error.problems.map(({ kind, file, line }) => `${kind} ${file}:${line}`)).toEqual([problem])
    expect(error.message.split('\n')[1]!.trim()).toMatch(line)
    expect(error.message).toMatch(/nothing was published/)
    expect(writes).toEqual([])
    expect(await contents(storage)).toEqual(before)
  })

  it('passes a good mixed CommonJS / ES module / TypeScript release ("type": "module" .js included)', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const dir = await project({
      ...MODULE_PACKAGE,
      'handler.js': "import { greet } from './lib/greet.ts'\nexport default (name) => greet(name)\n",
      'lib/greet.ts': "export const greet = (name: string): string => 'hello ' + name\n",
      'legacy.cjs': "module.exports = require('./data.json')\n",
      'data.json': '{"ok":true}',
    })
    const { reporter, steps, warnings } = recordingReporter()
    const outcome = await publish({ storage, app: APP, dir, version: 'v2', wait: false, reporter })
    expect(outcome.ok).toBe(true)
    expect(steps[0]).toMatch(/^checking .* with the machines' loader rules$/)
    expect(warnings).toEqual([])
    expect(Object.keys((await pointerOf(storage)).hot!.manifest.files).sort()).toEqual([
      'data.json',
      'handler.js',
      'legacy.cjs',
      'lib/greet.ts',
      'package.json',
    ])
  })

  it('refuses a static import of a host package the project cannot resolve; a require() of one is only a warning', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const broken = await project({ 'a.mjs': "export const x = 1\nimport missing from 'not-installed'\n" })
    const error = await refused(publish({ storage, app: APP, dir: broken, wait: false }))
    expect(error.problems).toMatchObject([{ kind: 'unresolved-package', file: 'a.mjs', line: 2 }])
    expect(error.message).toMatch(/a\.mjs:2:21: Cannot find package 'not-installed'/)

    const optional = await project({
      'a.cjs': "exports.pretty = () => { try { return require('pino-pretty') } catch { return null } }\n",
    })
    const { reporter, warnings } = recordingReporter()
    const outcome = await publish({ storage, app: APP, dir: optional, wait: false, reporter })
    expect(warnings).toEqual([
      expect.stringMatching(/^a\.cjs:1:\d+: Cannot find package 'pino-pretty'.*not recorded/),
    ])
    expect(outcome.upgrade.manifest.hostPackages).toBeUndefined()
  })

  it('refuses a native addon added since the release the machines run (the pointer’s), and not on base code', async () => {
    const addon = { 'build/fast.node': Buffer.from('\x7fELF fake addon') }
    const withAddon = await project({ 'handler.js': 'module.exports = 2', ...addon })
    // On base code what the machines run is unknown here: nothing to compare with.
    const onBase = freshStorage()
    await bootPointer(onBase)
    expect((await publish({ storage: onBase, app: APP, dir: withAddon, wait: false })).ok).toBe(true)

    const storage = freshStorage()
    await bootPointer(storage)
    const v1 = await publish({
      storage,
      app: APP,
      dir: await project({ 'handler.js': 'module.exports = 1' }),
      wait: false,
    })
    const before = await contents(storage)
    const error = await refused(publish({ storage, app: APP, dir: withAddon, wait: false }))
    expect(error.problems).toMatchObject([{ kind: 'restart-required', file: 'build/fast.node' }])
    expect(error.message).toMatch(/build\/fast\.node: native addon added since the release the machines run/)
    expect(await contents(storage)).toEqual(before)
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(v1.upgrade.upgradeId)
  })

  it('skipChecks publishes what the checks refuse (and records no host packages)', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const dir = await project({ 'src/routes.ts': 'export const b: = 2\n' })
    await refused(publish({ storage, app: APP, dir, wait: false }))
    const outcome = await publish({ storage, app: APP, dir, wait: false, skipChecks: true })
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(outcome.upgrade.upgradeId)
    expect(outcome.upgrade.manifest.hostPackages).toBeUndefined()
  })

  it('refuses files that changed between the checks and packing', async () => {
    const { storage, writes } = recordingWrites(freshStorage())
    await bootPointer(storage)
    writes.length = 0
    const dir = await project({ 'handler.js': 'module.exports = 1\n' })
    const reporter = {
      step: (message: string) => {
        // A build still writing: the checked file is replaced before it is packed.
        if (message.startsWith('packing')) writeFileSync(join(dir, 'handler.js'), 'module.exports = (\n')
      },
    }
    const error = await publish({ storage, app: APP, dir, wait: false, reporter }).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/changed after it was checked .*handler\.js.*Publish again/)
    expect(writes).toEqual([])
  })
})

describe('publish records the versions of the host packages the hot code imports', () => {
  it('resolved from the hot directory: CommonJS, ES modules, a scoped package, exports hiding package.json', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const dir = await project(
      {
        'a.cjs':
          "module.exports = () => require('lodash') + require('node:path').sep + require('fs').constants",
        'b.mjs':
          "import tools from '@acme/tools'\nexport const hidden = () => import('hidden')\nexport default tools",
      },
      {
        ...packages({ lodash: '4.17.21', '@acme/tools': '2.0.0' }),
        ...packages({ hidden: '1.0.0' }, { '.': './lib/main.js' }),
      },
    )
    const { privateKey, publicKey } = generateSigningKeyPair()
    const outcome = await publish({ storage, app: APP, dir, wait: false, sign: privateKey })
    const hot = (await pointerOf(storage)).hot!
    expect(hot.manifest.hostPackages).toEqual({ '@acme/tools': '2.0.0', hidden: '1.0.0', lodash: '4.17.21' })
    expect(hot).toEqual(outcome.upgrade)
    // Covered by the signature: a machine cannot be told other versions.
    expect(() => verifyHotUpgrade(hot, [publicKey])).not.toThrow()
    const forged = {
      ...hot,
      manifest: { ...hot.manifest, hostPackages: { ...hot.manifest.hostPackages, lodash: '4.17.20' } },
    }
    expect(() => verifyHotUpgrade(forged, [publicKey])).toThrow()
  })

  it('a machine whose host resolves another version refuses the upgrade, naming both; the same version applies', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    // The machine's app: lodash 4.17.20 installed, v1 of the hot code running.
    const app = await write(await tempDir('app'), { 'server.js': '', ...packages({ lodash: '4.17.20' }) })
    const v1 = await write(await tempDir('v1'), { 'handler.js': "module.exports = () => require('lodash')" })
    const engine = await createSwapEngine({
      releaseDir: v1,
      version: 'v1',
      resolveFrom: join(app, 'server.js'),
      logger: {},
    })
    const handler = "module.exports = () => 'v2 with ' + require('lodash')"

    // The project bumped lodash to 4.17.21 and changed a hot module.
    const bumped = await project({ 'handler.js': handler }, packages({ lodash: '4.17.21' }))
    const published = await publish({ storage, app: APP, dir: bumped, version: 'v2', wait: false })
    const error = await engine
      .upgrade(bumped, { version: 'v2', manifest: published.upgrade.manifest })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RestartRequiredError)
    expect(error).toMatchObject({
      reason: 'host-package-versions',
      detail: ['lodash 4.17.20 (this process) ≠ 4.17.21 (published)'],
    })
    expect(engine.module('handler.js')()).toBe('lodash 4.17.20')

    const same = await project({ 'handler.js': handler }, packages({ lodash: '4.17.20' }))
    const again = await publish({ storage, app: APP, dir: same, version: 'v3', wait: false })
    await engine.upgrade(same, { version: 'v3', manifest: again.upgrade.manifest })
    expect(engine.module('handler.js')()).toBe('v2 with lodash 4.17.20')
    await engine.close()
  })
})
