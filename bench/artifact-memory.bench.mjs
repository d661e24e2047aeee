#!/usr/bin/env node
// Memory and speed of pack() and extractArtifact() on a large release (default ~200 MiB of
// incompressible data, so the artifact is ~200 MiB too, plus 2,000 small JavaScript files), and
// of a real machine applying that release: the runtime downloads it from the filesystem storage,
// extracts and verifies it, and the swap engine hashes and swaps it in (one changed module; the
// 200 MiB of data are hashed as streams). Beside it, for comparison, what reading every file of
// the release into memory costs (how the engine read releases before).
// Memory must stay flat: the run fails (exit 1) if the memory still referenced after a garbage
// collection grows by more than 32 MiB while packing or extracting, or if a machine's RSS grows
// by more than 32 MiB while applying the release.
//
//   pnpm bench artifact-memory        (or: node --expose-gc bench/artifact-memory.bench.mjs --mib 200)
//
// Prints a table and writes bench/results/artifact-memory.json.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { extractArtifact, pack } from '@relup/artifact'
import { walkRelease } from '@relup/core/release'
import { printTable, writeResult } from './lib.mjs'

const MIB = 1024 * 1024
const run = promisify(execFile)
const argMib = process.argv.indexOf('--mib')
const totalMib = argMib === -1 ? 200 : Number(process.argv[argMib + 1])
const RETAINED_LIMIT_MIB = 32
const APPLY_RSS_LIMIT_MIB = 32

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc, to tell retained memory from garbage not yet collected')
  process.exit(2)
}

/** Run `task` while sampling memory: peak RSS every 2 ms, retained (heap + buffers after a gc) every 50 ms. */
async function measure(task) {
  globalThis.gc()
  const before = process.memoryUsage()
  const retained = () => {
    const now = process.memoryUsage()
    return now.heapUsed + now.arrayBuffers - (before.heapUsed + before.arrayBuffers)
  }
  let peakRss = before.rss
  let peakRetained = 0
  const rss = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 2)
  // V8 frees the memory of collected buffers on a background thread: read the usage a moment
  // after the collection, or buffers already dead still count.
  const live = setInterval(() => {
    globalThis.gc()
    setTimeout(() => {
      peakRetained = Math.max(peakRetained, retained())
    }, 10)
  }, 50)
  const started = performance.now()
  try {
    const result = await task()
    return {
      result,
      ms: performance.now() - started,
      rssGrowthMib: (peakRss - before.rss) / MIB,
      retainedMib: peakRetained / MIB,
    }
  } finally {
    clearInterval(rss)
    clearInterval(live)
  }
}

const work = await mkdtemp(join(tmpdir(), 'relup-artifact-bench-'))
try {
  const hot = join(work, 'hot')
  await mkdir(join(hot, 'data'), { recursive: true })
  const bigFiles = Math.max(1, Math.round(totalMib / 8))
  for (let i = 0; i < bigFiles; i++) {
    const handle = await open(join(hot, 'data', `blob-${i}.bin`), 'w')
    for (let m = 0; m < 8; m++) await handle.write(randomBytes(MIB))
    await handle.close()
  }
  // The machine runs the same routes without the data (its base release); the upgrade changes
  // one route and adds the data.
  const base = join(work, 'base')
  for (let i = 0; i < 2000; i++) {
    const route = join('routes', `group-${i % 50}`, `route-${i}.js`)
    const source = `exports.handler${i} = (req) => ({ ok: ${i}, path: req.url })\n`.repeat(20)
    await mkdir(dirname(join(hot, route)), { recursive: true })
    await mkdir(dirname(join(base, route)), { recursive: true })
    await writeFile(join(hot, route), i === 0 ? `${source}exports.version = 2\n` : source)
    await writeFile(join(base, route), source)
  }

  const packed = await measure(() => pack(hot, { out: join(work, 'hot.tgz') }))
  const artifact = packed.result
  const extracted = await measure(() =>
    extractArtifact(createReadStream(artifact.path), {
      dest: join(work, 'releases', 'v1'),
      sha256: artifact.sha256,
      size: artifact.size,
    }),
  )

  // Machines, each a process of its own: three idle since they started, three that have been
  // serving. When V8 collects the extraction's garbage varies by several MiB from run to run, so
  // each kind is summed up by its median; the goal is checked on the idle machines (the stricter).
  const artifactFile = join(work, 'artifact.json')
  await writeFile(artifactFile, JSON.stringify(artifact))
  const machines = { idle: [], serving: [] }
  for (const kind of ['idle', 'serving'])
    for (let machine = 1; machine <= 3; machine++)
      machines[kind].push(await applyOnAMachine(join(work, `${kind}-${machine}`), base, artifactFile, kind))
  const median = (runs) => [...runs].sort((a, b) => a.rssGrowthMib - b.rssGrowthMib)[1]
  const applied = median(machines.idle)
  // The alternative: every file of the release held in memory at once, as the engine read releases before.
  const readWhole = await measure(() => readEveryFile(hot))

  const files = Object.keys(artifact.manifest.files).length
  const rows = [
    { step: 'pack', ...row(packed, artifact.size) },
    { step: 'extract', ...row(extracted, artifact.size) },
    { step: 'apply on an idle machine (median of 3)', ...row(applied, artifact.size) },
    { step: 'apply on a serving machine (median of 3)', ...row(median(machines.serving), artifact.size) },
    { step: 'for comparison: read every file into memory', ...row(readWhole, artifact.size) },
  ]
  printTable(
    rows,
    `pack, extract and apply ${(artifact.size / MIB).toFixed(1)} MiB (${files} files); memory must stay flat`,
  )
  console.log(
    `\napplying the release (download, extract, verify, swap) grew a machine's RSS by ${applied.rssGrowthMib.toFixed(1)} MiB at its peak ` +
      `(idle machines: ${machines.idle.map((run) => run.rssGrowthMib.toFixed(1)).join(', ')}; serving: ` +
      `${machines.serving.map((run) => run.rssGrowthMib.toFixed(1)).join(', ')}) ` +
      `(goal ≤ ${APPLY_RSS_LIMIT_MIB} MiB); reading the files whole grew it by ${readWhole.rssGrowthMib.toFixed(1)} MiB`,
  )
  writeResult('artifact-memory', {
    artifactBytes: artifact.size,
    files,
    retainedLimitMib: RETAINED_LIMIT_MIB,
    applyRssLimitMib: APPLY_RSS_LIMIT_MIB,
    applyRssGrowthMib: {
      idle: machines.idle.map((run) => Number(run.rssGrowthMib.toFixed(1))),
      serving: machines.serving.map((run) => Number(run.rssGrowthMib.toFixed(1))),
    },
    rows,
  })
  const worst = Math.max(packed.retainedMib, extracted.retainedMib)
  if (worst > RETAINED_LIMIT_MIB) {
    console.error(`memory is not flat: ${worst.toFixed(1)} MiB retained (limit ${RETAINED_LIMIT_MIB} MiB)`)
    process.exitCode = 1
  }
  if (applied.rssGrowthMib > APPLY_RSS_LIMIT_MIB) {
    console.error(
      `applying grew RSS by ${applied.rssGrowthMib.toFixed(1)} MiB (limit ${APPLY_RSS_LIMIT_MIB} MiB)`,
    )
    process.exitCode = 1
  }
} finally {
  await rm(work, { recursive: true, force: true })
}

/** A machine (a process of its own, see fixtures/machine/applyOnce.mjs) applying the release. */
async function applyOnAMachine(work, base, artifactFile, kind) {
  const script = fileURLToPath(new URL('./fixtures/machine/applyOnce.mjs', import.meta.url))
  const env = { ...process.env, RELUP_BENCH_SERVING: kind === 'serving' ? '1' : '0' }
  const { stdout } = await run(process.execPath, [script, work, base, artifactFile], { env })
  const { ms, rssGrowthBytes } = JSON.parse(stdout.trim().split('\n').at(-1))
  return { ms, rssGrowthMib: rssGrowthBytes / MIB, retainedMib: Number.NaN }
}

/** Every file's bytes at once, in a map (released when the step ends). */
async function readEveryFile(dir) {
  const contents = new Map()
  for (const entry of (await walkRelease(dir)).entries) {
    if (entry.kind === 'file') contents.set(entry.path, await readFile(entry.source))
  }
  return contents.size
}

function row(measured, bytes) {
  return {
    seconds: Number((measured.ms / 1000).toFixed(2)),
    'MiB/s': Number((bytes / MIB / (measured.ms / 1000)).toFixed(1)),
    'peak RSS growth MiB': Number(measured.rssGrowthMib.toFixed(1)),
    'peak retained MiB': Number.isNaN(measured.retainedMib) ? '-' : Number(measured.retainedMib.toFixed(1)),
  }
}
