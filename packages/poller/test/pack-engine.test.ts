// What `pack()` publishes is what the swap engine loads: one walker, one rule for links.
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pack } from '@relup/artifact'
import { createSwapEngine } from '@relup/swap'
import { describe, expect, it } from 'vitest'
import { onCleanup, tempDir, writeRelease } from './helpers.js'

const quiet = { warn() {}, error() {} }

describe('pack() and the swap engine', () => {
  it('agree on a hot directory with a symlinked directory inside it', async () => {
    const dir = await writeRelease(await tempDir(), 'v1')
    await mkdir(join(dir, 'lib', 'strings'), { recursive: true })
    await writeFile(join(dir, 'lib', 'greet.js'), "exports.greet = (name) => 'hello ' + name\n")
    await writeFile(join(dir, 'lib', 'strings', 'en.json'), '{ "hello": "hello" }\n')
    await symlink('lib', join(dir, 'shared'), 'dir')

    const packed = await pack(dir)
    onCleanup(() => rm(packed.path, { force: true }))
    expect(Object.keys(packed.manifest.files)).toEqual(
      expect.arrayContaining(['lib/greet.js', 'shared/greet.js', 'shared/strings/en.json']),
    )

    const engine = await createSwapEngine({ releaseDir: dir, logger: quiet })
    onCleanup(() => engine.close())
    expect(engine.manifest).toEqual(packed.manifest)

    const pinned = await createSwapEngine({ releaseDir: dir, manifest: packed.manifest, logger: quiet })
    onCleanup(() => pinned.close())
    expect(pinned.module<{ greet(name: string): string }>('shared/greet.js').greet('fleet')).toBe(
      'hello fleet',
    )
  })
})
