// A test the adapter cannot run must be reported by the runner as skipped: a pass would claim a
// capability was proven when it was never exercised. Checked with each runner's own output.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'

const packageDir = join(import.meta.dirname, '..')
const CONDITIONAL_DELETE = 'a conditional delete only removes the expected version'
const HONESTY = 'every capability declared unsupported throws when asked, never ignored'

interface JsonReport {
  testResults: { assertionResults: { title: string; status: string }[] }[]
}

/** Run one test file in a fresh vitest and return its JSON report. */
function runVitest(file: string): JsonReport {
  const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs')
  const out = mkdtempSync(join(tmpdir(), 'relup-vitest-report-'))
  try {
    // The outer vitest's variables would make the inner one think it is a worker.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')))
    const result = spawnSync(
      process.execPath,
      [
        vitest,
        'run',
        file,
        '--root',
        packageDir,
        '--reporter=json',
        `--outputFile=${join(out, 'report.json')}`,
      ],
      { encoding: 'utf8', env, timeout: 60_000 },
    )
    expect(result.status, result.stderr.slice(-2000)).toBe(0)
    return JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as JsonReport
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

describe('the tests of a capability the adapter does not declare', () => {
  it('are reported as skipped by vitest, never as passed', () => {
    const report = runVitest('test/conformance-without-conditional-delete.test.ts')
    const results = report.testResults.flatMap((file) => file.assertionResults)
    const titles = (status: string) => results.filter((r) => r.status === status).map((r) => r.title)
    expect(titles('skipped')).toEqual([CONDITIONAL_DELETE])
    expect(titles('failed')).toEqual([])
    expect(titles('passed')).toContain(HONESTY)
    expect(titles('passed').length).toBeGreaterThanOrEqual(25)
  }, 60_000)

  it('are reported as skipped by node:test, never as passed', () => {
    const result = spawnSync(
      process.execPath,
      ['--test', '--test-reporter=tap', join(import.meta.dirname, 'fixtures', 'node-test-runner.mjs')],
      { encoding: 'utf8', env: { ...process.env, RELUP_WITHOUT_CONDITIONAL_DELETE: '1' }, timeout: 60_000 },
    )
    expect(result.status, result.stdout.slice(-2000)).toBe(0)
    const lines = result.stdout.split('\n').map((line) => line.trim())
    expect(lines.filter((line) => line.endsWith('# SKIP'))).toEqual([
      expect.stringMatching(new RegExp(`^ok \\d+ - ${CONDITIONAL_DELETE} # SKIP$`)),
    ])
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok \\d+ - ${HONESTY}$`)))
    expect(lines).toContain('# skipped 1')
    expect(lines).toContain('# fail 0')
  }, 60_000)
})
