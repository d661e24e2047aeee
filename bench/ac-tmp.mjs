import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initialPointer, relupKeys, writeDocument } from '@relup/core'
import { Relup, silentLogger } from '@relup/poller'
import { publish } from '@relup/publisher'
import { fsStorage } from '@relup/storage-fs'

const N = Number(process.argv[2] ?? 125)
const work = await mkdtemp(process.env.SHM ? '/dev/shm/acb-' : join(tmpdir(), 'ac-'))
const state = await mkdtemp('/dev/shm/ac-')
const storage = fsStorage({ dir: join(work, 'bucket') })
const app = 'ac'
await writeDocument(storage, relupKeys(app).current, initialPointer(app, 'img', { setBy: 'x' }), {
  ifNoneMatch: '*',
})
const stats = {
  modulesReloaded: 1,
  moduleNames: ['handler.js'],
  unitsMigrated: 0,
  unitNames: [],
  unitsFailed: 0,
  pauseMs: 0,
  totalMs: 0,
}
const engine = { upgrade: async () => stats }
const machines = []
let done = 0,
  resolveAll
for (let i = 0; i < N; i++) {
  const stateDir = join(state, `m${i}`)
  await mkdir(stateDir)
  const r = new Relup({
    app,
    storage,
    engine,
    baseRef: 'img',
    machineId: `m${i}`,
    stateDir,
    pollInterval: 3_600_000,
    heartbeatInterval: 3_600_000,
    logger: silentLogger,
  })
  r.on('upgrade:completed', () => {
    if (++done === N) resolveAll()
  })
  await r.start()
  machines.push(r)
}
for (let round = 1; round <= Number(process.env.ROUNDS ?? 3); round++) {
  if (round === Number(process.env.ROUNDS ?? 3)) console.error('=== LAST ROUND')
  const dir = join(work, `hot${round}`)
  await mkdir(dir)
  await writeFile(join(dir, 'handler.js'), `module.exports = () => ${round}\n`)
  await publish({ storage, app, dir, version: `r${round}`, wait: false, skipChecks: true })
  done = 0
  const all = new Promise((r) => {
    resolveAll = r
  })
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (const m of machines) m.checkNow()
  await all
  const c = process.cpuUsage(c0)
  const wall = performance.now() - t0
  console.log(
    `round ${round}: ${N} applies, wall ${wall.toFixed(0)} ms, cpu ${((c.user + c.system) / 1000 / N).toFixed(2)} ms/apply (user ${(c.user / 1000 / N).toFixed(2)} sys ${(c.system / 1000 / N).toFixed(2)})`,
  )
}
await Promise.all(machines.map((m) => m.stop()))
await storage.close()
