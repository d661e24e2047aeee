import { manifestOfDirectory } from '@relup/core/release'
import { describe, expect, it } from 'vitest'
import { createSwapEngine, RestartRequiredError, type UpgradeError } from '../src/index.js'
import { counterModule, evaluationProbe, recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

/** A `.node` file's bytes. It is never loaded by these tests: refusal must happen before that. */
const addon = (build: string) => Buffer.from(`\x7fELF fake native addon, build ${build}`)

/** v2's counter.js records its evaluation in a global: the proof that refusal happened before any. */
const tattletale = (key: string) => `globalThis.${key}.push('evaluated'); ${counterModule('v2')}`

async function refusal(promise: Promise<unknown>): Promise<RestartRequiredError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(RestartRequiredError)
  return error as RestartRequiredError
}

async function start(files: Record<string, string | Buffer> = {}) {
  const v1 = await release('v1', { 'counter.js': counterModule('v1'), ...files })
  const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
  await engine.unit('counter').inc()
  return engine
}

describe('upgrades that need a restart are refused before anything is evaluated', () => {
  it.each([
    ['added', {}, { 'build/Release/fast.node': addon('1') }],
    ['changed', { 'build/Release/fast.node': addon('1') }, { 'build/Release/fast.node': addon('2') }],
    ['removed', { 'build/Release/fast.node': addon('1') }, {}],
  ])('a native addon %s', async (how, before, after) => {
    const probe = evaluationProbe('__relupAddonProbe')
    const engine = await start(before)
    const v2 = await release('v2', { 'counter.js': tattletale('__relupAddonProbe'), ...after })
    const error = await refusal(engine.upgrade(v2, { version: 'v2' }))
    expect(error).toMatchObject({
      code: 'ERR_RELUP_RESTART_REQUIRED',
      phase: 'refuse',
      reason: 'native-addon',
      detail: [`build/Release/fast.node ${how}`],
    })
    expect(error.message).toMatch(/restart/i)
    expect(probe).toEqual([])
    expect(engine.version).toBe('v1')
    expect(await engine.unit('counter').inc()).toBe('v1:2')
    await engine.close()
  })

  it('a release built for another Node ABI', async () => {
    const probe = evaluationProbe('__relupAbiProbe')
    const engine = await start()
    const v2 = await release('v2', { 'counter.js': tattletale('__relupAbiProbe') })
    const manifest = { ...(await manifestOfDirectory(v2)), nodeAbi: '1' }
    const error = await refusal(engine.upgrade(v2, { version: 'v2', manifest }))
    expect(error).toMatchObject({ reason: 'node-abi', phase: 'refuse' })
    expect(error.detail[0]).toContain(`this process runs ABI ${process.versions.modules}`)
    expect(probe).toEqual([])
    await engine.close()
  })

  it('a changed hot module that requires a .node file (the addon itself unchanged)', async () => {
    const probe = evaluationProbe('__relupRequireProbe')
    const engine = await start({ 'fast.node': addon('1') })
    const v2 = await release('v2', {
      'fast.node': addon('1'),
      'counter.js': `${tattletale('__relupRequireProbe')}\nconst fast = require('./fast.node')`,
    })
    const error = await refusal(engine.upgrade(v2, { version: 'v2' }))
    expect(error).toMatchObject({ reason: 'native-addon', detail: ['counter.js requires ./fast.node'] })
    expect(probe).toEqual([])
    await engine.close()
  })

  it('a .node require hidden from the source scan is still refused when the module runs it', async () => {
    const engine = await start({ 'fast.node': addon('1') })
    const v2 = await release('v2', {
      'fast.node': addon('1'),
      'counter.js': `const name = './fast' + '.node'; require(name); ${counterModule('v2')}`,
    })
    const error = await refusal(engine.upgrade(v2, { version: 'v2' }))
    expect(error).toMatchObject({ reason: 'native-addon', detail: ['counter.js requires fast.node'] })
    expect(await engine.unit('counter').inc()).toBe('v1:2')
    await engine.close()
  })

  it('a release that adds or changes a static dependency in its package.json', async () => {
    const engine = await start({ 'package.json': JSON.stringify({ dependencies: { pg: '^8.11.0' } }) })
    const v2 = await release('v2', {
      'counter.js': counterModule('v2'),
      'package.json': JSON.stringify({ dependencies: { pg: '^8.12.0', zod: '^3.0.0' } }),
    })
    const error = await refusal(engine.upgrade(v2, { version: 'v2' }))
    expect(error).toMatchObject({
      reason: 'static-dependencies',
      detail: ['pg ^8.11.0 → ^8.12.0', 'zod@^3.0.0 added'],
    })
    await engine.close()
  })
})

describe('the published manifest', () => {
  it('must match the files on disk', async () => {
    const probe = evaluationProbe('__relupManifestProbe')
    const engine = await start()
    const v2 = await release('v2', { 'counter.js': tattletale('__relupManifestProbe') })
    const manifest = await manifestOfDirectory(v2)
    const tampered = {
      ...manifest,
      files: { ...manifest.files, 'counter.js': { sha256: 'a'.repeat(64), size: 3 } },
    }
    const error = (await engine
      .upgrade(v2, { version: 'v2', manifest: tampered })
      .catch((e: unknown) => e)) as UpgradeError
    expect(error).toMatchObject({ code: 'ERR_RELUP_MANIFEST_MISMATCH', phase: 'refuse' })
    expect(error.message).toMatch(/"counter\.js" has sha256/)
    expect(probe).toEqual([])

    const stats = await engine.upgrade(v2, { version: 'v2', manifest })
    expect(stats.moduleNames).toEqual(['counter.js'])
    expect(engine.manifest).toEqual(manifest)
    expect(probe).toEqual(['evaluated'])
    await engine.close()
  })
})
