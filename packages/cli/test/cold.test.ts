import { cp, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { coldBaseRef, coldKey, listAll, parseColdPointer, readDocument, relupKeys } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { describe, expect, it } from 'vitest'
import { APP, announceMachine, bootPointer, onCleanup, pointerOf, tempDir } from './helpers.js'
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
    // No cold release in storage: nothing to compare the server with, and it says so.
    expect(hot.stdout()).toMatch(/^note: no cold release of chat is in storage, .* is not compared/m)

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

  it('publishes a changed cold entry (the server, its modules) as a cold release, naming the files; hot changes alone go hot', async () => {
    const dir = await tempDir('cold-store')
    const storage = fsStorage({ dir })
    onCleanup(async () => storage.close?.())
    const app = await appWithDependency('1.0.0')
    await mkdir(join(app, 'lib'))
    await writeFile(join(app, 'lib', 'pool.js'), 'module.exports = { size: 4 }\n')
    const flags = ['--app', APP, '--storage', `file://${dir}`]
    const cold = ['--cold-dir', app, '--command', 'node server.mjs']
    const coldPointer = async () => {
      const read = await readDocument(storage, coldKey(relupKeys(APP)), parseColdPointer)
      if (read.status !== 'ok' || !read.document.release) throw new Error('no cold release')
      return read.document.release
    }
    const first = spawnRelup([
      'publish',
      app,
      '--cold',
      '--command',
      'node server.mjs',
      ...flags,
      '--no-wait',
    ])
    expect((await first.exited).code).toBe(0)
    const live = await coldPointer()
    // The machines booted from it: their runtime reset the hot pointer to its base.
    await bootPointer(storage, coldBaseRef(live.releaseId))

    // The hot code and a file inside node_modules changed (not the dependency's version): hot.
    await writeFile(
      join(app, 'hot', 'router.js'),
      "const dep = require('dep')\nmodule.exports = () => dep.value + '!'\n",
    )
    await writeFile(join(app, 'node_modules', 'dep', 'index.js'), "exports.value = '1.0.0' // rebuilt\n")
    const hot = spawnRelup(['publish', join(app, 'hot'), ...flags, ...cold, '--no-wait', '--version', 'h1'])
    expect((await hot.exited).code).toBe(0)
    expect(hot.stdout()).not.toMatch(/refused|note:/)
    expect((await pointerOf(storage)).hot?.version).toBe('h1')
    expect((await coldPointer()).releaseId).toBe(live.releaseId)

    // The server changed, a module of it was added and another removed: cold, naming them.
    await writeFile(join(app, 'server.mjs'), '// v2\n', { flag: 'a' })
    await writeFile(join(app, 'lib', 'db.js'), 'module.exports = {}\n')
    await rm(join(app, 'lib', 'pool.js'))
    const bump = spawnRelup(['publish', join(app, 'hot'), ...flags, ...cold, '--no-wait', '--version', 'c2'])
    expect((await bump.exited).code).toBe(0)
    expect(bump.stdout()).toContain('would be refused by the machines')
    expect(bump.stdout()).toMatch(
      /the cold entry changed: lib\/db\.js, lib\/pool\.js, server\.mjs \(against cold release 1\.0\.0/,
    )
    const next = await coldPointer()
    expect(next).toMatchObject({
      version: 'c2',
      reason: expect.stringMatching(/the cold entry changed: lib\/db\.js/),
    })
    expect((await pointerOf(storage)).hot?.version).toBe('h1')

    // Without --cold-dir the publisher cannot know: a hot upgrade, as before.
    await bootPointer(storage, coldBaseRef(next.releaseId))
    await writeFile(join(app, 'server.mjs'), '// v3\n', { flag: 'a' })
    const blind = spawnRelup(['publish', join(app, 'hot'), ...flags, '--no-wait', '--version', 'h3'])
    expect((await blind.exited).code).toBe(0)
    expect(blind.stdout()).not.toMatch(/cold entry|note:/)
    expect((await pointerOf(storage)).hot?.version).toBe('h3')
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

describe('relup publish --cold and machines not under relup run --app', () => {
  it('leaves them out (not waited for, not absent), says why, and fails when the release reaches no one; status shows each supervisor', async () => {
    const dir = await tempDir('cold-store')
    const storage = fsStorage({ dir })
    onCleanup(async () => storage.close?.())
    await bootPointer(storage)
    await announceMachine(storage, 'plain', 'image-1', { supervised: null })
    await announceMachine(storage, 'run-only', 'image-1', {
      supervised: { followsColdReleases: false, coldReleaseId: null },
    })
    const flags = ['--app', APP, '--storage', `file://${dir}`]
    const app = await appWithDependency('1.0.0')
    const publish = spawnRelup(['publish', app, '--cold', '--command', 'node server.mjs', ...flags, '--json'])
    expect((await publish.exited).code).toBe(1)
    const out = JSON.parse(publish.stdout()) as {
      ok: boolean
      machines: unknown[]
      leftOut: { machineId: string; why: string }[]
      warnings: string[]
    }
    // Nothing was waited for (no machine counted absent): both are left out.
    expect(out).toMatchObject({ ok: false, machines: [] })
    expect(out.leftOut).toEqual([
      { machineId: 'plain', why: 'not under relup run: a cold release does not reach it' },
      {
        machineId: 'run-only',
        why: `under relup run without --app ${APP}: it does not follow cold releases`,
      },
    ])
    expect(out.warnings.join('\n')).toMatch(/none of the 2 live machine\(s\) runs under relup run --app chat/)

    // One machine under relup run --app (its record says so) is waited for; it never answers: absent.
    await announceMachine(storage, 'supervised', 'image-1', {
      pollIntervalMs: 100,
      supervised: { followsColdReleases: true, coldReleaseId: null },
    })
    const human = spawnRelup([
      'publish',
      app,
      '--cold',
      '--command',
      'node server.mjs',
      ...flags,
      '--ack-timeout',
      '1s',
    ])
    expect((await human.exited).code).toBe(1)
    expect(human.stdout()).toMatch(
      /^plain +left out +not under relup run: a cold release does not reach it$/m,
    )
    expect(human.stdout()).toMatch(/^supervised +absent /m)
    expect(human.stdout()).toMatch(/0 of 1 machine\(s\) run cold release 1\.0\.0 .*, 1 absent .*, 2 left out/)

    const status = spawnRelup(['status', ...flags])
    await status.exited
    expect(status.stdout()).toMatch(/^MACHINE .* STATE +SUPERVISOR$/m)
    expect(status.stdout()).toMatch(/^plain .* ok +none$/m)
    expect(status.stdout()).toMatch(/^run-only .* ok +relup run$/m)
    expect(status.stdout()).toMatch(/^supervised .* ok +relup run --app$/m)
  }, 30_000)
})
