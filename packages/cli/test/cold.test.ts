import { cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { coldKey, listAll, parseColdPointer, readDocument, relupKeys } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { describe, expect, it } from 'vitest'
import { APP, bootPointer, onCleanup, pointerOf, tempDir } from './helpers.js'
import { spawnRelup } from './processes.js'

const packages = fileURLToPath(new URL('../..', import.meta.url))
const SERVER = fileURLToPath(new URL('./fixtures/supervised-app.mjs', import.meta.url))

/** An app: its server, its hot code (which imports the `dep` package), and its production node_modules. */
async function appWithDependency(depVersion: string): Promise<string> {
  const app = await tempDir('cold-app')
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'shop',
      version: '1.0.0',
      dependencies: { dep: depVersion, '@relup/supervisor': '*' },
    }),
  )
  await cp(SERVER, join(app, 'server.mjs'))
  await mkdir(join(app, 'hot'))
  await writeFile(
    join(app, 'hot', 'router.js'),
    "const dep = require('dep')\nmodule.exports = () => dep.value\n",
  )
  await setDependency(app, depVersion)
  for (const name of ['supervisor', 'core']) {
    const into = join(app, 'node_modules', '@relup', name)
    await mkdir(into, { recursive: true })
    await cp(join(packages, name, 'dist'), join(into, 'dist'), { recursive: true })
    await cp(join(packages, name, 'package.json'), join(into, 'package.json'))
  }
  return app
}

async function setDependency(app: string, version: string) {
  const dir = join(app, 'node_modules', 'dep')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'dep', version, main: 'index.js' }))
  await writeFile(join(dir, 'index.js'), `exports.value = ${JSON.stringify(version)}\n`)
}

describe('relup publish --cold-dir', () => {
  it('publishes a dependency bump as a cold release on its own, saying why', async () => {
    const dir = await tempDir('cold-store')
    const storage = fsStorage({ dir })
    onCleanup(async () => storage.close?.())
    await bootPointer(storage)
    const app = await appWithDependency('1.0.0')
    const flags = ['--app', APP, '--storage', `file://${dir}`]
    const cold = ['--cold-dir', app, '--command', 'node server.mjs']

    // Nothing refused: a hot upgrade, as without --cold-dir.
    const hot = spawnRelup(['publish', join(app, 'hot'), ...flags, ...cold, '--no-wait', '--version', 'h1'])
    expect((await hot.exited).code).toBe(0)
    expect((await pointerOf(storage)).hot?.manifest.hostPackages).toEqual({ dep: '1.0.0' })

    await setDependency(app, '2.0.0')
    const bump = spawnRelup(['publish', join(app, 'hot'), ...flags, ...cold, '--version', 'h2'])
    const code = (await bump.exited).code
    // Nothing else on stderr: as a hot publish, it says when no machine is there to wait for.
    expect(bump.stderr()).toBe('warning: no machine reported recently: nothing to wait for\n')
    expect(code).toBe(0)
    expect(bump.stdout()).toContain('would be refused by the machines')
    expect(bump.stdout()).toMatch(/dependency dep 1\.0\.0 → 2\.0\.0/)
    // --version names what is published, hot or cold.
    expect(bump.stdout()).toMatch(/published cold release h2/)
    const pointer = await readDocument(storage, coldKey(relupKeys(APP)), parseColdPointer)
    expect(pointer.status === 'ok' && pointer.document.release).toMatchObject({
      version: 'h2',
      command: ['node', 'server.mjs'],
      reason: expect.stringMatching(/dependency dep 1\.0\.0 → 2\.0\.0/),
    })
    // The hot pointer did not move.
    expect((await pointerOf(storage)).hot?.version).toBe('h1')
  }, 30_000)

  it('without --cold-dir, a hot publish the machines would refuse says to go cold: exit 2, nothing written', async () => {
    const dir = await tempDir('cold-store')
    const storage = fsStorage({ dir })
    onCleanup(async () => storage.close?.())
    await bootPointer(storage)
    const app = await appWithDependency('1.0.0')
    const flags = ['--app', APP, '--storage', `file://${dir}`]
    const first = spawnRelup(['publish', join(app, 'hot'), ...flags, '--no-wait', '--version', 'h1'])
    expect((await first.exited).code).toBe(0)
    const before = await pointerOf(storage)

    await setDependency(app, '2.0.0')
    const bump = spawnRelup(['publish', join(app, 'hot'), ...flags, '--version', 'h2'])
    expect((await bump.exited).code).toBe(2)
    expect(bump.stderr()).toMatch(/would be refused by the machines as restart-required/)
    expect(bump.stderr()).toMatch(/dependency dep 1\.0\.0 → 2\.0\.0/)
    expect(bump.stderr()).toMatch(/--cold-dir <the built app with its production node_modules> --command/)
    // Nothing was written: the hot pointer is as it was, no cold release, no new artifact.
    expect(await pointerOf(storage)).toEqual(before)
    expect((await readDocument(storage, coldKey(relupKeys(APP)), parseColdPointer)).status).toBe('not-found')
    const artifacts = []
    for await (const item of listAll(storage, `relup/${APP}/artifacts/`)) artifacts.push(item.key)
    expect(artifacts).toHaveLength(1)

    const json = spawnRelup(['publish', join(app, 'hot'), ...flags, '--json'])
    expect((await json.exited).code).toBe(2)
    expect(JSON.parse(json.stdout())).toMatchObject({
      ok: false,
      needsCold: true,
      reasons: [expect.stringMatching(/dependency dep 1\.0\.0 → 2\.0\.0/)],
    })
    // A cold rollback goes to every machine at once: asking for waves is refused, not ignored.
    const waves = spawnRelup(['rollback', '--cold', ...flags, '--rollout', '1,100%'])
    expect((await waves.exited).code).toBe(2)
    expect(waves.stderr()).toMatch(/a cold rollback goes to every machine at once: drop --rollout/)
    // For another base no release is known to compare with: a hot upgrade of that base.
    const other = spawnRelup(['publish', join(app, 'hot'), ...flags, '--base-ref', 'image-2', '--no-wait'])
    expect((await other.exited).code).toBe(0)
    expect(await pointerOf(storage)).toMatchObject({
      baseRef: 'image-2',
      hot: { manifest: { hostPackages: { dep: '2.0.0' } } },
    })
  }, 30_000)
})
