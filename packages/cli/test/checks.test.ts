/**
 * `relup pack` and `relup publish` load the hot code with the machines' own rules first: a
 * release the machines would refuse is stopped with exit code 2 (the input is wrong), each
 * problem named as file:line:column, before anything is written (no artifact, nothing in storage).
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { listAll, type Storage } from '@relup/core'
import { openStorage } from '@relup/publisher'
import { describe, expect, it } from 'vitest'
import { APP, bootPointer, cli, freshMemoryUrl, pointerOf, tempDir } from './helpers.js'

async function project(hot: Record<string, string>, installed: Record<string, string> = {}): Promise<string> {
  const root = await tempDir('project')
  for (const [path, content] of Object.entries(installed)) await put(join(root, path), content)
  for (const [path, content] of Object.entries(hot)) await put(join(root, 'hot', path), content)
  return join(root, 'hot')
}

async function put(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, content)
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

async function contents(storage: Storage): Promise<string[]> {
  const items: string[] = []
  for await (const item of listAll(storage, '')) items.push(`${item.key} ${item.etag}`)
  return items.sort()
}

/** ES modules and TypeScript with a syntax error, a missing relative import and a top-level await. */
const BROKEN = {
  'package.json': '{"type":"module"}',
  'src/routes.ts': 'export const a = 1\nexport const b: = 2\n',
  'src/app.js': "export const x = 1\nimport { helper } from './helpers.js'\n",
  'db.mts': 'const connect = async () => ({})\nexport const db = await connect()\n',
}

/** CommonJS, ES modules (a "type": "module" .js) and TypeScript, importing a host package. */
const GOOD = {
  'package.json': '{"type":"module"}',
  'handler.js':
    "import { greet } from './lib/greet.ts'\nimport _ from 'lodash'\nexport default (name) => greet(name)\n",
  'lib/greet.ts': "export const greet = (name: string): string => 'hello ' + name\n",
  'legacy.cjs': "module.exports = require('@acme/tools')\n",
}
const INSTALLED = {
  'node_modules/lodash/package.json': '{"name":"lodash","version":"4.17.21"}',
  'node_modules/lodash/index.js': 'module.exports = {}',
  'node_modules/@acme/tools/package.json': '{"name":"@acme/tools","version":"2.0.0","exports":"./main.js"}',
  'node_modules/@acme/tools/main.js': 'module.exports = {}',
}

describe('relup pack checks the hot code first', () => {
  it('a release the machines would refuse: exit 2, file:line:column of each problem, nothing written', async () => {
    const dir = await project(BROKEN)
    const out = join(await tempDir('pack'), 'a.tgz')
    const result = await cli(['pack', dir, '--out', out])
    expect(result.code).toBe(2)
    const lines = result.stderr.split('\n').map((line) => line.trim())
    expect(lines[0]).toMatch(
      /^error: .*hot has 3 problems the machines would refuse, so nothing was packed:$/,
    )
    expect(lines[1]).toMatch(/^db\.mts:2:19: top-level await is not supported in hot modules/)
    expect(lines[2]).toMatch(/^src\/app\.js:2:24: Cannot find module '\.\/helpers\.js'/)
    expect(lines[3]).toMatch(/^src\/routes\.ts:2:\d+: SyntaxError/)
    expect(result.stderr).toMatch(/--skip-checks/)
    expect(await exists(out)).toBe(false)
    expect(await exists(join(dirname(out), 'a.manifest.json'))).toBe(false)
  })

  it('--json lists the problems', async () => {
    const result = await cli([
      'pack',
      await project(BROKEN),
      '--out',
      join(await tempDir('pack'), 'a.tgz'),
      '--json',
    ])
    expect(result.code).toBe(2)
    const document = JSON.parse(result.stdout)
    expect(document).toMatchObject({ ok: false, error: expect.stringMatching(/3 problems/) })
    expect(
      document.problems.map(
        (p: { kind: string; file: string; line: number }) => `${p.kind} ${p.file}:${p.line}`,
      ),
    ).toEqual(['top-level-await db.mts:2', 'unresolved-import src/app.js:2', 'syntax src/routes.ts:2'])
  })

  it('a good mixed release packs, its manifest recording the host packages it imports', async () => {
    const out = join(await tempDir('pack'), 'a.tgz')
    const result = await cli(['pack', await project(GOOD, INSTALLED), '--out', out, '--json'])
    expect(result.code, result.stdout).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      checked: true,
      hostPackages: { '@acme/tools': '2.0.0', lodash: '4.17.21' },
      warnings: [],
    })
    const manifest = JSON.parse(await readFile(join(dirname(out), 'a.manifest.json'), 'utf8'))
    expect(manifest.hostPackages).toEqual({ '@acme/tools': '2.0.0', lodash: '4.17.21' })
    const human = await cli(['pack', await project(GOOD, INSTALLED), '--out', out])
    expect(human.stdout).toMatch(/^host packages: @acme\/tools 2\.0\.0, lodash 4\.17\.21 /m)
  })

  it('--skip-checks packs what the checks refuse', async () => {
    const out = join(await tempDir('pack'), 'a.tgz')
    const dir = await project(BROKEN)
    expect((await cli(['pack', dir, '--out', out])).code).toBe(2)
    const result = await cli(['pack', dir, '--out', out, '--skip-checks', '--json'])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, checked: false, hostPackages: {} })
    expect(await exists(out)).toBe(true)
  })
})

describe('relup publish checks the hot code before anything is written to storage', () => {
  it('a release the machines would refuse: exit 2, file and line, storage unchanged', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const before = await contents(storage)
    const result = await cli(['publish', await project(BROKEN), '--app', APP, '--storage', url, '--no-wait'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/so nothing was published:\n\s+db\.mts:2:19: top-level await/)
    expect(result.stderr).toMatch(/\n\s+src\/routes\.ts:2:\d+: SyntaxError/)
    expect(await contents(storage)).toEqual(before)
  })

  it('a good mixed release publishes, recording the host package versions', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const result = await cli([
      'publish',
      await project(GOOD, INSTALLED),
      '--app',
      APP,
      '--storage',
      url,
      '--no-wait',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect((await pointerOf(storage)).hot?.manifest.hostPackages).toEqual({
      '@acme/tools': '2.0.0',
      lodash: '4.17.21',
    })
  })

  it('--skip-checks publishes what the checks refuse', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const args = ['publish', await project(BROKEN), '--app', APP, '--storage', url, '--no-wait']
    expect((await cli(args)).code).toBe(2)
    const result = await cli([...args, '--skip-checks'])
    expect(result.code, result.stderr).toBe(0)
    expect((await pointerOf(storage)).hot?.manifest.hostPackages).toBeUndefined()
  })
})
