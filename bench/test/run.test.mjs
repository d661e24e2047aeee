// The benchmark runner (`npm run bench -- <names> <flags>`): names pick benchmarks, and the
// first flag and everything after it reach each benchmark unchanged.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const runner = join(dirname(fileURLToPath(import.meta.url)), '..', 'run.mjs')
const dir = mkdtempSync(join(tmpdir(), 'relup-bench-runner-'))
// Two stand-in benchmarks that record the arguments they were started with.
for (const name of ['alpha', 'beta']) {
  writeFileSync(
    join(dir, `${name}.bench.mjs`),
    `import { appendFileSync } from 'node:fs'\n` +
      `appendFileSync(${JSON.stringify(join(dir, 'calls.jsonl'))}, JSON.stringify({ name: '${name}', args: process.argv.slice(2) }) + '\\n')\n`,
  )
}
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function run(...args) {
  rmSync(join(dir, 'calls.jsonl'), { force: true })
  const result = spawnSync(process.execPath, [runner, ...args], {
    env: { ...process.env, RELUP_BENCH_DIR: dir },
    encoding: 'utf8',
  })
  let calls = []
  try {
    calls = readFileSync(join(dir, 'calls.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
  } catch {}
  return { status: result.status, stderr: result.stderr, calls }
}

describe('bench/run.mjs', () => {
  it('passes the flags after the names on to the benchmark, values included', () => {
    const { status, calls } = run('beta', '--only', 'fs', '--artifact', '--machines', '100')
    expect(status).toBe(0)
    expect(calls).toEqual([{ name: 'beta', args: ['--only', 'fs', '--artifact', '--machines', '100'] }])
  })

  it('runs every benchmark with the flags when no name is given', () => {
    const { status, calls } = run('--quick')
    expect(status).toBe(0)
    expect(calls).toEqual([
      { name: 'alpha', args: ['--quick'] },
      { name: 'beta', args: ['--quick'] },
    ])
  })

  it('starts benchmarks without flags as before', () => {
    const { calls } = run('alpha', 'beta')
    expect(calls).toEqual([
      { name: 'alpha', args: [] },
      { name: 'beta', args: [] },
    ])
  })

  it('refuses an unknown name, listing the available ones, and runs nothing', () => {
    const { status, stderr, calls } = run('alpha', 'gamma', '--quick')
    expect(status).toBe(2)
    expect(stderr).toContain('unknown benchmark(s): gamma; available: alpha, beta')
    expect(calls).toEqual([])
  })
})
