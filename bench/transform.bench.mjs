// Transform: what it costs the engine to turn TypeScript and ES modules into code it evaluates,
// per MB of source, for the transformer relup uses (oxc-transform: types stripped, then its
// module-runner transform, both with source maps, as the engine calls them) beside the ones it
// rejected (esbuild and swc, TypeScript to CommonJS with source maps in one call each), on a
// ~1 MB TypeScript file and on 100 small TypeScript modules. Then the engine itself: the
// transform time an upgrade reports (`stats.transform.ms`) for new sources (cold) and for sources
// it transformed before (cached by content hash).
// The rejected transformers are not dependencies of the repository: install them in a scratch
// directory to see their rows (npm i --prefix /tmp/transformers esbuild@0.28.2 @swc/core@1.16.22),
// or point RELUP_TRANSFORMERS_DIR at one.
// Run: pnpm --filter @relup/swap build && node bench/transform.bench.mjs
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createSwapEngine } from '@relup/swap'
import {
  typedBundleSource,
  writeTypedBundleRelease,
  writeTypedModularRelease,
} from './fixtures/swap/releases.mjs'
import { printTable, round, writeResult } from './lib.mjs'

const RUNS = 7
const scratch = process.env.RELUP_TRANSFORMERS_DIR ?? '/tmp/transformers'
const root = mkdtempSync(join(tmpdir(), 'relup-transform-bench-'))
const silent = { debug() {}, info() {}, warn() {}, error: (message) => console.error(message) }
const mb = (sources) => sources.reduce((sum, source) => sum + Buffer.byteLength(source), 0) / 1e6
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** The inputs: one ~1 MB file, and the 100 modules of the pause benchmark. */
function inputs() {
  const big = [typedBundleSource('v1', 1_000_000)]
  const dir = join(root, 'modules')
  writeTypedModularRelease(dir, 'v1')
  const small = readdirSync(dir)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => readFileSync(join(dir, name), 'utf8'))
  return { big, small }
}

/** Median ms per MB of transforming every source once (after one warm-up pass). */
async function perMb(transform, sources) {
  await Promise.all(sources.map((source, i) => transform(source, `m${i}.ts`)))
  const times = []
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now()
    await Promise.all(sources.map((source, i) => transform(source, `m${i}.ts`)))
    times.push(performance.now() - started)
  }
  return median(times) / mb(sources)
}

function fail(errors, name) {
  if (errors?.length) throw new Error(`${name}: ${errors[0].message ?? errors[0].text}`)
}

/** oxc-transform, resolved from @relup/swap (the version the engine uses). */
async function oxcCandidates() {
  const swapRequire = createRequire(import.meta.resolve('@relup/swap'))
  const oxcPath = swapRequire.resolve('oxc-transform')
  const oxc = await import(pathToFileURL(oxcPath).href)
  const version = JSON.parse(readFileSync(join(oxcPath, '..', 'package.json'), 'utf8')).version
  const engineWay = (source, name) => {
    const stripped = oxc.transformSync(name, source, { sourceType: 'module', sourcemap: true })
    fail(stripped.errors, name)
    const esm = oxc.moduleRunnerTransformSync(name, stripped.code, { sourcemap: true })
    fail(esm.errors, name)
    return esm
  }
  const async = async (source, name) => {
    const stripped = await oxc.transform(name, source, { sourceType: 'module', sourcemap: true })
    return oxc.moduleRunnerTransform(name, stripped.code, { sourcemap: true })
  }
  return [
    {
      transformer: `oxc-transform ${version} (chosen)`,
      how: 'transformSync + moduleRunnerTransformSync, as the engine',
      run: engineWay,
    },
    {
      transformer: `oxc-transform ${version}`,
      how: 'async transform + moduleRunnerTransform (a thread each)',
      run: async,
    },
  ]
}

/** esbuild and swc from the scratch directory, when they are installed there. */
function rejectedCandidates() {
  const scratchRequire = createRequire(join(scratch, 'package.json'))
  const load = (name) => {
    try {
      return scratchRequire(name)
    } catch {
      return undefined
    }
  }
  const rows = []
  const esbuild = load('esbuild')
  if (esbuild) {
    const options = (name) => ({ loader: 'ts', format: 'cjs', sourcemap: 'external', sourcefile: name })
    rows.push(
      {
        transformer: `esbuild ${esbuild.version}`,
        how: 'transformSync, TS → CommonJS',
        run: (s, n) => esbuild.transformSync(s, options(n)),
      },
      {
        transformer: `esbuild ${esbuild.version}`,
        how: 'transform (async), TS → CommonJS',
        run: (s, n) => esbuild.transform(s, options(n)),
      },
    )
  } else rows.push({ transformer: 'esbuild', missing: true })
  const swc = load('@swc/core')
  if (swc) {
    const options = (name) => ({
      filename: name,
      sourceMaps: true,
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    })
    rows.push(
      {
        transformer: `@swc/core ${swc.version}`,
        how: 'transformSync, TS → CommonJS',
        run: (s, n) => swc.transformSync(s, options(n)),
      },
      {
        transformer: `@swc/core ${swc.version}`,
        how: 'transform (async), TS → CommonJS',
        run: (s, n) => swc.transform(s, options(n)),
      },
    )
  } else rows.push({ transformer: '@swc/core', missing: true })
  return rows
}

/**
 * The engine: `stats.transform.ms` per MB of an upgrade to new sources (cold), then of the
 * rollback to the version before (every module reloads from another directory; the transform
 * cache, by content hash, has them all), median of `RUNS` rounds.
 */
async function engineFigures(write, sourceMb) {
  const dir = (n) => join(root, `engine-${sourceMb}-${n}`)
  write(dir('base'), 'base')
  const engine = await createSwapEngine({ releaseDir: dir('base'), version: 'base', logger: silent })
  const cold = []
  const cached = []
  for (let run = 0; run < RUNS; run++) {
    write(dir(`new${run}`), `v${run}`)
    cold.push((await engine.upgrade(dir(`new${run}`), { version: `v${run}` })).transform)
    write(dir(`back${run}`), 'base')
    cached.push((await engine.upgrade(dir(`back${run}`), { version: `back${run}` })).transform)
    rmSync(dir(`new${run}`), { recursive: true, force: true })
  }
  await engine.close()
  if (cached.some((t) => t.transformed > 0))
    throw new Error('the engine transformed sources it had seen before')
  return {
    coldMsPerMb: median(cold.map((t) => t.ms)) / sourceMb,
    cachedMsPerMb: median(cached.map((t) => t.ms)) / sourceMb,
  }
}

try {
  const { big, small } = inputs()
  const candidates = [...(await oxcCandidates()), ...rejectedCandidates()]
  const rows = []
  for (const candidate of candidates) {
    if (candidate.missing) {
      rows.push({
        transformer: candidate.transformer,
        how: `not installed in ${scratch}`,
        '1MB_ms/MB': '',
        '100mod_ms/MB': '',
      })
      continue
    }
    rows.push({
      transformer: candidate.transformer,
      how: candidate.how,
      '1MB_ms/MB': round(await perMb(candidate.run, big), 1),
      '100mod_ms/MB': round(await perMb(candidate.run, small), 1),
    })
  }
  const bundle = await engineFigures(
    (dir, version) => writeTypedBundleRelease(dir, version, 1_000_000),
    mb(big),
  )
  const modules = await engineFigures((dir, version) => writeTypedModularRelease(dir, version), mb(small))
  printTable(
    rows,
    `Transform cost (cold: new sources), median of ${RUNS} runs, source maps on; ${round(mb(big), 2)} MB file, 100 modules = ${round(mb(small), 2)} MB`,
  )
  const engineRows = [
    {
      measure: 'engine upgrade, 1 MB TypeScript bundle',
      'cold_ms/MB': round(bundle.coldMsPerMb, 1),
      'cached_ms/MB': round(bundle.cachedMsPerMb, 3),
    },
    {
      measure: 'engine upgrade, 100 TypeScript modules',
      'cold_ms/MB': round(modules.coldMsPerMb, 1),
      'cached_ms/MB': round(modules.cachedMsPerMb, 3),
    },
  ]
  printTable(engineRows, 'The engine with oxc-transform (stats.transform.ms in prepare, before the pause)')
  writeResult('transform', {
    runs: RUNS,
    inputsMb: { big: mb(big), small: mb(small) },
    transformers: rows,
    engine: { bundle, modules },
  })
} finally {
  rmSync(root, { recursive: true, force: true })
}
