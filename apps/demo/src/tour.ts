/**
 * The guided tour (`npm start` at the repository root, or `pnpm --filter @relup/demo tour`): it
 * starts the demo server as a real process on a throwaway filesystem storage, uses it, publishes
 * v2 and v3 with the real `relup` CLI, and shows what changed and what was kept after each step.
 * Exits 1 if any check fails; always stops the server it started.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { type MachineResult, parseMachineResult, readDocument, relupKeys } from '@relup/core'
import { openStorage } from '@relup/publisher'
import { type DemoServer, startDemoServer } from './demoProcess.js'
import { hotDir, localStateDir, repoDir } from './paths.js'
import { runRelupCli } from './relupCli.js'
import { EventStream } from './sseClient.js'

const APP = 'demo'
const MACHINE_ID = 'tour-machine-1'

// ---- output ------------------------------------------------------------------------------------

const color = process.stdout.isTTY === true && !process.env.NO_COLOR
const paint = (code: number) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text)
const bold = paint(1)
const dim = paint(2)
const green = paint(32)
const red = paint(31)
const cyan = paint(36)

const say = (line = '') => process.stdout.write(`${line}\n`)
const heading = (text: string) => say(`\n${bold(text)}`)
const ok = (text: string) => say(`  ${green('✓')} ${text}`)
const info = (text: string) => say(`    ${dim(text)}`)
const command = (text: string) => say(`  ${cyan('$')} ${text}`)
const json = (value: unknown) => JSON.stringify(value)
const ms = (value: number) => value.toFixed(2)

class TourFailure extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new TourFailure(message)
}

// ---- HTTP --------------------------------------------------------------------------------------

async function request(
  server: DemoServer,
  method: string,
  path: string,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${path}`, { method })
  const text = await response.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: response.status, body }
}

async function get(server: DemoServer, path: string): Promise<any> {
  const { status, body } = await request(server, 'GET', path)
  check(status === 200, `GET ${path} answered ${status}: ${json(body)}`)
  return body
}

async function post(server: DemoServer, path: string): Promise<any> {
  const { status, body } = await request(server, 'POST', path)
  check(status === 200, `POST ${path} answered ${status}: ${json(body)}`)
  return body
}

/** The text of the page's <h1>. */
async function pageHeading(server: DemoServer): Promise<string> {
  const { status, body } = await request(server, 'GET', '/')
  check(status === 200 && typeof body === 'string', `GET / answered ${status}`)
  const h1 = body.match(/<h1>([\s\S]*?)<\/h1>/)?.[1] ?? ''
  return h1
    .replace(/<[^>]+>/g, '')
    .replace(/\s+/g, ' ')
    .trim()
}

/** "hello, counter ×3, version v2": the events one connection received, in order. */
function describeEvents(stream: EventStream): string {
  const parts: string[] = []
  for (const { event, data } of stream.events) {
    const label = event === 'version' ? `version ${data.version}` : event
    const last = parts.at(-1)
    const match = last?.match(/^(.*?)(?: ×(\d+))?$/)
    if (match && match[1] === label && event !== 'version')
      parts[parts.length - 1] = `${label} ×${Number(match[2] ?? 1) + 1}`
    else parts.push(label)
  }
  return parts.join(', ')
}

// ---- publishing --------------------------------------------------------------------------------

interface Published {
  seconds: number
  result: MachineResult
}

/** Aborted when the tour is interrupted: the CLI it runs must not outlive it. */
const interrupted = new AbortController()

async function publish(version: string, storageUrl: string, storageDir: string): Promise<Published> {
  const dir = relative(repoDir, hotDir(version))
  const storageArg = `file://${relative(repoDir, storageDir)}`
  command(
    `node packages/cli/dist/relup.js publish ${dir} --app ${APP} --storage ${storageArg} --version ${version} --expect 1`,
  )
  const run = await runRelupCli(
    [
      'publish',
      dir,
      '--app',
      APP,
      '--storage',
      storageArg,
      '--version',
      version,
      '--expect',
      '1',
      '--timeout',
      '30s',
      '--json',
    ],
    { timeoutMs: 45_000, signal: interrupted.signal },
  )
  check(run.code === 0, `relup publish ${version} exited ${run.code}:\n${run.stdout}${run.stderr}`)
  const outcome = run.json
  const machine = outcome?.machines?.find((m: { machineId: string }) => m.machineId === MACHINE_ID)
  check(machine?.status === 'completed', `the machine did not complete ${version}: ${run.stdout}`)
  // The machine's own result document has the details the CLI summary leaves out.
  const storage = await openStorage(storageUrl)
  try {
    const read = await readDocument(
      storage,
      relupKeys(APP).result(outcome.upgradeId, MACHINE_ID),
      parseMachineResult,
    )
    check(read.status === 'ok', `no result from ${MACHINE_ID} for ${version}`)
    return { seconds: run.durationMs / 1000, result: read.document }
  } finally {
    await storage.close?.()
  }
}

function reportPublished(version: string, { seconds, result }: Published): void {
  const stats = result.stats!
  ok(
    `published ${version} in ${seconds.toFixed(1)} s; ${result.machineId} reported: ${result.status}, ` +
      `pause ${ms(stats.pauseMs)} ms`,
  )
  info(
    `modules reloaded: ${stats.moduleNames.join(', ')}; units migrated: ${stats.unitNames.join(', ') || 'none'}`,
  )
}

// ---- the tour ----------------------------------------------------------------------------------

interface Row {
  version: string
  pauseMs: number
  modules: string
  units: string
}

async function tour(workDir: string, servers: DemoServer[], streams: EventStream[]): Promise<void> {
  const storageDir = join(workDir, 'storage')
  const storageUrl = `file://${storageDir}`
  const rows: Row[] = []

  say(bold('relup demo tour: a live Node.js server, upgraded twice while it serves'))
  info(`storage: ${relative(repoDir, storageDir)} (a local directory plays the object store)`)

  heading('1. Start the server: v1, the base release its cold build ships')
  const server = await startDemoServer({
    env: {
      RELUP_STORAGE: storageUrl,
      RELUP_STATE_DIR: join(workDir, 'state'),
      RELUP_MACHINE_ID: MACHINE_ID,
      RELUP_APP: APP,
      RELUP_BASE_REF: 'demo-image-1',
    },
  })
  servers.push(server)
  const pid = server.child.pid
  check(server.ready.version === 'v1', `expected v1 at start, got ${server.ready.version}`)
  ok(
    `listening on ${server.url} (pid ${pid}), version ${bold('v1')}, fingerprint ${server.ready.fingerprint}`,
  )
  const hello1 = await request(server, 'GET', '/api/hello')
  check(hello1.status === 404, `v1 should not know /api/hello, got ${hello1.status}`)
  ok('GET /api/hello → 404: v1 has no such route')
  ok(`GET / → "${await pageHeading(server)}"`)

  heading('2. Use it: open a live event stream, then count')
  const stream = await EventStream.open(`${server.url}/events`)
  streams.push(stream)
  const hello = await stream.waitFor((e) => e.event === 'hello', 5000, 'the hello event')
  check(stream.events[0]?.event === 'hello', 'the first event on the stream should be hello')
  ok(
    `GET /events: an SSE connection, kept open from here on; first event: hello (${hello.data.version}, count ${hello.data.count})`,
  )
  const counts: unknown[] = []
  for (let i = 0; i < 3; i++) counts.push(await post(server, '/api/increment'))
  check((counts.at(-1) as { count: number }).count === 3, `expected count 3, got ${json(counts.at(-1))}`)
  ok(`POST /api/increment ×3 → ${counts.map(json).join(' ')}`)
  await stream.waitFor((e) => e.event === 'counter' && e.data.count === 3, 5000, 'the counter event for 3')
  ok(`the stream pushed each change: ${describeEvents(stream)}`)

  heading('3. Publish v2: a new page heading and colour, a new route, a new increment answer')
  const v2 = await publish('v2', storageUrl, storageDir)
  reportPublished('v2', v2)
  rows.push({
    version: 'v2',
    pauseMs: v2.result.stats!.pauseMs,
    modules: v2.result.stats!.moduleNames.join(', '),
    units: v2.result.stats!.unitNames.join(', ') || '-',
  })
  const version2 = await stream.waitFor(
    (e) => e.event === 'version' && e.data.version === 'v2',
    10_000,
    'the v2 version event',
  )
  const info2 = await get(server, '/api/version')
  check(info2.version === 'v2', `expected v2, /api/version says ${info2.version}`)
  ok(`GET /api/version → ${bold('v2')}, fingerprint ${info2.fingerprint} (was ${server.ready.fingerprint})`)
  const heading2 = await pageHeading(server)
  check(
    heading2.startsWith('relup demo, hot-upgraded'),
    `the page should have v2's heading, got "${heading2}"`,
  )
  ok(`GET / → "${heading2}": v2's page (an open page swaps it in live)`)
  const hello2 = await get(server, '/api/hello')
  check(hello2.hello === 'from v2', `unexpected /api/hello answer ${json(hello2)}`)
  ok(`GET /api/hello → ${json(hello2)}: the new route is there`)
  const counter2 = await get(server, '/api/counter')
  check(counter2.count === 3, `the count should have survived the upgrade: ${json(counter2)}`)
  ok(`GET /api/counter → ${json(counter2)}: the count is kept`)
  info('counter.js did not change in v2, so the counter unit was not even paused')
  const inc2 = await post(server, '/api/increment')
  check(inc2.count === 4 && inc2.countedBy === 'v2', `unexpected v2 increment answer ${json(inc2)}`)
  ok(`POST /api/increment → ${json(inc2)}: v2's new answer`)
  check(!stream.closed, 'the SSE connection closed during the upgrade')
  ok(
    `the same SSE connection is still open: ${stream.events.length} events so far (${describeEvents(stream)})`,
  )
  info(
    `the version event came on it: ${json({ version: version2.data.version, fingerprint: version2.data.fingerprint })}`,
  )

  heading("4. Publish v3: the counter's state changes shape, and codeChange migrates it")
  const before = await get(server, '/api/state')
  info(`before: the counter unit's state is ${json(before.units.counter)}`)
  const v3 = await publish('v3', storageUrl, storageDir)
  reportPublished('v3', v3)
  rows.push({
    version: 'v3',
    pauseMs: v3.result.stats!.pauseMs,
    modules: v3.result.stats!.moduleNames.join(', '),
    units: v3.result.stats!.unitNames.join(', ') || '-',
  })
  await stream.waitFor(
    (e) => e.event === 'version' && e.data.version === 'v3',
    10_000,
    'the v3 version event',
  )
  const after = await get(server, '/api/state')
  check(after.version === 'v3', `expected v3, /api/state says ${after.version}`)
  check(
    after.units.counter.value === before.units.counter.count && !('count' in after.units.counter),
    `the counter should be ${before.units.counter.count} in the new shape, got ${json(after.units.counter)}`,
  )
  ok(`after: ${json(after.units.counter)}: the same number, in v3's shape`)
  const heading3 = await pageHeading(server)
  check(
    heading3.startsWith('relup demo, new counter state'),
    `the page should have v3's heading, got "${heading3}"`,
  )
  ok(`GET / → "${heading3}"`)
  const inc3 = await post(server, '/api/increment')
  check(
    inc3.count === 5 && typeof inc3.changedAt === 'string',
    `unexpected v3 increment answer ${json(inc3)}`,
  )
  ok(`POST /api/increment → ${json(inc3)}: v3 records when it changed`)
  await stream.waitFor((e) => e.event === 'counter' && e.data.count === 5, 5000, 'the counter event for 5')
  const versions = stream.named('version').map((e) => e.data.version)
  check(
    !stream.closed && versions.join() === 'v2,v3',
    `expected version events v2, v3 on one open stream, got ${versions}`,
  )
  ok(`the same SSE connection, never reconnected: ${stream.events.length} events (${describeEvents(stream)})`)

  heading('Summary')
  const table = [
    ['version', 'pause ms', 'modules reloaded', 'units migrated'],
    ...rows.map((r) => [r.version, ms(r.pauseMs), r.modules, r.units]),
  ]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
  for (const [index, row] of table.entries()) {
    const line = row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('   ')
      .trimEnd()
    say(`  ${index === 0 ? dim(line) : line}`)
  }
  const final = await get(server, '/api/version')
  check(
    final.clients === 1,
    `expected the tour's one SSE client to be connected, /api/version says ${final.clients}`,
  )
  say()
  ok(
    `one process (pid ${pid}) from start to end, one SSE connection (${final.clients} client), ` +
      `the counter at ${inc3.count}: nothing restarted, nothing dropped`,
  )

  stream.close()
  const code = await server.stop()
  check(code === 0, `the server exited with ${code} on SIGTERM`)
  ok('server stopped with SIGTERM (exit 0)')
}

function nextSteps(): void {
  heading('Your turn')
  say('  Keep a server running (it stays up until Ctrl-C):')
  command('npm run demo')
  say(
    `  open ${bold('http://127.0.0.1:3000')}, click the counter, then from the repository root in another terminal:`,
  )
  command(
    'node packages/cli/dist/relup.js publish apps/demo/hot/v2 --app demo --storage file://.relup-demo/storage --version v2',
  )
  command(
    'node packages/cli/dist/relup.js publish apps/demo/hot/v3 --app demo --storage file://.relup-demo/storage --version v3',
  )
  say('  The page follows each upgrade live, without a reload. Start over from v1: rm -rf .relup-demo')
  say('  More (S3 or Tigris storage, the routes, the three versions): apps/demo/README.md')
}

async function main(): Promise<number> {
  const started = performance.now()
  await mkdir(localStateDir, { recursive: true })
  const workDir = await mkdtemp(join(localStateDir, 'tour-'))
  const servers: DemoServer[] = []
  const streams: EventStream[] = []
  const cleanUp = async () => {
    for (const stream of streams) stream.close()
    await Promise.all(servers.map((server) => server.stop(5000)))
  }
  // Interrupted (Ctrl-C, or a test runner giving up): stop the server and the CLI at once; the
  // steps waiting on them fail, and the catch below reports the interruption and tidies up.
  const interruption: { by: { signal: NodeJS.Signals; code: number } | null } = { by: null }
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      interruption.by = { signal, code }
      interrupted.abort()
      void cleanUp()
      setTimeout(() => process.exit(code), 10_000).unref()
    })
  }
  try {
    await tour(workDir, servers, streams)
    await cleanUp()
    await rm(workDir, { recursive: true, force: true })
    nextSteps()
    say()
    say(dim(`tour finished in ${((performance.now() - started) / 1000).toFixed(1)} s`))
    return 0
  } catch (error) {
    const { by } = interruption
    if (by) {
      await cleanUp()
      await rm(workDir, { recursive: true, force: true })
      say(
        `\n  ${red('✗')} interrupted (${by.signal}): stopped the server and removed ${relative(repoDir, workDir)}`,
      )
      return by.code
    }
    say()
    const message = error instanceof Error ? error.message : String(error)
    say(`  ${red('✗')} ${message.trimEnd().split('\n').join('\n    ')}`)
    const server = servers.at(-1)
    const log = server?.log()
    if (server && log) {
      say(dim(`\n  the server log (pid ${server.child.pid}, stderr):`))
      for (const line of log.trimEnd().split('\n').slice(-30)) say(dim(`    ${line}`))
    }
    await cleanUp()
    say(
      `\n  the tour failed; its storage and state are kept in ${relative(repoDir, workDir)} (under the repository root)`,
    )
    return 1
  }
}

process.exitCode = await main()
