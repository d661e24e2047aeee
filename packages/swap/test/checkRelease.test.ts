/**
 * `checkRelease` applies the loader's rules without evaluating anything: what `relup pack` runs
 * before uploading, so it stops on exactly what a machine would refuse, naming file and line.
 */
import { symlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkRelease, createSwapEngine, ReleaseLoadError } from '../src/index.js'
import { evaluationProbe, useReleases } from './helpers.js'

const { release } = useReleases()

describe('checkRelease', () => {
  it('passes a mixed release of CommonJS, ES modules and TypeScript, evaluating nothing', async () => {
    const probe = evaluationProbe('__relupCheckProbe')
    const dir = await release('v1', {
      'package.json': '{"type":"module"}',
      'app.ts': `globalThis.__relupCheckProbe.push('app')\nimport { helper } from './lib/helper.js'\nexport default () => helper()`,
      'lib/helper.ts': `export const helper = (): string => 'ok'`,
      'legacy.cjs': `globalThis.__relupCheckProbe.push('legacy'); exports.x = require('./data.json')`,
      'data.json': '{}',
      'public/app.js': 'this is not checked',
    })
    const check = await checkRelease(dir)
    expect(check).toMatchObject({
      ok: true,
      problems: [],
      warnings: [],
      modules: ['app.ts', 'legacy.cjs', 'lib/helper.ts'],
      hostImports: [],
      hostPackages: {},
    })
    expect(probe).toEqual([])
  })

  it('names file and line of syntax errors, top-level await and imports that resolve to nothing or leave the release', async () => {
    const dir = await release('v1', {
      'broken.ts': `export const a = 1\nexport const b: = 2\n`,
      'waits.mts': `const x = 1\nexport const config = await load()\nasync function load() { return x }`,
      'imports.mjs': `import { a } from './broken.ts'\nimport { gone } from './missing.mjs'\nimport { up } from '../outside.mjs'\nexport { a, gone, up }`,
      'bad.cjs': `exports.x = (`,
    })
    const check = await checkRelease(dir)
    expect(check.ok).toBe(false)
    expect(check.problems.map(({ kind, file, line }) => `${kind} ${file}:${line}`)).toEqual([
      'syntax bad.cjs:1',
      'syntax broken.ts:2',
      'unresolved-import imports.mjs:2',
      'import-outside-release imports.mjs:3',
      'top-level-await waits.mts:2',
    ])
    expect(check.problems.find((problem) => problem.kind === 'top-level-await')).toMatchObject({ column: 23 })
    expect(check.problems.find((problem) => problem.kind === 'unresolved-import')?.message).toMatch(
      /Cannot find module '\.\/missing\.mjs'/,
    )
  })

  it('reports exactly what the engine refuses to load, with the same location', async () => {
    const dir = await release('v1', {
      'main.mjs': `import './ok.mjs'\n\nimport { x } from './nope.mjs'\nexport { x }`,
      'ok.mjs': '',
    })
    const check = await checkRelease(dir)
    const error = (await createSwapEngine({ releaseDir: dir }).catch((e: unknown) => e)) as ReleaseLoadError
    expect(error).toBeInstanceOf(ReleaseLoadError)
    expect(check.problems).toHaveLength(1)
    expect(check.problems[0]).toMatchObject({ file: 'main.mjs', line: 3, column: 19 })
    expect(error.message).toContain(
      `main.mjs:3:19: ${check.problems[0]!.message.replace('release v1', 'release base')}`,
    )
  })

  it('with entries, checks only them and what they import or require', async () => {
    const dir = await release('v1', {
      'main.cjs': `module.exports = require('./dep.cjs')`,
      'dep.cjs': `module.exports = () => import('./late.mjs')`,
      'late.mjs': 'export default 1',
      'script.cjs': `this is a CLI script the server never loads (`,
    })
    const check = await checkRelease(dir, { entries: ['main.cjs'] })
    expect(check).toMatchObject({ ok: true, problems: [], modules: ['dep.cjs', 'main.cjs'] })
  })

  it('given the release the machines run, names what they would refuse as restart-required', async () => {
    const addon = (build: string) => Buffer.from(`\x7fELF fake native addon, build ${build}`)
    const common = { 'fast.node': addon('1'), 'untouched.cjs': `module.exports = require('./fast.node')` }
    const before = await release('v1', {
      ...common,
      'uses.cjs': `exports.helper = require('./helper.cjs')\nexports.fast = require('./fast.node')`,
      'helper.cjs': 'module.exports = 1',
    })
    const after = await release('v2', {
      ...common,
      'uses.cjs': `exports.helper = require('./helper.cjs')\nexports.fast = require('./fast.node')`,
      'helper.cjs': 'module.exports = 2',
      'lib/extra.node': addon('x'),
    })
    const previous = (await checkRelease(before)).manifest!
    // Without knowing what the machines run, nothing can be said.
    expect((await checkRelease(after)).ok).toBe(true)
    const check = await checkRelease(after, { previous })
    expect(check.problems.map(({ kind, file, line, column }) => `${kind} ${file}:${line}:${column}`)).toEqual(
      ['restart-required lib/extra.node:undefined:undefined', 'restart-required uses.cjs:2:16'],
    )
    expect(check.problems[0]!.message).toMatch(/^native addon added since the release the machines run/)
    expect(check.problems[1]!.message).toMatch(
      /requires the native addon \.\/fast\.node.*\(it imports a changed module\).*restart-required/,
    )
  })

  it('refuses a release directory the machines would refuse (a link out)', async () => {
    const elsewhere = await release('elsewhere', { 'x.js': '' })
    const dir = await release('v1', { 'a.js': '' })
    await symlink(join(elsewhere, 'x.js'), join(dir, 'x.js'))
    const check = await checkRelease(dir)
    expect(check.ok).toBe(false)
    expect(check.problems[0]).toMatchObject({ kind: 'release-tree', file: '' })
    expect(check.problems[0]!.message).toMatch(/outside the directory/)
    expect(dirname(dir)).toBe(dirname(elsewhere))
  })
})
