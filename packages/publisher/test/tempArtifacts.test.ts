import { spawnSync } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { removeOwnTempArtifactsSync } from '../src/index.js'
import { sweepTempArtifacts, tempArtifactPath } from '../src/tempArtifacts.js'
import { tempDir } from './helpers.js'

describe('temporary artifacts', () => {
  it('are named with the publisher’s pid; those of dead publishers are swept, live ones kept', async () => {
    const dir = await tempDir('tmp')
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!
    const mine = tempArtifactPath(dir)
    expect(mine).toMatch(new RegExp(`relup-publish-${process.pid}-[0-9a-f]{16}\\.tgz$`))
    const names = [
      `relup-publish-${dead}-00aa11bb22cc33dd.tgz`,
      `.relup-publish-${dead}-00aa11bb22cc33dd.tgz.0123456789ab.partial`,
      `relup-publish-${process.ppid}-00aa11bb22cc33dd.tgz`,
      'relup-publish-notapid.tgz',
      'unrelated.tgz',
    ]
    for (const name of [...names, mine.slice(dir.length + 1)]) await writeFile(join(dir, name), 'x')
    expect((await sweepTempArtifacts(dir)).sort()).toEqual(names.slice(0, 2).sort())
    expect((await readdir(dir)).sort()).toEqual([...names.slice(2), mine.slice(dir.length + 1)].sort())
    removeOwnTempArtifactsSync(dir)
    expect((await readdir(dir)).sort()).toEqual(names.slice(2).sort())
  })
})
