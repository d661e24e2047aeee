import { spawnSync } from 'node:child_process'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCurrentPointer, readDocument, relupKeys } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { openStorage } from '../src/index.js'
import { tempDir } from './helpers.js'

const packageDir = fileURLToPath(new URL('..', import.meta.url))

describe('the README', () => {
  it('its example publishes a directory to a file:// store as written (against the built package)', async () => {
    const readme = await readFile(join(packageDir, 'README.md'), 'utf8')
    const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(example).toContain("from '@relup/publisher'")
    const dir = await tempDir('readme')
    await mkdir(join(dir, 'node_modules', '@relup'), { recursive: true })
    await symlink(packageDir, join(dir, 'node_modules', '@relup', 'publisher'))
    await writeFile(join(dir, 'publish.mjs'), example!)
    const run = spawnSync(process.execPath, ['publish.mjs'], { cwd: dir, encoding: 'utf8', timeout: 30_000 })
    expect(run.status, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^v2 is upgrade [0-9A-Z]{26}, ok: true$/m)
    const storage = await openStorage('file://./.relup', { cwd: dir })
    const read = await readDocument(storage, relupKeys('chat').current, parseCurrentPointer)
    expect(read.status === 'ok' && read.document.hot?.version).toBe('v2')
  })
})
