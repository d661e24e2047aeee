/**
 * Host packages (bare specifiers in hot code) resolve from the app, not from wherever the process
 * was started: a server started as `node /srv/app/server.mjs` from `/` finds `/srv/app/node_modules`.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { createSwapEngine } from '../src/index.js'
import { useReleases } from './helpers.js'

const run = promisify(execFile)
const swapEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url))
const { release } = useReleases()
const made: string[] = []
afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true })
})

/** An app directory: a cold entry that loads `hot/` with the engine's defaults, and a package of its own. */
async function app(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'relup-host-app-'))
  made.push(dir)
  await mkdir(join(dir, 'node_modules', 'greeting'), { recursive: true })
  await writeFile(
    join(dir, 'node_modules', 'greeting', 'package.json'),
    '{"name":"greeting","main":"index.js"}',
  )
  await writeFile(join(dir, 'node_modules', 'greeting', 'index.js'), 'module.exports = "hello from the app"')
  await mkdir(join(dir, 'hot'))
  await writeFile(join(dir, 'hot', 'handler.js'), 'module.exports = () => require("greeting")')
  await writeFile(
    join(dir, 'server.mjs'),
    `import { createSwapEngine } from ${JSON.stringify(swapEntry)}
const engine = await createSwapEngine({ releaseDir: new URL('./hot', import.meta.url).pathname })
console.log(engine.module('handler.js')())
await engine.close()
`,
  )
  return dir
}

describe('host packages', () => {
  it("resolve from the entry script's directory by default, whatever the working directory", async () => {
    const dir = await app()
    const elsewhere = await mkdtemp(join(tmpdir(), 'relup-host-cwd-'))
    made.push(elsewhere)
    const { stdout } = await run(process.execPath, [join(dir, 'server.mjs')], { cwd: elsewhere })
    expect(stdout.trim()).toBe('hello from the app')
  })

  it('imported by an ES module resolve through the host: an ES module package works, an import-only one fails clearly', async () => {
    const dir = await app()
    const packages = join(dir, 'node_modules')
    await mkdir(join(packages, 'esm-pkg'))
    await writeFile(
      join(packages, 'esm-pkg', 'package.json'),
      '{"name":"esm-pkg","type":"module","exports":"./index.js"}',
    )
    await writeFile(
      join(packages, 'esm-pkg', 'index.js'),
      'export default () => "esm default"; export const named = "esm named"',
    )
    await mkdir(join(packages, 'import-only'))
    await writeFile(
      join(packages, 'import-only', 'package.json'),
      '{"name":"import-only","type":"module","exports":{"import":"./index.js"}}',
    )
    await writeFile(join(packages, 'import-only', 'index.js'), 'export const only = "import only"')
    const hot = await release('v1', {
      'app.mjs': `import greeting from 'greeting'
import esm, { named } from 'esm-pkg'
export const seen = [greeting, esm(), named]
export const later = async () => (await import('import-only')).only`,
    })
    const engine = await createSwapEngine({ releaseDir: hot, resolveFrom: join(dir, 'server.mjs') })
    expect(engine.module('app.mjs').seen).toEqual(['hello from the app', 'esm default', 'esm named'])
    expect(await engine.module('app.mjs').later()).toBe('import only')
    await engine.close()

    const strict = await release('v2', {
      'app.mjs': `import { only } from 'import-only'
export { only }`,
    })
    const error = await createSwapEngine({ releaseDir: strict, resolveFrom: join(dir, 'server.mjs') }).catch(
      (e: unknown) => e,
    )
    expect((error as Error).message).toMatch(
      /host package 'import-only' imported by hot module app\.mjs cannot be loaded synchronously .*await import\('import-only'\)/,
    )
  })

  it('that cannot be found say where they were looked up and how to change it', async () => {
    const dir = await release('v1', {
      'handler.js': 'module.exports = () => require("no-such-package-here")',
    })
    const engine = await createSwapEngine({ releaseDir: dir, resolveFrom: dir, compile: 'lazy' })
    expect(() => engine.module('handler.js')()).toThrow(
      new RegExp(
        `Cannot find package 'no-such-package-here' required by hot module handler.js: host packages resolve from ${dir}.*resolveFrom: import.meta.url`,
      ),
    )
    await engine.close()
  })
})
