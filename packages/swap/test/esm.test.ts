/**
 * ES modules and TypeScript as hot code, beside CommonJS: the module format follows Node's rules
 * inside the release, ES module semantics hold (live bindings, one instance per release, cycles),
 * and CommonJS and ES modules interoperate as they do in Node.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createSwapEngine, HotModuleError, ReleaseLoadError } from '../src/index.js'
import { recordingLogger, useReleases } from './helpers.js'

const { release } = useReleases()

describe('ES modules and TypeScript', () => {
  it('evaluates named, default, export * and import * as, between .mjs, .ts and .mts files', async () => {
    const dir = await release('v1', {
      'lib/math.mts': `export const add = (a: number, b: number): number => a + b\nexport default 'math'`,
      'lib/strings.mjs': `export const shout = (s) => s.toUpperCase() + '!'`,
      'lib/index.ts': `export * from './math.mjs'\nexport * from './strings.mjs'\nexport { default as name } from './math.mjs'`,
      'package.json': JSON.stringify({ type: 'module' }),
      'app.ts': `
        import * as lib from './lib/index.js'
        import { add } from './lib/index.ts'
        interface Greeting { text: string }
        export default function greet(who: string): Greeting {
          return { text: lib.shout('hi ' + who) + ' ' + add(1, 2) + ' ' + lib.name }
        }
        export const keys = Object.keys(lib).sort()`,
    })
    const engine = await createSwapEngine({ releaseDir: dir, version: 'v1' })
    const app = engine.module('app.ts')
    expect(app('ada')).toEqual({ text: 'HI ADA! 3 math' })
    expect(app.keys).toEqual(['add', 'name', 'shout'])
    expect(app.default).toBeTypeOf('function')
    await engine.close()
  })

  it('follows the nearest package.json type inside the release; .mjs/.mts are always ESM, .cjs/.cts always CommonJS', async () => {
    const dir = await release('v1', {
      'package.json': JSON.stringify({ type: 'module' }),
      'esm.js': `export const kind = typeof module === 'undefined' ? 'esm' : 'cjs'`,
      'legacy/package.json': JSON.stringify({ type: 'commonjs' }),
      'legacy/old.js': `exports.kind = typeof module === 'object' ? 'cjs' : 'esm'`,
      'legacy/new.mjs': `export const kind = 'esm'`,
      'always.cjs': `exports.kind = 'cjs'`,
      'always.cts': `const kind: string = 'cjs'; exports.kind = kind`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(engine.module('esm.js').kind).toBe('esm')
    expect(engine.module('legacy/old.js').kind).toBe('cjs')
    expect(engine.module('legacy/new.mjs').kind).toBe('esm')
    expect(engine.module('always.cjs').kind).toBe('cjs')
    expect(engine.module('always.cts').kind).toBe('cjs')
    await engine.close()
  })

  it('detects ES module syntax in .js/.ts files whose package.json has no type, as Node does', async () => {
    const dir = await release('v1', {
      'plain.js': `exports.kind = 'cjs'`,
      'modern.js': `export const kind = 'esm'`,
      'modern.ts': `const kind: string = 'esm ts'\nexport { kind }`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(engine.module('plain.js').kind).toBe('cjs')
    expect(engine.module('modern.js').kind).toBe('esm')
    expect(engine.module('modern.ts').kind).toBe('esm ts')
    await engine.close()
  })

  it('keeps live bindings: an exported let that changes is seen by importers', async () => {
    const dir = await release('v1', {
      'counter.mjs': `export let count = 0\nexport function increment() { count += 1 }`,
      'reader.mjs': `import { count, increment } from './counter.mjs'\nexport const read = () => count\nexport { increment }`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    const reader = engine.module('reader.mjs')
    expect(reader.read()).toBe(0)
    reader.increment()
    reader.increment()
    expect(reader.read()).toBe(2)
    expect(engine.module('counter.mjs').count).toBe(2)
    await engine.close()
  })

  it('evaluates each module once per release, and handles import cycles', async () => {
    const dir = await release('v1', {
      'a.mjs': `import { b } from './b.mjs'\nglobalThis.__relupEsmOnce.push('a')\nexport function a() { return 'a' + b() }\nexport const fromB = () => b()`,
      'b.mjs': `import { a } from './a.mjs'\nglobalThis.__relupEsmOnce.push('b')\nexport function b() { return 'b' }\nexport const callA = () => a()`,
      'c.mjs': `import './a.mjs'\nimport './b.mjs'\nglobalThis.__relupEsmOnce.push('c')`,
    })
    const evaluated: string[] = []
    ;(globalThis as Record<string, unknown>).__relupEsmOnce = evaluated
    const engine = await createSwapEngine({ releaseDir: dir, entries: ['c.mjs'] })
    expect(evaluated).toEqual(['b', 'a', 'c'])
    expect(engine.module('a.mjs').a()).toBe('ab')
    expect(engine.module('b.mjs').callA()).toBe('ab')
    await engine.close()
  })

  it('gives import.meta.url, dirname, filename and resolve', async () => {
    const dir = await release('v1', {
      'sub/where.mjs': `export const meta = { url: import.meta.url, dirname: import.meta.dirname, filename: import.meta.filename, sibling: import.meta.resolve('./x.mjs') }`,
      'sub/x.mjs': 'export {}',
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(engine.module('sub/where.mjs').meta).toEqual({
      url: pathToFileURL(join(dir, 'sub/where.mjs')).href,
      dirname: join(dir, 'sub'),
      filename: join(dir, 'sub/where.mjs'),
      sibling: pathToFileURL(join(dir, 'sub/x.mjs')).href,
    })
    await engine.close()
  })

  it("imports hot files dynamically through the release's own cache, and host packages through Node", async () => {
    const dir = await release('v1', {
      'lazy.mts': `export const value: string = 'lazy'\nexport default 7`,
      'loader.mjs': `
        export const loadHot = async () => { const m = await import('./lazy.mts'); return [m.value, m.default] }
        export const loadHost = async () => (await import('node:path')).sep
        export const sameInstance = async () => (await import('./lazy.mts')) === (await import('./lazy.mts'))`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    const loader = engine.module('loader.mjs')
    expect(await loader.loadHot()).toEqual(['lazy', 7])
    expect(await loader.loadHost()).toBe('/')
    expect(await loader.sameInstance()).toBe(true)
    await engine.close()
  })

  it('lets CommonJS require ES modules and ES modules import CommonJS and JSON, as in Node', async () => {
    const dir = await release('v1', {
      'esm.mjs': `export default function hello() { return 'hello' }\nexport const named = 1`,
      'legacy.cjs': `const esm = require('./esm.mjs')\nexports.viaRequire = [esm.__esModule, esm.default(), esm.named]\nexports.helper = () => 'helper'`,
      'fn.cjs': `module.exports = function fn() { return 'fn' }\nmodule.exports.extra = 'extra'`,
      'config.json': '{ "port": 3000 }',
      'app.mjs': `
        import legacy, { helper } from './legacy.cjs'
        import fn, { extra } from './fn.cjs'
        import config from './config.json'
        import { EventEmitter } from 'node:events'
        export const seen = [legacy.viaRequire, helper(), fn(), extra, config.port, typeof EventEmitter]`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(engine.module('app.mjs').seen).toEqual([
      [true, 'hello', 1],
      'helper',
      'fn',
      'extra',
      3000,
      'function',
    ])
    await engine.close()
  })

  it('fails to load an import of a name the module does not export, naming both', async () => {
    const dir = await release('v1', {
      'a.mjs': `export const real = 1`,
      'b.mjs': `import { missing } from './a.mjs'\nexport const x = missing`,
    })
    const error = await createSwapEngine({ releaseDir: dir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ReleaseLoadError)
    expect((error as Error).message).toMatch(
      /'\.\/a\.mjs' does not provide an export named 'missing' \(imported by b\.mjs\)/,
    )
  })

  it('refuses top-level await with the file and line, before anything of the module runs', async () => {
    const dir = await release('v1', {
      'db.ts': `const url: string = 'postgres://'\n\nexport const pool = await connect(url)\nasync function connect(u: string) { return u }`,
    })
    const error = await createSwapEngine({ releaseDir: dir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ReleaseLoadError)
    expect((error as Error).message).toContain('db.ts:3:')
    expect((error as Error).message).toMatch(/top-level await is not supported in hot modules/)
    const cause = (error as Error).cause
    expect(cause).toBeInstanceOf(HotModuleError)
    expect((cause as HotModuleError).problem).toMatchObject({
      kind: 'top-level-await',
      file: 'db.ts',
      line: 3,
    })
  })

  it('reports TypeScript syntax errors at the line of the source', async () => {
    const dir = await release('v1', { 'broken.ts': `const ok = 1\nconst bad: = 2\n` })
    const error = await createSwapEngine({ releaseDir: dir }).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/broken\.ts:2:\d+: SyntaxError/)
  })

  it('calls the default export through a module handle, and a CommonJS exports.default from tsc', async () => {
    const dir = await release('v1', {
      'routes.mjs': `export default function router(path) { return 'route ' + path }\nexport const prefix = '/api'`,
      // What tsc emits for `export default router` with "module": "commonjs".
      'compiled.js': `"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nfunction router(p) { return 'compiled ' + p }\nexports.default = router;\nexports.version = 2;`,
      'values.mjs': `export const only = 'named'`,
    })
    const engine = await createSwapEngine({ releaseDir: dir, version: 'v1' })
    const routes = engine.module('routes.mjs')
    expect(routes('/x')).toBe('route /x')
    expect(routes.prefix).toBe('/api')
    expect(routes.default('/y')).toBe('route /y')
    const compiled = engine.module('compiled.js')
    expect(compiled('/z')).toBe('compiled /z')
    expect(compiled.version).toBe(2)
    expect(() => engine.module('values.mjs')()).toThrow(
      /exports an ES module without a default export function/,
    )
    await engine.close()
  })

  it('a handle of a default export has its length and name (Express tells error handlers by arity)', async () => {
    const dir = await release('v1', {
      'errors.mjs': `export default function onError(err, req, res, next) { return 'handled ' + err }`,
      'compiled.js': `"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = function notFound(req, res) {};`,
      'named.mjs': `export default function plain(a) { return a }\nexport const name = 'exported name'`,
    })
    const engine = await createSwapEngine({ releaseDir: dir, version: 'v1' })
    const onError = engine.module('errors.mjs')
    expect(onError.length).toBe(4)
    expect(onError.name).toBe('onError')
    expect(engine.module('compiled.js').length).toBe(2)
    expect(engine.module('compiled.js').name).toBe('notFound')
    // An exported binding of that name wins: it is what `import { name }` reads.
    expect(engine.module('named.mjs').name).toBe('exported name')
    expect(engine.module('named.mjs').length).toBe(1)
    await engine.close()
  })

  it('upgrades ES module units and shares unchanged ES modules with the next release', async () => {
    const unit = (version: string) => `
      import { label } from './label.mts'
      export const units = {
        counter: {
          init: () => ({ count: 0 }),
          create: (ctx: { state: { count: number } }) => ({
            inc: () => label('${version}') + ':' + ++ctx.state.count,
          }),
        },
      }`
    const label = `export const label = (v: string): string => '[' + v + ']'\nexport const identity = Math.random()`
    const v1 = await release('v1', { 'counter.mts': unit('v1'), 'label.mts': label })
    const v2 = await release('v2', { 'counter.mts': unit('v2'), 'label.mts': label })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', logger: recordingLogger() })
    const identity = engine.module('label.mts').identity
    const counter = engine.unit('counter')
    expect(await counter.inc()).toBe('[v1]:1')
    const stats = await engine.upgrade(v2, { version: 'v2' })
    expect(stats.moduleNames).toEqual(['counter.mts'])
    expect(await counter.inc()).toBe('[v2]:2')
    expect(engine.module('label.mts').identity).toBe(identity)
    await engine.close()
  })

  it('re-evaluates the .js/.ts files whose package.json type changed, in their new format', async () => {
    const v1 = await release('v1', {
      'lib/package.json': '{}',
      'lib/kind.js': `exports.kind = typeof module`,
    })
    const v2 = await release('v2', {
      'lib/package.json': '{"type":"module"}',
      'lib/kind.js': `exports.kind = typeof module`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, logger: recordingLogger() })
    expect(engine.module('lib/kind.js').kind).toBe('object')
    // As an ES module the same text fails: `exports` is not defined there, as in Node.
    await expect(engine.upgrade(v2)).rejects.toMatchObject({ phase: 'prepare', module: 'lib/kind.js' })
    await engine.close()
  })

  it('resolves a .js import to the TypeScript source the release ships (TypeScript convention)', async () => {
    const dir = await release('v1', {
      'util.ts': `export const twice = (n: number) => n * 2`,
      'main.ts': `import { twice } from './util.js'\nexport const four = twice(2)`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(engine.module('main.ts').four).toBe(4)
    await engine.close()
  })
})
