// The suite is runner-agnostic: the same call works with node:test's describe/it.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const fixture = join(import.meta.dirname, 'fixtures', 'node-test-runner.mjs')
const runNodeTest = (env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--test', '--test-reporter=tap', fixture], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  })

describe('the conformance suite under node:test', () => {
  it('passes the memory adapter', () => {
    const result = runNodeTest()
    expect(result.status, result.stdout.slice(-2000)).toBe(0)
    expect(result.stdout).toMatch(/# pass (2[0-9]|[3-9][0-9])/)
    expect(result.stdout).toMatch(/# fail 0/)
  })

  it('fails an adapter that ignores ifMatch', () => {
    const result = runNodeTest({ RELUP_BROKEN: '1' })
    expect(result.status).not.toBe(0)
    expect(result.stdout).toMatch(/not ok \d+ - 20 concurrent puts with the same ifMatch: exactly one wins/)
  })
})
