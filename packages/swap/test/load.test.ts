import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { manifestOfDirectory } from '@relup/core/release'
import { describe, expect, it } from 'vitest'
import { createSwapEngine, HandleError, ReleaseLoadError } from '../src/index.js'
import { recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

describe('loading a release', () => {
  it.each(['eager', 'lazy'] as const)(
    'evaluates every CommonJS file, relative requires and JSON (compile: %s)',
    async (compile) => {
      const dir = await release('v1', {
        'handler.js': `
        const { greet } = require('./lib/greet')
        const config = require('./config.json')
        module.exports = (name) => greet(name) + config.suffix`,
        'lib/greet.js': `exports.greet = (name) => 'hello ' + name`,
        'lib/index.cjs': `exports.where = __filename.slice(__dirname.length + 1)`,
        'config.json': '{ "suffix": "!" }',
      })
      const engine = await createSwapEngine({ releaseDir: dir, version: 'v1', compile })
      const handler = engine.module<(name: string) => string>('handler.js')
      expect(handler('ada')).toBe('hello ada!')
      expect(engine.module('./lib/').where).toBe('index.cjs')
      expect(engine.module('config').suffix).toBe('!')
      expect(engine.version).toBe('v1')
      expect(engine.releaseDir).toBe(dir)
      await engine.close()
    },
  )

  it('resolves bare specifiers with the host require: static modules are shared, not re-evaluated', async () => {
    const dir = await release('v1', {
      'deps.js': `exports.events = require('node:events'); exports.core = require('@relup/core')`,
    })
    const resolveFrom = fileURLToPath(new URL('./host.js', import.meta.url))
    const engine = await createSwapEngine({ releaseDir: dir, resolveFrom })
    const host = createRequire(resolveFrom)
    expect(engine.module('deps.js').events).toBe(host('node:events'))
    expect(engine.module('deps.js').core).toBe(host('@relup/core'))
    await engine.close()
  })

  it('computes the manifest by hashing every file with sha256', async () => {
    const dir = await release('v1', { 'a.js': 'exports.a = 1', 'public/index.html': '<h1>hi</h1>' })
    const engine = await createSwapEngine({ releaseDir: dir })
    const bytes = await readFile(join(dir, 'a.js'))
    expect(engine.manifest).toEqual({
      files: {
        'a.js': { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length },
        'public/index.html': expect.objectContaining({ size: 11 }),
      },
      nativeAddons: [],
      nodeAbi: null,
    })
    expect(await manifestOfDirectory(dir)).toEqual(engine.manifest)
    expect(engine.assetsDir).toBe(join(dir, 'public'))
    await engine.close()
  })

  it('refuses to load files that do not match the given manifest', async () => {
    const dir = await release('v1', { 'a.js': 'exports.a = 1' })
    const manifest = await manifestOfDirectory(dir)
    manifest.files['a.js']!.sha256 = '0'.repeat(64)
    const error = await createSwapEngine({ releaseDir: dir, manifest }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ReleaseLoadError)
    expect((error as ReleaseLoadError).message).toMatch(/"a\.js" has sha256 .* expected 000000000000/)
  })

  it('names the module that threw at top level, even deep in a require chain', async () => {
    const dir = await release('v1', {
      'a.js': `require('./b')`,
      'b.js': `throw new Error('database URL missing')`,
    })
    const error = await createSwapEngine({ releaseDir: dir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ReleaseLoadError)
    expect(error).toMatchObject({ code: 'ERR_RELUP_RELEASE_LOAD', module: 'b.js' })
    expect((error as Error).message).toContain('database URL missing')
  })

  it('rejects a relative require that leaves the release directory', async () => {
    const dir = await release('v1', { 'a.js': `require('../outside.js')` })
    const error = await createSwapEngine({ releaseDir: dir }).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/leaves the release directory/)
  })

  it('evaluates only the configured entries (and what they require)', async () => {
    const dir = await release('v1', {
      'main.js': `exports.dep = require('./dep').value`,
      'dep.js': 'exports.value = 42',
      'script.js': `throw new Error('a CLI script, never loaded by the server')`,
    })
    const engine = await createSwapEngine({ releaseDir: dir, entries: ['main.js'] })
    expect(engine.module('main.js').dep).toBe(42)
    await engine.close()
  })

  it('gives handles that fail clearly for unknown units and modules', async () => {
    const dir = await release('v1', { 'a.js': 'exports.units = { known: { create: () => ({}) } }' })
    const engine = await createSwapEngine({ releaseDir: dir, logger: recordingLogger() })
    expect(() => engine.unit('unknown')).toThrow(HandleError)
    expect(() => engine.unit('unknown')).toThrow(/no unit named "unknown" \(units: known\)/)
    expect(() => engine.module('missing.js')).toThrow(/no module "missing.js"/)
    await engine.close()
    await expect(engine.unit('known').anything()).rejects.toThrow(/closed/)
  })

  it('rejects a unit definition without create()', async () => {
    const dir = await release('v1', { 'a.js': 'exports.units = { broken: { init: () => 1 } }' })
    await expect(createSwapEngine({ releaseDir: dir })).rejects.toThrow(
      /unit broken exported by a\.js has no create/,
    )
  })

  it('reports errors at the real file and line', async () => {
    const dir = await release('v1', {
      'fail.js': '#!/usr/bin/env node\n\nexports.fail = () => {\n  throw new Error("here")\n}',
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    const error = (() => {
      try {
        engine.module('fail.js').fail()
      } catch (e) {
        return e as Error
      }
    })()
    expect(error?.stack).toContain(`${join(dir, 'fail.js')}:4:`)
    await engine.close()
  })
})
