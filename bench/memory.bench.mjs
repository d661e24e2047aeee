// Memory: 1,000 upgrades, each to a distinct version (different source text) of a ~1 MB hot
// bundle. heapUsed after gc() at upgrade 0, 100 and 1,000, for relup's own evaluator and cache
// (a CommonJS bundle, and an ES module written in TypeScript that the engine transforms, with its
// transform cache and source maps) beside the naive approach users reach for: native `import()`
// of a new URL per version, which Node can never unload. Goal: relup grows ≤ 5 MB, both bundles.
// The naive side runs in a child process (its heap would otherwise pollute relup's numbers) and
// stops early if it runs out of its time budget; the rest is then extrapolated, and labelled so.
// Run: pnpm --filter @relup/swap build && node --expose-gc bench/memory.bench.mjs
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { bundleSource, writeBundleRelease, writeTypedBundleRelease } from './fixtures/swap/releases.mjs'
import { printTable, round, writeResult } from './lib.mjs'

const UPGRADES = 1_000
const CHECKPOINTS = [0, 100, 1_000]
const BUNDLE_BYTES = 1_000_000
const NAIVE_BUDGET_MS = 60_000
const GOAL_GROWTH_MB = 5

if (typeof globalThis.gc !== 'function') {
  console.error('run with --expose-gc (bench/run.mjs does)')
  process.exit(2)
}

const mb = (bytes) => bytes / 1024 / 1024

async function settledHeap() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

/** relup: alternate two release directories, each rewritten with the next version's bundle. */
async function measureRelup(root, typed) {
  const { createSwapEngine } = await import('@relup/swap')
  const dirs = [join(root, typed ? 'ts-a' : 'a'), join(root, typed ? 'ts-b' : 'b')]
  const writeBundle = typed ? writeTypedBundleRelease : writeBundleRelease
  writeBundle(dirs[0], 'v0', BUNDLE_BYTES)
  const logger = { debug() {}, info() {}, warn() {}, error: (message) => console.error(message) }
  const engine = await createSwapEngine({ releaseDir: dirs[0], version: 'v0', logger })
  const bundle = engine.module(typed ? 'bundle.ts' : 'bundle.js')
  const sessions = engine.unit('sessions')
  const samples = { 0: await settledHeap() }
  const started = performance.now()
  for (let n = 1; n <= UPGRADES; n++) {
    const dir = dirs[n % 2]
    writeBundle(dir, `v${n}`, BUNDLE_BYTES)
    await engine.upgrade(dir, { version: `v${n}` })
    bundle.handle({ n })
    await sessions.hit()
    if (CHECKPOINTS.includes(n)) samples[n] = await settledHeap()
  }
  const hits = await sessions.hit()
  if (bundle.version !== `v${UPGRADES}` || hits !== UPGRADES + 1)
    throw new Error('relup lost a version or state')
  const seconds = (performance.now() - started) / 1000
  await engine.close()
  return { samples, iterations: UPGRADES, seconds }
}

/** Naive: rewrite one ESM file and `import()` it with a new query string, as users do. Child process. */
async function measureNaive(root) {
  const file = join(root, 'bundle.mjs')
  const url = pathToFileURL(file).href
  const load = async (n) => {
    writeFileSync(file, bundleSource(`v${n}`, BUNDLE_BYTES, 'esm'))
    const module = await import(`${url}?v=${n}`)
    module.handle({ n })
    return module.version
  }
  await load(0)
  const samples = { 0: await settledHeap() }
  const started = performance.now()
  let n = 1
  for (; n <= UPGRADES; n++) {
    if ((await load(n)) !== `v${n}`) throw new Error('naive import() returned a stale version')
    if (CHECKPOINTS.includes(n)) samples[n] = await settledHeap()
    if (performance.now() - started > NAIVE_BUDGET_MS && n >= 200) break
  }
  const iterations = Math.min(n, UPGRADES)
  if (!(iterations in samples)) samples[iterations] = await settledHeap()
  return { samples, iterations, seconds: (performance.now() - started) / 1000 }
}

const root = mkdtempSync(join(tmpdir(), 'relup-memory-bench-'))
try {
  if (process.argv[2] === '--naive') {
    console.log(JSON.stringify(await measureNaive(root)))
  } else {
    const self = fileURLToPath(import.meta.url)
    const child = spawnSync(process.execPath, ['--expose-gc', self, '--naive'], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    })
    if (child.status !== 0) throw new Error(`naive side failed: ${child.stderr || child.signal}`)
    const naive = JSON.parse(child.stdout.trim().split('\n').at(-1))
    const relup = await measureRelup(root, false)
    const typed = await measureRelup(root, true)

    const heapAt = (side, n) => side.samples[n]
    const naiveAt1000 =
      heapAt(naive, UPGRADES) ??
      heapAt(naive, naive.iterations) +
        ((heapAt(naive, naive.iterations) - heapAt(naive, 100)) / (naive.iterations - 100)) *
          (UPGRADES - naive.iterations)
    const naiveExtrapolated = naive.iterations < UPGRADES
    const relupGrowth = mb(heapAt(relup, UPGRADES) - heapAt(relup, 0))
    const typedGrowth = mb(heapAt(typed, UPGRADES) - heapAt(typed, 0))
    const naiveGrowth = mb(naiveAt1000 - heapAt(naive, 0))
    const rows = [
      {
        approach: 'relup (own evaluator + per-release cache)',
        'heap@0_MB': round(mb(heapAt(relup, 0)), 1),
        'heap@100_MB': round(mb(heapAt(relup, 100)), 1),
        'heap@1000_MB': round(mb(heapAt(relup, UPGRADES)), 1),
        growth_MB: round(relupGrowth, 1),
        note: `${relup.iterations} upgrades measured in ${round(relup.seconds, 1)} s`,
      },
      {
        approach: 'relup, ES module + TypeScript bundle (transformed)',
        'heap@0_MB': round(mb(heapAt(typed, 0)), 1),
        'heap@100_MB': round(mb(heapAt(typed, 100)), 1),
        'heap@1000_MB': round(mb(heapAt(typed, UPGRADES)), 1),
        growth_MB: round(typedGrowth, 1),
        note: `${typed.iterations} upgrades measured in ${round(typed.seconds, 1)} s`,
      },
      {
        approach: 'naive import() of a new URL per version',
        'heap@0_MB': round(mb(heapAt(naive, 0)), 1),
        'heap@100_MB': round(mb(heapAt(naive, 100)), 1),
        'heap@1000_MB': `${round(mb(naiveAt1000), 1)}${naiveExtrapolated ? ' (extrapolated)' : ''}`,
        growth_MB: `${round(naiveGrowth, 1)}${naiveExtrapolated ? ' (extrapolated)' : ''}`,
        note: naiveExtrapolated
          ? `measured ${naive.iterations} imports in ${round(naive.seconds, 1)} s (heap ${round(mb(heapAt(naive, naive.iterations)), 1)} MB), then linear from 100→${naive.iterations}`
          : `${naive.iterations} imports measured in ${round(naive.seconds, 1)} s`,
      },
    ]
    printTable(
      rows,
      `Memory: ${UPGRADES} upgrades of a ~${BUNDLE_BYTES / 1e6} MB hot bundle, heapUsed after gc()`,
    )
    const met = relupGrowth <= GOAL_GROWTH_MB && typedGrowth <= GOAL_GROWTH_MB
    console.log(
      `\ngoal: relup heap growth ≤ ${GOAL_GROWTH_MB} MB over ${UPGRADES} upgrades → CommonJS ` +
        `${relupGrowth <= GOAL_GROWTH_MB ? 'met' : 'NOT met'}, ES module + TypeScript ${typedGrowth <= GOAL_GROWTH_MB ? 'met' : 'NOT met'}`,
    )
    writeResult('memory', {
      upgrades: UPGRADES,
      bundleBytes: BUNDLE_BYTES,
      goal: { growthMb: GOAL_GROWTH_MB },
      met,
      relup: { heapUsed: relup.samples, growthMb: relupGrowth, seconds: relup.seconds },
      relupEsmTypeScript: { heapUsed: typed.samples, growthMb: typedGrowth, seconds: typed.seconds },
      naiveImport: {
        heapUsed: naive.samples,
        iterationsMeasured: naive.iterations,
        heapUsedAt1000: naiveAt1000,
        extrapolated: naiveExtrapolated,
        growthMb: naiveGrowth,
        seconds: naive.seconds,
      },
    })
  }
} finally {
  rmSync(root, { recursive: true, force: true })
}
