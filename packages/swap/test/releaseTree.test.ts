/**
 * Which files make up a release: relup's one rule for links (`@relup/core/release`), the same
 * for `pack`, the engine's first load and every upgrade.
 */
import { writeFileSync } from 'node:fs'
import { symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { manifestOfDirectory } from '@relup/core/release'
import { describe, expect, it } from 'vitest'
import { createSwapEngine, ReleaseLoadError, UpgradeError } from '../src/index.js'
import { counterModule, recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

describe('the files of a release', () => {
  it('include the files of a symlinked directory inside the release, as pack does', async () => {
    const dir = await release('v1', {
      'handler.js': `module.exports = () => require('./lib/greet').greet()`,
      'shared/greet.js': `exports.greet = () => 'hello from a linked directory'`,
    })
    await symlink('shared', join(dir, 'lib'))
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(Object.keys(engine.manifest.files)).toEqual(['handler.js', 'lib/greet.js', 'shared/greet.js'])
    expect(engine.manifest).toEqual(await manifestOfDirectory(dir))
    expect(engine.module('handler.js')()).toBe('hello from a linked directory')
    await engine.close()
  })

  it('refuse a link out of the release at load, with a ReleaseLoadError naming the link', async () => {
    const elsewhere = await release('elsewhere', { 'secret.js': `exports.secret = 42` })
    const dir = await release('v1', { 'a.js': `exports.a = 1` })
    await symlink(join(elsewhere, 'secret.js'), join(dir, 'secret.js'))
    const error = await createSwapEngine({ releaseDir: dir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ReleaseLoadError)
    expect(error).toMatchObject({ code: 'ERR_RELUP_RELEASE_LOAD', releaseDir: dir })
    expect((error as Error).message).toMatch(/"secret\.js" is a symbolic link to .*outside the directory/)
  })

  it('refuse an upgrade to a release with a link out, in refuse, and the old version keeps serving', async () => {
    const v1 = await release('v1', { 'a.js': `exports.version = 'v1'` })
    const v2 = await release('v2', { 'a.js': `exports.version = 'v2'` })
    await symlink(dirname(v1), join(v2, 'up'))
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    const error = await engine.upgrade(v2, { version: 'v2' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UpgradeError)
    expect(error).toMatchObject({ code: 'ERR_RELUP_UPGRADE_FAILED', phase: 'refuse' })
    expect((error as Error).message).toMatch(/"up" is a symbolic link to .*outside the directory/)
    expect(engine.module('a.js').version).toBe('v1')
    await engine.close()
  })

  it('may have names that start with two dots: only a ".." segment leaves the release', async () => {
    const dir = await release('v1', {
      'a.js': `exports.value = require('./..foo.js').value + require('./lib/..bar').value`,
      '..foo.js': `exports.value = 'foo'`,
      'lib/..bar.js': `exports.value = 'bar'`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(engine.module('a.js').value).toBe('foobar')
    await engine.close()
  })

  it('run only as verified: a module changed on disk after verification is refused, not evaluated', async () => {
    const v1 = await release('v1', { 'counter.js': counterModule('v1') })
    const v2 = await release('v2', { 'counter.js': counterModule('v2') })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    // Between refuse (which hashed v2) and prepare (which evaluates it), the file changes.
    const off = engine.on('phase', ({ phase }) => {
      if (phase === 'prepare') writeFileSync(join(v2, 'counter.js'), counterModule('tampered'))
    })
    const error = await engine.upgrade(v2, { version: 'v2' }).catch((e: unknown) => e)
    off()
    expect(error).toMatchObject({ code: 'ERR_RELUP_PREPARE_FAILED', phase: 'prepare', module: 'counter.js' })
    expect((error as Error).message).toMatch(
      /counter\.js in .* changed on disk after release v2 was verified/,
    )
    expect(await engine.unit('counter').inc()).toBe('v1:1')
    await engine.close()
  })

  it('read a file loaded lazily when it is first used, and refuse it if it changed since the release loaded', async () => {
    const dir = await release('v1', { 'a.js': '', 'data.json': '{ "n": 1 }', 'other.json': '{ "n": 2 }' })
    const engine = await createSwapEngine({ releaseDir: dir })
    writeFileSync(join(dir, 'other.json'), '{ "n": 3 }')
    expect(engine.module('data.json').n).toBe(1)
    expect(() => engine.module('other.json')).toThrow(/other\.json in .* changed on disk/)
    await engine.close()
  })
})

describe('an upgrade whose files the caller verified (verified: true)', () => {
  it('trusts the manifest instead of hashing the release again: only what it evaluates is checked', async () => {
    const v1 = await release('v1', { 'handler.js': 'module.exports = () => "v1"' })
    const files = { 'handler.js': 'module.exports = () => "v2"', 'public/big.bin': 'asset bytes' }
    const v2 = await release('v2', files)
    const manifest = await manifestOfDirectory(v2)
    // The asset on disk no longer matches the manifest: a full verification notices, a trusted one does not read it.
    await writeFile(join(v2, 'public/big.bin'), 'other bytes')
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    await expect(engine.upgrade(v2, { manifest, version: 'v2' })).rejects.toThrow(/do not match the manifest/)
    await engine.upgrade(v2, { manifest, version: 'v2', verified: true })
    expect(engine.module('handler.js')()).toBe('v2')
    await engine.close()
  })

  it('still refuses a module whose bytes differ from the manifest when it is evaluated', async () => {
    const v1 = await release('v1', { 'handler.js': 'module.exports = () => "v1"' })
    const v2 = await release('v2', { 'handler.js': 'module.exports = () => "v2"' })
    const manifest = await manifestOfDirectory(v2)
    await writeFile(join(v2, 'handler.js'), 'module.exports = () => "tampered"')
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    await expect(engine.upgrade(v2, { manifest, version: 'v2', verified: true })).rejects.toThrow(
      /changed on disk/,
    )
    expect(engine.module('handler.js')()).toBe('v1')
    await engine.close()
  })
})
