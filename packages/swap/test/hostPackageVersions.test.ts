/**
 * Host packages are shared with the host process and never reloaded. `checkRelease` finds the
 * ones hot code imports and the version the publisher's project resolves for each
 * (`manifest.hostPackages`); the engine refuses, before evaluating anything, an upgrade
 * published against another version than its host resolves: otherwise the new hot code would
 * silently run against the process's copy. Real directories: a publisher's project and a
 * machine's app, each with its own `node_modules`.
 */
import { join } from 'node:path'
import type { ModuleManifest } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { checkRelease, createSwapEngine, RestartRequiredError, type UpgradeError } from '../src/index.js'
import { evaluationProbe, recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

interface FakePackage {
  version: string
  /** `exports` of its package.json: its entry is then `lib/main.js`, which `exports` alone reaches. */
  exports?: unknown
}

/** `<root>/node_modules/<name>` for each package: a package.json with its version and an entry saying it. */
async function withPackages(root: string, packages: Record<string, FakePackage | string>): Promise<string> {
  for (const [name, spec] of Object.entries(packages)) {
    const { version, exports } = typeof spec === 'string' ? { version: spec, exports: undefined } : spec
    const main = exports === undefined ? 'index.js' : 'lib/main.js'
    const manifest = { name, version, main, ...(exports === undefined ? {} : { exports }) }
    await release(join(root, 'node_modules', name), {
      'package.json': JSON.stringify(manifest),
      [main]: `module.exports = ${JSON.stringify(`${name} ${version}`)}`,
      'lib/sub.js': `module.exports = ${JSON.stringify(`${name}/sub ${version}`)}`,
      // A nested package.json without a name (a dual package's): not the package's own.
      'lib/package.json': '{"type":"commonjs"}',
    })
  }
  return root
}

/** A publisher's project: its `hot/` directory and its `node_modules`; returns the hot directory. */
async function project(files: Record<string, string>, packages: Record<string, FakePackage | string>) {
  await withPackages('project', packages)
  return release('project/hot', files)
}

/** What a publisher records: the files checked and the host package versions found. */
async function published(hot: string): Promise<ModuleManifest> {
  const check = await checkRelease(hot)
  expect(check.problems).toEqual([])
  return { ...check.manifest!, hostPackages: check.hostPackages }
}

/** A machine: an app with its `node_modules`, running v1 of a release that imports `importing`. */
async function machine(packages: Record<string, FakePackage | string>, importing: string) {
  const app = await release('app', { 'server.js': '' })
  await withPackages('app', packages)
  const v1 = await release('releases/v1', {
    'handler.js': `module.exports = () => require(${JSON.stringify(importing)})`,
  })
  const engine = await createSwapEngine({
    releaseDir: v1,
    version: 'v1',
    resolveFrom: join(app, 'server.js'),
    logger: recordingLogger(),
  })
  return engine
}

/** v2 of the handler: says what it got, and records that it was evaluated. */
const v2Handler = (specifier: string) => ({
  'handler.js': `globalThis.__relupHostProbe?.push('evaluated')\nmodule.exports = () => 'v2: ' + require(${JSON.stringify(specifier)})`,
})

async function refusal(promise: Promise<unknown>): Promise<RestartRequiredError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as UpgradeError,
  )
  expect(error).toBeInstanceOf(RestartRequiredError)
  return error as RestartRequiredError
}

describe('checkRelease reports the host packages hot code imports', () => {
  it('from ES modules, TypeScript and CommonJS, with their location; not builtins, nor files of the release', async () => {
    const hot = await project(
      {
        'package.json': '{"type":"module"}',
        'app.ts': `import { readFile } from 'node:fs/promises'\nimport path from 'path'\nimport type { Options } from 'types-only'\nimport greeting from 'greeting'\nexport * from '@acme/tools/lib/sub.js'\nimport { helper } from './lib/helper.js'\nexport const late = () => import('lazy')\nexport default () => [readFile, path, greeting, helper, {} as Options]`,
        'lib/helper.ts': `export const helper = 1`,
        'legacy.cjs': `// require('commented-out')\nconst fp = require('greeting/lib/sub.js')\nmodule.exports = () => require('@acme/tools') + require('./lib/data.json')`,
        'lib/data.json': '{}',
      },
      { greeting: '1.2.3', '@acme/tools': '4.5.6', lazy: '0.1.0' },
    )
    const check = await checkRelease(hot)
    expect(check.problems).toEqual([])
    expect(
      check.hostImports.map(({ file, line, kind, specifier }) => `${file}:${line} ${kind} ${specifier}`),
    ).toEqual([
      'app.ts:4 import greeting',
      'app.ts:5 import @acme/tools/lib/sub.js',
      'app.ts:7 dynamic-import lazy',
      'legacy.cjs:2 require greeting/lib/sub.js',
      'legacy.cjs:3 require @acme/tools',
    ])
    expect(check.hostImports[1]).toMatchObject({ name: '@acme/tools', column: 15 })
    expect(check.hostPackages).toEqual({ '@acme/tools': '4.5.6', greeting: '1.2.3', lazy: '0.1.0' })
  })

  it('finds the version of a package whose exports hide its package.json', async () => {
    const exports = { '.': './lib/main.js' }
    const hot = await project(
      { 'a.mjs': `import hidden from 'hidden'\nexport default hidden` },
      {
        hidden: { version: '3.0.0', exports },
      },
    )
    expect((await checkRelease(hot)).hostPackages).toEqual({ hidden: '3.0.0' })
  })

  it('refuses a static import the project cannot resolve, and only warns about a require() or import() of one', async () => {
    const hot = await project(
      {
        'static.mjs': `export const x = 1\nimport missing from 'not-installed'\nexport { missing }`,
        'import-only.mjs': `import { only } from 'import-only'\nexport { only }`,
        'lazy.cjs': `exports.later = () => { try { return require('optional-dep') } catch { return null } }`,
        'ok.mjs': `export const load = () => import('import-only')`,
      },
      { 'import-only': { version: '1.0.0', exports: { import: './lib/main.js' } } },
    )
    const check = await checkRelease(hot)
    expect(check.ok).toBe(false)
    expect(check.problems.map(({ kind, file, line }) => `${kind} ${file}:${line}`)).toEqual([
      'unresolved-package import-only.mjs:1',
      'unresolved-package static.mjs:2',
    ])
    expect(check.problems[0]!.message).toMatch(
      /cannot be loaded synchronously.*await import\('import-only'\)/,
    )
    expect(check.problems[1]!.message).toMatch(
      /Cannot find package 'not-installed' imported by static\.mjs from .*project\/hot/,
    )
    expect(check.warnings).toMatchObject([{ kind: 'unresolved-package', file: 'lazy.cjs', line: 1 }])
    expect(check.warnings[0]!.message).toMatch(/'optional-dep'.*runs only when it is reached.*not recorded/)
    // Found by where Node looks, although require() cannot load it: import() does.
    expect(check.hostPackages).toEqual({ 'import-only': '1.0.0' })
  })
})

describe('an upgrade published against other host package versions is refused as restart-required', () => {
  it('names the package and both versions, evaluates nothing, and the old version keeps serving', async () => {
    const probe = evaluationProbe('__relupHostProbe')
    const engine = await machine({ lodash: '4.17.20' }, 'lodash')
    const hot = await project(v2Handler('lodash'), { lodash: '4.17.21' })
    const manifest = await published(hot)
    expect(manifest.hostPackages).toEqual({ lodash: '4.17.21' })
    const error = await refusal(engine.upgrade(hot, { version: 'v2', manifest }))
    expect(error).toMatchObject({
      code: 'ERR_RELUP_RESTART_REQUIRED',
      phase: 'refuse',
      reason: 'host-package-versions',
      detail: ['lodash 4.17.20 (this process) ≠ 4.17.21 (published)'],
    })
    expect(error.message).toContain('lodash 4.17.20 (this process) ≠ 4.17.21 (published)')
    expect(error.message).toMatch(/restart/)
    expect(probe).toEqual([])
    expect(engine.version).toBe('v1')
    expect(engine.module('handler.js')()).toBe('lodash 4.17.20')
    await engine.close()
  })

  it('the same version passes', async () => {
    const probe = evaluationProbe('__relupHostProbe')
    const engine = await machine({ greeting: '1.0.0' }, 'greeting')
    const hot = await project(v2Handler('greeting'), { greeting: '1.0.0' })
    const manifest = await published(hot)
    expect(manifest.hostPackages).toEqual({ greeting: '1.0.0' })
    await engine.upgrade(hot, { version: 'v2', manifest })
    expect(probe).toEqual(['evaluated'])
    expect(engine.module('handler.js')()).toBe('v2: greeting 1.0.0')
    await engine.close()
  })

  it('a scoped package, imported by a subpath', async () => {
    const engine = await machine({ '@acme/greeting': '2.0.0' }, '@acme/greeting')
    const hot = await project(v2Handler('@acme/greeting/lib/sub.js'), { '@acme/greeting': '2.1.0' })
    const error = await refusal(engine.upgrade(hot, { version: 'v2', manifest: await published(hot) }))
    expect(error.detail).toEqual(['@acme/greeting 2.0.0 (this process) ≠ 2.1.0 (published)'])
    await engine.close()
  })

  it('a package whose exports hide its package.json', async () => {
    const exports = { '.': './lib/main.js' }
    const engine = await machine({ hidden: { version: '1.0.0', exports } }, 'hidden')
    const hot = await project(v2Handler('hidden'), { hidden: { version: '1.0.1', exports } })
    const error = await refusal(engine.upgrade(hot, { version: 'v2', manifest: await published(hot) }))
    expect(error.detail).toEqual(['hidden 1.0.0 (this process) ≠ 1.0.1 (published)'])
    await engine.close()
  })

  it('a package the machine cannot resolve at all', async () => {
    const engine = await machine({ greeting: '1.0.0' }, 'greeting')
    const hot = await project(v2Handler('brand-new'), { 'brand-new': '0.0.1' })
    const error = await refusal(engine.upgrade(hot, { version: 'v2', manifest: await published(hot) }))
    expect(error.reason).toBe('host-package-versions')
    expect(error.detail).toEqual([
      expect.stringMatching(/^brand-new not found from .*\/app \(published 0\.0\.1\)$/),
    ])
    await engine.close()
  })

  it('an upgrade published without host package versions (an older publisher) is not checked', async () => {
    const engine = await machine({ greeting: '1.0.0' }, 'greeting')
    const hot = await project(v2Handler('greeting'), { greeting: '9.9.9' })
    const { hostPackages, ...manifest } = await published(hot)
    const checked = { ...manifest, hostPackages }
    expect((await refusal(engine.upgrade(hot, { version: 'v2', manifest: checked }))).detail).toEqual([
      'greeting 1.0.0 (this process) ≠ 9.9.9 (published)',
    ])
    await engine.upgrade(hot, { version: 'v2', manifest })
    expect(engine.module('handler.js')()).toBe('v2: greeting 1.0.0')
    await engine.close()
  })
})
