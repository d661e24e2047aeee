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
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { extractArtifact, pack } from '@relup/artifact'
import {
  newHotUpgrade,
  parseCurrentPointer,
  readDocument,
  relupKeys,
  withHotUpgrade,
  writeDocument,
} from '@relup/core'
import { walkRelease } from '@relup/core/release'
import { startRelup } from '@relup/poller'
import { fsStorage } from '@relup/storage-fs'
import { createSwapEngine } from '@relup/swap'
import { printTable, writeResult } from './lib.mjs'

const MIB = 1024 * 1024
const argMib = process.argv.indexOf('--mib')
const totalMib = argMib === -1 ? 200 : Number(process.argv[argMib + 1])
const RETAINED_LIMIT_MIB = 32
const APPLY_RSS_LIMIT_MIB = 32

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc, to tell retained memory from garbage not yet collected')
  process.exit(2)
}

/**
 * Run `task` while sampling memory: peak RSS every 2 ms and, unless `retained: false`, what is
 * retained (heap + buffers after a gc) every 50 ms. Those forced full collections move memory
 * around themselves, so peak RSS alone is measured without them.
 */
async function measure(task, { retained: sampleRetained = true } = {}) {
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
    if (!sampleRetained) return
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
      retainedMib: sampleRetained ? peakRetained / MIB : Number.NaN,
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

  // Three machines, one after the other (the first one in the process is the fairest: later ones
  // reuse pages the earlier ones freed); the goal is checked on the largest growth.
  const applies = []
  for (let machine = 1; machine <= 3; machine++)
    applies.push(await applyOnAMachine(work, base, artifact, machine))
  const byRss = [...applies].sort((a, b) => a.rssGrowthMib - b.rssGrowthMib)
  const applied = byRss[2]
  // The alternative: every file of the release held in memory at once, as the engine read releases before.
  const readWhole = await measure(() => readEveryFile(hot))

  const files = Object.keys(artifact.manifest.files).length
  const rows = [
    { step: 'pack', ...row(packed, artifact.size) },
    { step: 'extract', ...row(extracted, artifact.size) },
    ...applies.map((run, index) => ({
      step: `apply on machine ${index + 1} (download, extract, verify, swap)`,
      ...row(run, artifact.size),
    })),
    { step: 'for comparison: read every file into memory', ...row(readWhole, artifact.size) },
  ]
  printTable(
    rows,
    `pack, extract and apply ${(artifact.size / MIB).toFixed(1)} MiB (${files} files); memory must stay flat`,
  )
  console.log(
    `\napplying the release grew a machine's RSS by at most ${applied.rssGrowthMib.toFixed(1)} MiB at its peak ` +
      `(3 machines: ${applies.map((run) => run.rssGrowthMib.toFixed(1)).join(', ')}) ` +
      `(goal ≤ ${APPLY_RSS_LIMIT_MIB} MiB); reading the files whole grew it by ${readWhole.rssGrowthMib.toFixed(1)} MiB`,
  )
  writeResult('artifact-memory', {
    artifactBytes: artifact.size,
    files,
    retainedLimitMib: RETAINED_LIMIT_MIB,
    applyRssLimitMib: APPLY_RSS_LIMIT_MIB,
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

/**
 * A real machine: the runtime on the filesystem storage with a swap engine on the base release.
 * The engine and the runtime start, and the release is published, before the measurement (that
 * is the machine's steady state); measured is the apply alone: the artifact streamed from
 * storage, extracted and verified, and swapped in.
 */
async function applyOnAMachine(work, base, artifact, machine) {
  const storage = fsStorage({ dir: join(work, `store-${machine}`) })
  const keys = relupKeys('bench')
  const engine = await createSwapEngine({ releaseDir: base, version: 'v1' })
  const relup = await startRelup({
    app: 'bench',
    storage,
    engine,
    baseRef: 'base-1',
    machineId: `bench-${machine}`,
    stateDir: join(work, `state-${machine}`),
    pollInterval: 3_600_000,
    logger: { debug() {}, info() {}, warn: console.warn, error: console.error },
  })
  try {
    const key = keys.artifact('v2', artifact.sha256)
    await storage.put(key, createReadStream(artifact.path), {
      ifNoneMatch: '*',
      contentLength: artifact.size,
    })
    const hot = newHotUpgrade({
      version: 'v2',
      sourceRef: 'bench',
      baseRef: 'base-1',
      artifact: { key, sha256: artifact.sha256, size: artifact.size },
      manifest: artifact.manifest,
      publishedBy: 'bench',
    })
    const read = await readDocument(storage, keys.current, parseCurrentPointer)
    if (read.status !== 'ok') throw new Error('the machine wrote no pointer')
    await writeDocument(storage, keys.current, withHotUpgrade(read.document, hot, { setBy: 'bench' }), {
      ifMatch: read.etag,
    })
    const measured = await measure(() => relup.checkNow(), { retained: false })
    const last = relup.getState().lastUpgrade
    if (last?.status !== 'completed' || engine.version !== 'v2')
      throw new Error(`the machine did not apply v2: ${JSON.stringify(last?.error ?? last)}`)
    return measured
  } finally {
    await relup.stop()
    await engine.close()
  }
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
