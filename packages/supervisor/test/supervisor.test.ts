import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { ChildNotReadyError, ListenError } from '../src/index.js'
import { runSupervisor } from '../src/supervisor.js'
import {
  APP,
  agent,
  alive,
  attempt,
  freePort,
  get,
  loadLoop,
  release,
  sleep,
  stopAll,
  supervise,
  until,
} from './helpers.js'
import { rawConnection } from './rawHttp.js'

afterEach(stopAll)

describe('the app helper', () => {
  it('listens on its own port without a supervisor', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, [APP], {
      env: { ...process.env, APP_VERSION: 'alone', PORT: String(port) },
      stdio: 'ignore',
    })
    try {
      const answer = await until('the app to answer', () => attempt(() => get(`http://127.0.0.1:${port}`)))
      expect(answer).toMatchObject({ version: 'alone', pid: child.pid })
    } finally {
      child.kill()
    }
  })
})

describe('runSupervisor', () => {
  it('hands its socket to the app and never serves itself', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const answer = await get(origin)
    expect(answer.version).toBe('v1')
    expect(answer.pid).toBe(supervisor.current?.pid)
    expect(answer.pid).not.toBe(process.pid)
  })

  it('refuses a port that is taken, starting nothing', async () => {
    const { supervisor } = await supervise(release('v1'))
    const port = supervisor.sockets[0]!.actualPort
    await expect(
      runSupervisor({ release: release('v2'), ports: [{ port, host: '127.0.0.1' }] }),
    ).rejects.toThrow(ListenError)
  })

  it('cuts over under load without losing a request; the counter survives through the handoff', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const oldPid = supervisor.current!.pid
    const load = loadLoop(origin)
    await until('some load', () => load.ok > 50)
    const result = await supervisor.cutover(release('v2'))
    await until('load on v2', () => load.pids.size === 2 && load.ok > 200)
    await load.stop()
    expect(result).toMatchObject({ status: 'completed', release: 'v2', killedOld: false })
    expect(load.failures).toEqual([])
    expect(alive(oldPid)).toBe(false)
    const after = await get(origin)
    expect(after.version).toBe('v2')
    expect(after.pid).toBe(supervisor.current!.pid)
    // Every increment, on the old process and on the new one, is in the count.
    expect(after.counter).toBe(load.ok)
  })

  it('ends long-lived streams on the old process with a reconnect event, then the old process exits', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const { body } = await request(`${origin}/events`, { dispatcher: agent })
    let text = ''
    const ended = (async () => {
      for await (const chunk of body) text += chunk
    })()
    await until('the hello event', () => text.includes('event: hello'))
    const result = await supervisor.cutover(release('v2'))
    await ended // a clean end of the stream, not a reset (a reset rejects)
    expect(text).toContain('event: reconnect')
    expect(result.status).toBe('completed')
  })

  it('hands an idle keep-alive connection to the new process: the next request on it is answered there, never reset', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const connection = await rawConnection(origin)
    const before = JSON.parse((await connection.request('/')).body)
    expect(before.version).toBe('v1')
    // The client keeps the connection (the server said keep-alive) while the process is replaced.
    const result = await supervisor.cutover(release('v2'))
    expect(alive(before.pid)).toBe(false)
    const after = await connection.request('/inc', 'POST')
    expect(after.status).toBe(200)
    expect(JSON.parse(after.body)).toMatchObject({ version: 'v2', pid: supervisor.current!.pid })
    expect(result).toMatchObject({ status: 'completed', handedOver: 1 })
    // And it stays an ordinary connection of the new process, through the next cutover too.
    await supervisor.cutover(release('v3'))
    expect(JSON.parse((await connection.request('/')).body)).toMatchObject({ version: 'v3', counter: 1 })
    connection.close()
  })

  it('a connection handed over waits for the old process’s state: the next request on it sees what the last one did', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relup-gate-'))
    const gate = join(dir, 'gate')
    const { supervisor, origin } = await supervise(release('v1', { APP_HANDOFF_GATE: gate }))
    const connection = await rawConnection(origin)
    expect(JSON.parse((await connection.request('/inc', 'POST')).body).counter).toBe(1)
    const cutover = supervisor.cutover(release('v2'))
    // Asked for its state: the old process has no connection left, so this one is with v2 now.
    await until('the handoff asked for', () => existsSync(`${gate}.asked`))
    connection.send('/')
    await writeFile(gate, '')
    const next = JSON.parse((await connection.response()).body)
    expect(next).toMatchObject({ version: 'v2', counter: 1 })
    expect(await cutover).toMatchObject({ status: 'completed', handedOver: 1 })
    connection.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a stream under way when the drain began keeps its connection, which moves on once the stream ends', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const connection = await rawConnection(origin)
    connection.send('/events')
    await connection.received('event: hello')
    const cutover = supervisor.cutover(release('v2'))
    // The old process ends the stream in onDrain; the client reconnects on the same connection.
    const stream = await connection.response()
    expect(stream.body).toContain('event: reconnect')
    expect(stream.headers.connection).not.toBe('close')
    const next = await connection.request('/')
    expect(JSON.parse(next.body).version).toBe('v2')
    expect(await cutover).toMatchObject({ status: 'completed', handedOver: 1 })
    connection.close()
  })

  it('closes idle connections instead when the new process cannot take them (a helper from before hand-over)', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const connection = await rawConnection(origin)
    await connection.request('/')
    const result = await supervisor.cutover(release('v2', { APP_MODE: 'no-adopt' }))
    expect(result).toMatchObject({ status: 'completed', handedOver: 0 })
    await connection.closed
    expect((await get(origin)).version).toBe('v2')
  })

  it('keeps the old process serving when the new one crashes at startup, and does not restart it', async () => {
    const { supervisor, events, origin } = await supervise(release('v1'))
    const load = loadLoop(origin, 2)
    const result = await supervisor.cutover(release('v2', { APP_MODE: 'crash-at-start' }))
    await sleep(500)
    await load.stop()
    expect(result.status).toBe('failed')
    expect(result.status === 'failed' && result.error).toBeInstanceOf(ChildNotReadyError)
    expect(load.failures).toEqual([])
    expect((await get(origin)).version).toBe('v1')
    expect(events.filter((e) => e.type === 'spawned' && e.release === 'v2')).toHaveLength(1)
  })

  it('stops a new process that never says ready; the old one keeps serving', async () => {
    const { supervisor, origin } = await supervise(release('v1'), { readyTimeout: 800 })
    const result = await supervisor.cutover(release('v2', { APP_MODE: 'never-ready' }))
    expect(result.status).toBe('failed')
    expect(result.status === 'failed' && result.error.message).toMatch(/no ready message within 800 ms/)
    expect((await get(origin)).version).toBe('v1')
    expect(supervisor.current?.release).toBe('v1')
  })

  it('kills an old process whose request never ends at the drain timeout', async () => {
    const { supervisor, origin } = await supervise(release('v1'), { drainTimeout: 700 })
    const oldPid = supervisor.current!.pid
    await get(origin, '/inc', 'POST')
    const stuck = get(origin, '/slow?ms=-1').catch((error: Error) => error)
    await sleep(100)
    const began = Date.now()
    const result = await supervisor.cutover(release('v2'))
    expect(result).toMatchObject({ status: 'completed', killedOld: true })
    expect(Date.now() - began).toBeLessThan(3000)
    expect(await stuck).toBeInstanceOf(Error)
    expect(alive(oldPid)).toBe(false)
    // The handoff went just before the kill.
    expect(await get(origin)).toMatchObject({ version: 'v2', counter: 1 })
  })

  it('refuses a handoff that is not plain data; the new process starts without it', async () => {
    const { supervisor, events, origin } = await supervise(release('v1', { APP_MODE: 'bad-handoff' }))
    await get(origin, '/inc', 'POST')
    const result = await supervisor.cutover(release('v2'))
    expect(result.status).toBe('completed')
    expect(await get(origin)).toMatchObject({ version: 'v2', counter: 0 })
    expect(events.some((e) => e.type === 'handoff')).toBe(false)
  })

  it('a process whose supervisor is killed drains and exits instead of holding the port', async () => {
    const script = `
      const { runSupervisor } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)})
      const s = await runSupervisor({ release: { id: 'v1', command: [process.execPath, ${JSON.stringify(APP)}] }, ports: [{ port: 0, host: '127.0.0.1' }], stdio: 'ignore',
        onEvent: (e) => e.type === 'ready' && console.log(JSON.stringify(e)) })`
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    parent.stdout.on('data', (chunk) => {
      out += chunk
    })
    const { pid } = await until(
      'the app to be ready',
      () => out.includes('\n') && (JSON.parse(out) as { pid: number }),
    )
    parent.kill('SIGKILL')
    await until('the orphan to exit', () => !alive(pid))
    expect(alive(pid)).toBe(false)
  })

  it('finishes a slow in-flight request on the old process during the drain', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const slow = get(origin, '/slow?ms=600')
    await sleep(100)
    const result = await supervisor.cutover(release('v2'))
    expect(await slow).toMatchObject({ version: 'v1', slow: 600 })
    expect(result).toMatchObject({ status: 'completed', killedOld: false })
  })

  it('finishes a slow in-flight HTTPS request too: a TLS server’s connections are followed past the handshake', async () => {
    const { supervisor, origin } = await supervise(release('v1', { APP_TLS: '1' }))
    const secure = origin.replace('http:', 'https:')
    const tls = new Agent({
      connect: { ca: readFileSync(new URL('./fixtures/tls/cert.pem', import.meta.url)) },
    })
    const slow = request(`${secure}/slow?ms=1500`, { dispatcher: tls }).then((r) => r.body.json())
    await sleep(100)
    const result = await supervisor.cutover(release('v2', { APP_TLS: '1' }))
    // Idle for longer than the drain's grace, but busy: it is not the drain's to close.
    expect(await slow).toMatchObject({ version: 'v1', slow: 1500 })
    expect(result).toMatchObject({ status: 'completed', killedOld: false, handedOver: 0 })
    await tls.close()
  })

  it('restarts a crashed process, and connections made meanwhile wait in the accept queue', async () => {
    const { supervisor, events, origin } = await supervise(release('v1'))
    const pid = supervisor.current!.pid
    process.kill(pid, 'SIGKILL')
    await until('the crash', () => !alive(pid))
    // Sent while no process runs: the socket stays open in the supervisor, the kernel queues it.
    const answer = await get(origin)
    expect(answer.pid).not.toBe(pid)
    expect(events.some((e) => e.type === 'restarting' && e.release === 'v1')).toBe(true)
  })

  it('goes back to the last good release when a new one crashes after its cutover (no crash loop)', async () => {
    const { supervisor, events, origin } = await supervise(release('v1'))
    await sleep(1100) // v1 proves itself (stableAfter 1 s)
    expect(supervisor.lastGood).toBe('v1')
    const result = await supervisor.cutover(
      release('v2', { APP_MODE: 'crash-after-ready', APP_CRASH_AFTER_MS: '200' }),
    )
    expect(result.status).toBe('completed')
    await until('the fallback', () => events.find((e) => e.type === 'fallback'))
    await until(
      'v1 back',
      () => supervisor.current?.release === 'v1' && events.filter((e) => e.type === 'ready').length === 3,
    )
    expect((await get(origin)).version).toBe('v1')
    await sleep(500)
    expect(events.filter((e) => e.type === 'spawned' && e.release === 'v2')).toHaveLength(1)
  })

  it('backs off restarting a process that crashes again and again', async () => {
    const events: { type: string; inMs?: number }[] = []
    const supervisor = await runSupervisor({
      release: release('bad', { APP_MODE: 'crash-at-start' }),
      ports: [{ port: 0, host: '127.0.0.1' }],
      restartDelay: { initial: 50, max: 400 },
      stdio: 'ignore',
      onEvent: (event) => events.push(event),
    })
    try {
      await until('four restarts', () => events.filter((e) => e.type === 'restarting').length >= 4)
      const delays = events.filter((e) => e.type === 'restarting').map((e) => e.inMs)
      expect(delays.slice(0, 4)).toEqual([50, 100, 200, 400])
    } finally {
      await supervisor.stop()
    }
  })

  it('stops every process gracefully: in-flight requests finish', async () => {
    const { supervisor, origin } = await supervise(release('v1'))
    const pid = supervisor.current!.pid
    const slow = get(origin, '/slow?ms=400')
    await sleep(100)
    await supervisor.stop()
    expect(await slow).toMatchObject({ slow: 400 })
    expect(alive(pid)).toBe(false)
  })
})
