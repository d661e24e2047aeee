// Idle polling cost: what a machine pays every second when nothing is published. Against a real
// S3-compatible server (s3rver) on loopback, each client in its own process so only its own CPU
// is counted: the relup runtime at 1 s and 100 ms intervals, and beside it a plain AWS SDK
// GetObject that ends in 304 and a bare hand-signed conditional GET.
// Goals: 0 response body bytes per unchanged poll; <= 0.5 ms of client CPU per poll.
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initialPointer, relupKeys, writeDocument } from '@relup/core'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { printTable, round, writeResult } from './lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const client = join(here, 'fixtures', 'polling', 'client.mjs')
const quick = process.argv.includes('--quick')

const server = await startS3rver()
try {
  await server.createBucket('bench')
  const storage = s3Storage({ env: s3rverEnv(server, 'bench') })
  const loopKey = 'loop/current.json'
  await storage.put(loopKey, JSON.stringify({ pointer: 'a small document of a few hundred bytes'.repeat(8) }))
  const runtimeStorage = s3Storage({ env: s3rverEnv(server, 'bench'), prefix: 'fleet' })
  await writeDocument(
    runtimeStorage,
    relupKeys('idle').current,
    initialPointer('idle', 'bench-image', { setBy: 'bench' }),
  )
  await storage.close()
  await runtimeStorage.close()

  const run = (args) => {
    const r = spawnSync(process.execPath, [client, ...args], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`client ${args[0]} failed: ${r.stderr}`)
    return JSON.parse(r.stdout.trim().split('\n').at(-1))
  }
  const base = [server.endpoint, 'bench', loopKey]
  const loops = quick ? 200 : 1000
  const results = [
    run(['sdk', ...base, String(loops)]),
    run(['bare', ...base, String(loops)]),
    run(['adapter', ...base, String(loops)]),
    run(['runtime', server.endpoint, 'bench', '', String(quick ? 5_000 : 30_000), '1000']),
    run(['runtime', server.endpoint, 'bench', '', String(quick ? 3_000 : 15_000), '100']),
  ]
  const label = {
    sdk: 'AWS SDK GetObject → 304 (exception)',
    bare: 'bare signed conditional GET',
    adapter: 'relup storage-s3 get(ifNoneMatch)',
    runtime: 'relup runtime, idle',
  }
  const rows = results.map((r) => ({
    client: r.mode === 'runtime' ? `${label.runtime} @ ${r.intervalMs} ms` : label[r.mode],
    polls: r.polls,
    'req/min': r.mode === 'runtime' ? round((r.polls / r.wallMs) * 60_000, 1) : '-',
    'body B/poll': round(r.bodyBytes / r.polls, 1),
    'CPU ms/poll': round(r.cpuMs / r.polls, 3),
    'CPU share %': r.mode === 'runtime' ? round((r.cpuMs / r.wallMs) * 100, 3) : '-',
  }))
  printTable(rows, 'idle polling against s3rver on loopback (client CPU only)')
  const runtime = results.filter((r) => r.mode === 'runtime')
  const worstCpu = Math.max(...runtime.map((r) => r.cpuMs / r.polls))
  const bytes = runtime.reduce((n, r) => n + r.bodyBytes, 0)
  const met = { bodyBytes: bytes === 0, cpuPerPoll: worstCpu <= 0.5 }
  console.log(
    `\ngoals: 0 body bytes per unchanged poll: ${met.bodyBytes ? 'met' : 'MISSED'}; <= 0.5 ms CPU per poll: ${met.cpuPerPoll ? 'met' : 'MISSED'} (${round(worstCpu, 3)} ms)`,
  )
  writeResult('idle-polling', { goals: { bodyBytesPerPoll: 0, cpuMsPerPoll: 0.5 }, met, rows, raw: results })
} finally {
  await server.stop()
}
