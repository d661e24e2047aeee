import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Registers work to run once the current test is over. testkit does not know the test runner:
 * each suite passes its own (one that runs the registered functions after every test).
 */
export type OnCleanup = (cleanup: () => Promise<unknown>) => void

export interface TestDirs {
  /** A fresh directory `relup-<label>-…` under the OS temp dir, removed at cleanup. */
  tempDir(label?: string): Promise<string>
  /**
   * A hot code directory to publish: `handler.js` exports a function that returns `version`;
   * `extra` maps more relative paths to their content (parent directories are created).
   */
  hotDir(version: string, extra?: Record<string, string>): Promise<string>
}

/** Temporary directories for one suite; `defaultLabel` names the ones made without a label. */
export function testDirs(onCleanup: OnCleanup, defaultLabel: string): TestDirs {
  async function tempDir(label = defaultLabel): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `relup-${label}-`))
    onCleanup(() => rm(dir, { recursive: true, force: true }))
    return dir
  }

  async function hotDir(version: string, extra: Record<string, string> = {}): Promise<string> {
    const dir = await tempDir('hot')
    await writeFile(join(dir, 'handler.js'), `module.exports = () => ${JSON.stringify(version)}\n`)
    for (const [name, content] of Object.entries(extra)) {
      await mkdir(join(dir, name, '..'), { recursive: true })
      await writeFile(join(dir, name), content)
    }
    return dir
  }

  return { tempDir, hotDir }
}
