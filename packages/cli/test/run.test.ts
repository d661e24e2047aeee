import { cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateSigningKeyPair } from '@relup/artifact'
import { coldBaseRef, coldKey, parseColdPointer, readDocument, relupKeys } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { fakeFleet, serverAvailability, startServer } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { onCleanup, tempDir } from './helpers.js'
import { type RelupProcess, spawnRelup, until } from './processes.js'

const APP = fileURLToPath(new URL('./fixtures/supervised-app.mjs', import.meta.url))

interface Event {
  type: string
  pid?: number
  sockets?: { actualPort: number }[]
  result?: { status: string; pid?: number }
}

const eventsOf = (run: RelupProcess): Event[] =>
  run
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Event)

async function startRun(extra: string[] = []): Promise<{ run: RelupProcess; origin: string }> {
  const run = spawnRelup([
    'run',
    '--port',
    '127.0.0.1:0',
    '--drain-timeout',
    '3000',
    '--json',
    ...extra,
    '--',
    process.execPath,
    APP,
  ])
  onCleanup(async () => {
    run.child.kill('SIGKILL')
  })
  const ready = await until(
    async () => eventsOf(run).find((e) => e.type === 'ready'),
    'the app to be ready',
    10_000,
  )
  expect(ready.pid).toBeGreaterThan(0)
  const port = eventsOf(run).find((e) => e.type === 'listening')?.sockets?.[0]?.actualPort
  return { run, origin: `http://127.0.0.1:${port}` }
}

const answer = async (origin: string, path = '/', method = 'GET') =>
  (await (await fetch(`${origin}${path}`, { method })).json()) as {
    pid: number
    counter: number
    version: string
  }

const packages = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The app built with its production dependencies in node_modules, as `npm ci --omit=dev` leaves
 * it; `crashes`: its process exits a moment after it said ready.
 */
async function coldBuild(version: string, { crashes = false } = {}): Promise<string> {
  const dir = await tempDir(`cold-${version}`)
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'shop', version, type: 'module', dependencies: { '@relup/supervisor': '*' } }),
  )
  if (crashes) {
    await cp(APP, join(dir, 'app.mjs'))
    await writeFile(
      join(dir, 'server.mjs'),
      "await import('./app.mjs')\nsetTimeout(() => process.exit(3), 300)\n",
    )
  } else await cp(APP, join(dir, 'server.mjs'))
  for (const name of ['supervisor', 'core']) {
    const into = join(dir, 'node_modules', '@relup', name)
    await mkdir(into, { recursive: true })
    await cp(join(packages, name, 'dist'), join(into, 'dist'), { recursive: true })
    await cp(join(packages, name, 'package.json'), join(into, 'package.json'))
  }
  return dir
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('relup run', () => {
  it('on SIGTERM drains the app (its in-flight request finishes) and exits 0', async () => {
    const { run, origin } = await startRun()
    const { pid } = await answer(origin)
    const slow = answer(origin, '/slow')
    await new Promise((resolve) => setTimeout(resolve, 100))
    run.child.kill('SIGTERM')
    expect((await slow).pid).toBe(pid)
    expect((await run.exited).code).toBe(0)
    expect(alive(pid)).toBe(false)
  })

  it('on SIGUSR2 replaces the app with a new process of the command, the counter kept', async () => {
    const { run, origin } = await startRun()
    await answer(origin, '/inc', 'POST')
    const before = await answer(origin, '/inc', 'POST')
    run.child.kill('SIGUSR2')
    const cutover = await until(
      async () => eventsOf(run).find((e) => e.type === 'cutover'),
      'the cutover',
      10_000,
    )
    expect(cutover.result?.status).toBe('completed')
    const after = await until(async () => {
      const now = await answer(origin)
      return now.pid !== before.pid && now.counter === before.counter && now
    }, 'the counter on the new process')
    expect(after.pid).toBe(cutover.result?.pid)
    expect(alive(before.pid)).toBe(false)
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  })

  it('says what is missing without a command or a port', async () => {
    const noCommand = spawnRelup(['run', '--port', '3000'])
    expect((await noCommand.exited).code).toBe(2)
    expect(noCommand.stderr()).toMatch(/needs the command/)
    const noPort = spawnRelup(['run', '--', 'node', APP])
    expect((await noPort.exited).code).toBe(2)
    expect(noPort.stderr()).toMatch(/--port/)
  })
})

describe('relup run --app: cold releases', () => {
  it('relup publish --cold reaches the machine, which cuts over and reports completed; rollback --cold goes back', async () => {
    const store = `file://${await tempDir('cold-store')}`
    const releases = await tempDir('cold-releases')
    const flags = ['--app', 'shop', '--storage', store]
    const { run, origin } = await startRun([
      ...flags,
      '--machine-id',
      'm1',
      '--releases-dir',
      releases,
      '--poll-interval',
      '100',
    ])
    await answer(origin, '/inc', 'POST')
    const publish = spawnRelup([
      'publish',
      await coldBuild('2.0.0'),
      '--cold',
      '--command',
      `${process.execPath} server.mjs`,
      ...flags,
      '--expect',
      '1',
    ])
    expect((await publish.exited).code).toBe(0)
    expect(publish.stdout()).toMatch(/published cold release 2\.0\.0 \(\w+\): asked for with --cold/)
    expect(publish.stdout()).toMatch(/^m1 +completed$/m)
    expect(await answer(origin)).toMatchObject({ version: '2.0.0', counter: 1 })

    const second = spawnRelup([
      'publish',
      await coldBuild('3.0.0'),
      '--cold',
      '--command',
      `${process.execPath} server.mjs`,
      ...flags,
      '--expect',
      '1',
    ])
    expect((await second.exited).code).toBe(0)
    expect((await answer(origin)).version).toBe('3.0.0')
    const rollback = spawnRelup(['rollback', '--cold', ...flags, '--expect', '1'])
    expect((await rollback.exited).code).toBe(0)
    expect(rollback.stdout()).toMatch(/rolled back to cold release 2\.0\.0/)
    expect(await answer(origin)).toMatchObject({ version: '2.0.0', counter: 1 })
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  }, 30_000)
})

describe('relup run --app and relup publish --cold, as for hot upgrades', () => {
  const shop = fakeFleet('shop', onCleanup)
  const command = ['--command', `${process.execPath} server.mjs`]

  async function machine(extra: string[] = []) {
    const dir = await tempDir('cold-store')
    const storage = fsStorage({ dir })
    onCleanup(async () => storage.close?.())
    const flags = ['--app', 'shop', '--storage', `file://${dir}`]
    const releases = await tempDir('cold-releases')
    const started = await startRun([
      ...flags,
      ...['--machine-id', 'm1', '--releases-dir', releases, '--poll-interval', '100'],
      ...extra,
    ])
    return { ...started, storage, flags }
  }

  it('publish --cold waits for the machines that reported recently; one that never answers is absent', async () => {
    const { run, storage, flags } = await machine()
    // m1's record (its app's runtime writes it), and a machine that is gone without saying so.
    await shop.announceMachine(storage, 'm1', 'image-1', { pollIntervalMs: 100 })
    await shop.announceMachine(storage, 'm2', 'image-1', { pollIntervalMs: 100 })
    const publish = spawnRelup([
      'publish',
      await coldBuild('2.0.0'),
      '--cold',
      ...command,
      ...flags,
      '--ack-timeout',
      '1s',
      '--json',
    ])
    expect((await publish.exited).code).toBe(0)
    const out = JSON.parse(publish.stdout()) as {
      ok: boolean
      machines: { machineId: string; status: string }[]
    }
    expect(out.ok).toBe(true)
    expect(out.machines).toEqual([
      expect.objectContaining({ machineId: 'm1', status: 'completed' }),
      expect.objectContaining({ machineId: 'm2', status: 'absent' }),
    ])
    expect(JSON.stringify(JSON.parse(publish.stdout()).warnings)).toMatch(/m2 did not acknowledge/)

    // A rollback waits for its own results: m1 answers again, under the rollback's release id.
    await coldBuild('3.0.0').then(async (dir) => {
      const second = spawnRelup(['publish', dir, '--cold', ...command, ...flags, '--ack-timeout', '1s'])
      expect((await second.exited).code).toBe(0)
    })
    const rollback = spawnRelup(['rollback', '--cold', ...flags, '--ack-timeout', '1s', '--json'])
    expect((await rollback.exited).code).toBe(0)
    const back = JSON.parse(rollback.stdout()) as { release: { releaseId: string; version: string } }
    expect(back.release.version).toBe('2.0.0')
    const pointer = await readDocument(storage, coldKey(relupKeys('shop')), parseColdPointer)
    expect(pointer.status === 'ok' && pointer.document.release?.releaseId).toBe(back.release.releaseId)
    expect(JSON.parse(rollback.stdout()).machines).toEqual([
      expect.objectContaining({ machineId: 'm1', status: 'completed' }),
      expect.objectContaining({ machineId: 'm2', status: 'absent' }),
    ])
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  }, 60_000)

  it('with --trusted-key the machine refuses an unsigned cold release (exit 1, still serving) and takes a signed one', async () => {
    const keys = generateSigningKeyPair()
    const keyDir = await tempDir('keys')
    await writeFile(join(keyDir, 'relup.key'), keys.privateKey)
    await writeFile(join(keyDir, 'relup.pub'), keys.publicKey)
    const { run, origin, storage, flags } = await machine(['--trusted-key', join(keyDir, 'relup.pub')])
    const before = await answer(origin)
    const unsigned = spawnRelup([
      'publish',
      await coldBuild('2.0.0'),
      '--cold',
      ...command,
      ...flags,
      '--expect',
      '1',
    ])
    expect((await unsigned.exited).code).toBe(1)
    expect(unsigned.stderr()).toMatch(/m1 failed: cold release "2\.0\.0" .* is not signed/)
    expect(await answer(origin)).toMatchObject({ pid: before.pid, version: 'base' })
    const failing = spawnRelup(['status', ...flags, '--json'])
    expect((await failing.exited).code).toBe(1)
    expect(JSON.parse(failing.stdout()).problems).toEqual(['1 machine(s) failed the cold release'])

    const signed = spawnRelup([
      'publish',
      await coldBuild('3.0.0'),
      '--cold',
      ...command,
      ...flags,
      '--expect',
      '1',
      '--sign',
      join(keyDir, 'relup.key'),
    ])
    expect((await signed.exited).code).toBe(0)
    expect(signed.stdout()).toMatch(/published cold release 3\.0\.0 \(\w+\) · signed/)
    expect((await answer(origin)).version).toBe('3.0.0')

    // relup status: the cold release, who published it, signed; m1 runs it (its record's base
    // says so, as its app's runtime writes it) and its result; m2 runs no cold release.
    const pointer = await readDocument(storage, coldKey(relupKeys('shop')), parseColdPointer)
    const releaseId = pointer.status === 'ok' ? pointer.document.release?.releaseId : undefined
    if (!releaseId) throw new Error('no cold release')
    await shop.announceMachine(storage, 'm1', coldBaseRef(releaseId))
    await shop.announceMachine(storage, 'm2', 'image-1')
    const status = spawnRelup(['status', ...flags])
    await status.exited
    expect(status.stdout()).toMatch(
      new RegExp(`^cold +3\\.0\\.0 · release ${releaseId} · published .* by \\S+ · signed`, 'm'),
    )
    expect(status.stdout()).toMatch(
      new RegExp(`^m1 +3\\.0\\.0 \\(${releaseId}\\) +completed 3\\.0\\.0$`, 'm'),
    )
    expect(status.stdout()).toMatch(/^m2 +no cold release +-$/m)
    const json = spawnRelup(['status', ...flags, '--json'])
    await json.exited
    expect(JSON.parse(json.stdout()).cold).toMatchObject({
      pointer: { release: { releaseId, version: '3.0.0', signature: { alg: 'ed25519' } } },
      results: [expect.objectContaining({ machineId: 'm1', status: 'completed' })],
      machines: [{ machineId: 'm1', releaseId, version: '3.0.0', current: true }],
    })
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  }, 60_000)

  it('publish --cold --rollout: a canary whose new process dies in its health window halts the rollout (exit 1), the machine back on stable', async () => {
    const { run, origin, storage, flags } = await machine()
    await shop.announceMachine(storage, 'm1', 'image-1', { pollIntervalMs: 100 })
    const first = spawnRelup(['publish', await coldBuild('2.0.0'), '--cold', ...command, ...flags])
    expect((await first.exited).code).toBe(0)
    const stable = await answer(origin, '/inc', 'POST')
    expect(stable.version).toBe('2.0.0')
    const rollout = ['--rollout', '1,100%', '--health-window', '2s', '--ack-timeout', '5s']
    const bad = spawnRelup([
      'publish',
      await coldBuild('3.0.0', { crashes: true }),
      '--cold',
      ...command,
      ...flags,
      ...rollout,
    ])
    expect((await bad.exited).code).toBe(1)
    expect(bad.stdout()).toMatch(/rollout 1,100%: wave 1: m1/)
    expect(bad.stderr()).toMatch(
      /the rollout of cold release 3\.0\.0 halted \(m1 failed: cold release 3\.0\.0 exited with code 3 .*health window.*\): cold\.json is back on cold release 2\.0\.0, and release \w+ is marked bad, so no machine starts it again\..*publish it again/,
    )
    // Back on the stable release (a fresh process of it: the candidate died, nothing to hand off).
    const after = await answer(origin)
    expect(after.version).toBe('2.0.0')
    const pointer = await readDocument(storage, coldKey(relupKeys('shop')), parseColdPointer)
    if (pointer.status !== 'ok') throw new Error('no cold.json')
    expect(pointer.document.candidate ?? null).toBeNull()
    expect(pointer.document.release?.version).toBe('2.0.0')
    const status = spawnRelup(['rollout', 'status', '--cold', ...flags])
    expect((await status.exited).code).toBe(0)
    expect(status.stdout()).toMatch(/^stable +cold release 2\.0\.0/m)
    expect(status.stdout()).toMatch(/^rollout +no cold rollout in progress$/m)

    // A good candidate on probation, aborted: the machine goes back to stable beside it, the
    // counter handed over; relup status showed the rollout meanwhile.
    const counted = (await answer(origin, '/inc', 'POST')).counter
    const good = spawnRelup([
      'publish',
      await coldBuild('4.0.0'),
      '--cold',
      ...command,
      ...flags,
      ...['--rollout', '1,100%', '--health-window', '60s', '--no-wait'],
    ])
    expect((await good.exited).code).toBe(0)
    const candidate = await until(
      async () => {
        const now = await answer(origin)
        return now.version === '4.0.0' && now
      },
      'the candidate serving',
      10_000,
    )
    const during = spawnRelup(['status', ...flags])
    await during.exited
    expect(during.stdout()).toMatch(
      /^cold rollout 4\.0\.0 · release \w+ · wave 1\/2 of 1,100% · rolling · health window 60 s/m,
    )
    const abort = spawnRelup(['rollout', 'abort', '--cold', ...flags])
    expect((await abort.exited).code).toBe(0)
    // The stable release serves as soon as it is ready; the candidate's counter reaches it once
    // the candidate's drain is done (a connection handed over waits for it, a new one need not).
    const back = await until(
      async () => {
        const now = await answer(origin)
        return now.version === '2.0.0' && now.counter === counted && now
      },
      'the stable release serving again, with the counter handed over',
      10_000,
    )
    expect(back.pid).not.toBe(candidate.pid)
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  }, 60_000)
})

const redis = serverAvailability('redis')
if (!redis.run) console.warn(`relup run --notify test skipped: ${redis.reason}`)

describe.skipIf(!redis.run)('relup run --app --notify', () => {
  it('takes a cold release at once when relup publish --cold --notify rings, its poll only a minute-long safety net', async () => {
    const server = await startServer('redis')
    onCleanup(() => server.stop())
    const dir = await tempDir('cold-store')
    const flags = ['--app', 'shop', '--storage', `file://${dir}`]
    const { run, origin } = await startRun([
      ...flags,
      ...['--machine-id', 'm1', '--releases-dir', await tempDir('cold-releases')],
      ...['--notify', server.url, '--poll-interval', '60000'],
    ])
    // Its first read of cold.json is done (no release yet): the next one is a minute away.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const started = Date.now()
    const publish = spawnRelup([
      'publish',
      await coldBuild('2.0.0'),
      '--cold',
      '--command',
      `${process.execPath} server.mjs`,
      ...flags,
      ...['--notify', server.url, '--expect', '1', '--timeout', '20s'],
    ])
    expect((await publish.exited).code).toBe(0)
    expect((await answer(origin)).version).toBe('2.0.0')
    expect(Date.now() - started).toBeLessThan(20_000)
    run.child.kill('SIGTERM')
    expect((await run.exited).code).toBe(0)
  }, 30_000)
})
