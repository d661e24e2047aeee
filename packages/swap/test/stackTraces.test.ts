/**
 * An error thrown in hot TypeScript or ES module code reports the file users know and its
 * original line, before and after upgrades, with and without `--enable-source-maps`, and the cold
 * code's own traces (Node's source maps included) stay as they were.
 */
import { join } from 'node:path'
import { transformSync } from 'oxc-transform'
import { describe, expect, it } from 'vitest'
import { createSwapEngine } from '../src/index.js'
import { useChildEngine } from './childEngine.js'
import { useReleases } from './helpers.js'

const { release } = useReleases()
const child = useChildEngine()

/** `boom.ts` throws on line `line` (1-based). */
const boom = (line: number) =>
  `${'\n'.repeat(line - 4)}interface Reason { text: string }\nexport function boom(reason: Reason): never {\n  const text: string = reason.text\n  throw new Error(text)\n}\n`

function stackOf(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    return (error as Error).stack ?? ''
  }
  throw new Error('did not throw')
}

/** What tsc emits for a CommonJS file with `"sourceMap": true`: the JS, and a map naming `../src/<name>.ts`. */
function compiledWithMap(name: string, typescript: string, inline = false): Record<string, string> {
  const { code, map } = transformSync(`${name}.ts`, typescript, { sourcemap: true, sourceType: 'commonjs' })
  const shipped = JSON.stringify({ ...map, sources: [`../src/${name}.ts`], sourcesContent: undefined })
  if (inline) {
    const url = `data:application/json;charset=utf-8;base64,${Buffer.from(shipped).toString('base64')}`
    return { [`${name}.js`]: `${code}\n//# sourceMappingURL=${url}\n` }
  }
  return { [`${name}.js`]: `${code}\n//# sourceMappingURL=${name}.js.map\n`, [`${name}.js.map`]: shipped }
}

const cjsBoom = `"use strict";\nexports.boom = boom;\ninterface Reason { text: string }\n\nfunction boom(reason: Reason): never {\n  throw new Error(reason.text)\n}\n`

describe('stack traces of hot code', () => {
  it('point at the TypeScript line, by release-relative path, before and after an upgrade', async () => {
    const v1 = await release('v1', { 'src/boom.ts': boom(7) })
    const v2 = await release('v2', { 'src/boom.ts': boom(12) })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const handle = engine.module('src/boom.ts')
    expect(stackOf(() => handle.boom({ text: 'v1' }))).toMatch(/boom \(src\/boom\.ts:7:9\)/)
    await engine.upgrade(v2, { version: 'v2' })
    const after = stackOf(() => handle.boom({ text: 'v2' }))
    expect(after).toMatch(/boom \(src\/boom\.ts:12:9\)/)
    expect(after).not.toContain(v2)
    await engine.close()
  })

  it('point at the line of an ES module the engine transformed', async () => {
    const dir = await release('v1', {
      'lib/fail.mjs': `import { join } from 'node:path'\n\nexport const fail = () => {\n  join('a', 'b')\n  throw new TypeError('here')\n}\n`,
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(stackOf(() => engine.module('lib/fail.mjs').fail())).toMatch(/lib\/fail\.mjs:5:9/)
    await engine.close()
  })

  it("use the source maps shipped with the release (tsc's .js.map files and inline maps)", async () => {
    const dir = await release('v1', {
      ...compiledWithMap('boom', cjsBoom),
      ...compiledWithMap('inline', cjsBoom.replace('reason.text', "'inline ' + reason.text"), true),
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(stackOf(() => engine.module('boom.js').boom({ text: 'x' }))).toMatch(
      /boom \(\.\.\/src\/boom\.ts:6:9\)/,
    )
    expect(stackOf(() => engine.module('inline.js').boom({ text: 'x' }))).toMatch(/\.\.\/src\/inline\.ts:6:9/)
    await engine.close()
  })

  it('chain a shipped map behind the engine transform (tsc emitting ES modules)', async () => {
    const esm = `export function boom(reason: { text: string }): never {\n\n  throw new Error(reason.text)\n}\n`
    const { code, map } = transformSync('boom.ts', esm, { sourcemap: true, sourceType: 'module' })
    const dir = await release('v1', {
      'package.json': '{"type":"module"}',
      'boom.js': `${code}//# sourceMappingURL=boom.js.map\n`,
      'boom.js.map': JSON.stringify({ ...map, sources: ['../src/boom.ts'] }),
    })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(stackOf(() => engine.module('boom.js').boom({ text: 'x' }))).toMatch(/\.\.\/src\/boom\.ts:3:9/)
    await engine.close()
  })

  it('are left as they are for plain JavaScript (no map needed)', async () => {
    const dir = await release('v1', { 'plain.js': `\n\nexports.fail = () => { throw new Error('plain') }` })
    const engine = await createSwapEngine({ releaseDir: dir })
    expect(stackOf(() => engine.module('plain.js').fail())).toContain(`${join(dir, 'plain.js')}:3:30`)
    await engine.close()
  })
})

describe('stack traces in a plain Node process', () => {
  /** A cold CommonJS file with an inline map to `cold.ts`, as a build tool would emit it. */
  const cold = (() => {
    const { code, map } = transformSync(
      'cold.ts',
      `\n\nexports.coldFail = (): never => {\n  throw new Error('cold')\n}\n`,
      {
        sourcemap: true,
        sourceType: 'commonjs',
      },
    )
    const url = `data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}`
    return `${code}\n//# sourceMappingURL=${url}\n`
  })()

  const script = (releaseDir: string, upgradeDir: string, coldFile: string) => `
    import { writeFileSync } from 'node:fs'
    import { createRequire } from 'node:module'
    const { createSwapEngine } = await import(ENGINE)
    const stack = (run) => { try { run() } catch (e) { return e.stack.split('\\n').slice(0, 3).join(' | ') } }
    writeFileSync(${JSON.stringify(coldFile)}, ${JSON.stringify(cold)})
    const engine = await createSwapEngine({ releaseDir: ${JSON.stringify(releaseDir)}, version: 'v1', logger: {} })
    console.log('hot:', stack(() => engine.module('src/boom.ts').boom({ text: 'hot' })))
    await engine.upgrade(${JSON.stringify(upgradeDir)}, { version: 'v2' })
    console.log('upgraded:', stack(() => engine.module('src/boom.ts').boom({ text: 'hot' })))
    console.log('cold:', stack(() => createRequire(import.meta.url)(${JSON.stringify(coldFile)}).coldFail()))
    await engine.close()`

  it.each([
    ['without --enable-source-maps', [], /cold\.cjs:\d+:\d+\)/],
    ['with --enable-source-maps', ['--enable-source-maps'], /cold\.ts:4:9/],
  ])('map hot frames %s, and leave the cold frames to Node', async (_, flags, coldFrame) => {
    const v1 = await release('v1', { 'src/boom.ts': boom(6) })
    const v2 = await release('v2', { 'src/boom.ts': boom(9) })
    const { stdout } = await child.runScript(script(v1, v2, join(v1, '..', 'cold.cjs')), flags)
    const lines = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
    )
    expect(lines.hot).toMatch(/Error: hot \| +at .*boom \(src\/boom\.ts:6:9\)/)
    expect(lines.upgraded).toMatch(/boom \(src\/boom\.ts:9:9\)/)
    expect(lines.cold).toMatch(coldFrame)
  })
})
