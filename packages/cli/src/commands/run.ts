/**
 * `relup run [--port <[host:]port>]… [options] -- <command…>`: the supervisor of one machine. It
 * owns the listening sockets and runs the command as the app process, handing it those sockets
 * (the app calls `listen(server, port)` from `@relup/supervisor/app`). A crashed app is restarted
 * with backoff; SIGUSR2 replaces the app with a fresh process of the same command (new code on
 * disk, the sockets kept: a cold upgrade without a dropped connection); SIGHUP is passed to the
 * app; SIGTERM and SIGINT drain the app and exit 0.
 */
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadKey } from '@relup/artifact'
import { DEFAULT_STORAGE, openStorage } from '@relup/publisher'
import type { PortSpec, Release, SupervisorEvent } from '@relup/supervisor'
import type { Command } from '../command.js'
import { UsageError } from '../errors.js'

const FLAGS = {
  port: { type: 'string', multiple: true },
  'ready-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  app: { type: 'string' },
  storage: { type: 'string' },
  prefix: { type: 'string' },
  'machine-id': { type: 'string' },
  'releases-dir': { type: 'string' },
  'poll-interval': { type: 'string' },
  'trusted-key': { type: 'string', multiple: true },
  notify: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const HELP = `relup run --port <[host:]port> [--port …] [--ready-timeout <ms>] [--drain-timeout <ms>]
          [--app <name> [--storage <url>] [--machine-id <id>] [--releases-dir <dir>] [--trusted-key <pem>]…
           [--notify <url>]]
          [--json] -- <command> [args…]

Runs your app (the command, e.g. \`node dist/server.js\`) under a supervisor that owns its
listening sockets. The app takes them with listen(server, port) from @relup/supervisor/app
(without a supervisor, the same call is server.listen(port)); the supervisor never serves
traffic itself, and never closes a socket while it runs, so no connection is refused between
two processes.

  kill -USR2 <pid>   cold upgrade: start a new process of the command beside the old one, wait
                     for its ready message, then drain the old one (in-flight requests finish,
                     long-lived clients are told to reconnect, its handOff() state goes to the new
                     process); a new process that fails to start is stopped, the old one keeps serving
  kill -HUP <pid>    passed to the app
  kill -TERM <pid>   (or Ctrl-C) drain the app, exit 0

A crashed app is restarted with backoff (200 ms doubling to 30 s); a new release that crashes
before it proved itself (10 s) is replaced by the last good one.

Cold releases (relup publish --cold): with --app, the supervisor boots the cold release the
storage names (else the command) and follows it: a new one is downloaded, verified, extracted
into --releases-dir and cut over to; results are written as for hot upgrades (pending, then
completed or failed); a release that failed is not tried again. The app inside keeps doing hot
upgrades (its startRelup() gets RELUP_BASE_REF=cold-<releaseId>). During a staged rollout
(relup publish --cold --rollout …) a machine in the wave runs the candidate on probation for the
health window: a process that dies in it sends the machine back to the stable release (failed);
a candidate withdrawn (halted, aborted) sends it back too, with the state handoff.

Options:
  --port <[host:]port>   a socket to own (repeatable; host default 0.0.0.0; 0 = any free port)
  --ready-timeout <ms>   how long a new process may take to say ready (default 30000)
  --drain-timeout <ms>   how long an old process may drain before it is killed (default 10000)
  --app <name>           follow the app's cold releases in the storage
  --storage <url>        file://<dir> (default file://./.relup), s3://<bucket>[/<prefix>]
  --machine-id <id>      for results (default RELUP_MACHINE_ID, FLY_MACHINE_ID, else the host name)
  --releases-dir <dir>   where cold releases are extracted (default .relup-run/releases)
  --poll-interval <ms>   how often the cold pointer is read (default 1000; 60000 with --notify)
  --notify <url>         read the cold pointer as soon as a publisher rings redis://host:port or
                         nats://host:port (default RELUP_NOTIFY; needs @relup/notifier-redis or
                         @relup/notifier-nats installed); the poll is then only a safety net
  --trusted-key <pem>    an Ed25519 public key (PEM file, repeatable; see relup keygen): a cold
                         release not signed by one of them (relup publish --cold --sign) is
                         refused, reported failed, and the serving process keeps serving
  --json                 one JSON event per line on stdout instead of messages on stderr`

function parsePort(value: string): PortSpec {
  const match = /^(?:(.+):)?(\d{1,5})$/.exec(value.trim())
  const port = Number(match?.[2])
  if (!match || port > 65535)
    throw new UsageError(
      `--port takes a port or host:port like 3000 or 127.0.0.1:3000, got ${JSON.stringify(value)}`,
    )
  return match[1] === undefined ? { port } : { port, host: match[1].replace(/^\[(.*)\]$/, '$1') }
}

function parseMs(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = Number(value)
  if (!Number.isInteger(ms) || ms <= 0)
    throw new UsageError(`--${flag} takes milliseconds, got ${JSON.stringify(value)}`)
  return ms
}

/** relup's flags come first; the command starts at `--` or at the first word that is not a flag. */
function splitArgv(argv: string[]): { own: string[]; command: string[] } {
  const takesValue = new Set(
    Object.entries(FLAGS)
      .filter(([, spec]) => spec.type === 'string')
      .map(([name]) => `--${name}`),
  )
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (token === '--') return { own: argv.slice(0, i), command: argv.slice(i + 1) }
    if (!token.startsWith('-')) return { own: argv.slice(0, i), command: argv.slice(i) }
    if (takesValue.has(token)) i++
  }
  return { own: argv, command: [] }
}

function describe(event: SupervisorEvent): string | null {
  switch (event.type) {
    case 'listening':
      return `listening on ${event.sockets.map((s) => `${s.host}:${s.actualPort}`).join(', ')}`
    case 'ready':
      return `${event.release} (pid ${event.pid}) ready in ${event.ms} ms`
    case 'not-ready':
      return `${event.release} (pid ${event.pid}): ${event.reason}`
    case 'exited':
      return event.expected
        ? null
        : `${event.release} (pid ${event.pid}) ${event.signal ? `was killed by ${event.signal}` : `exited with code ${event.code}`}`
    case 'restarting':
      return `restarting ${event.release} in ${event.inMs} ms (attempt ${event.attempt})`
    case 'fallback':
      return `${event.reason}: back to ${event.to}`
    case 'drained':
      return `${event.release} (pid ${event.pid}) ${event.killed ? 'killed at the drain timeout' : 'drained'} after ${event.ms} ms${event.handedOver > 0 ? `, ${event.handedOver} idle connection${event.handedOver === 1 ? '' : 's'} handed to the new process` : ''}`
    case 'cutover':
      return event.result.status === 'completed'
        ? `cut over to ${event.result.release} (pid ${event.result.pid})`
        : `cutover to ${event.result.release} failed: ${event.result.error.message}`
    case 'unhealthy':
      return `${event.release} (pid ${event.pid}) reports itself unhealthy: ${event.reason}`
    case 'stopping':
      return `stopping (${event.reason})`
    case 'spawned':
    case 'handoff':
    case 'stopped':
      return null
  }
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the app under a supervisor that owns its sockets (cold upgrades without downtime)',
  help: HELP,
  async run(argv, { io }) {
    const { own, command } = splitArgv(argv)
    let values: {
      port?: string[]
      'ready-timeout'?: string
      'drain-timeout'?: string
      app?: string
      storage?: string
      prefix?: string
      'machine-id'?: string
      'releases-dir'?: string
      'poll-interval'?: string
      'trusted-key'?: string[]
      notify?: string
      json?: boolean
      help?: boolean
    }
    try {
      values = parseArgs({ args: own, options: FLAGS, strict: true, allowPositionals: false }).values
    } catch (error) {
      throw new UsageError(`${(error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '')}; see --help`)
    }
    if (values.help) {
      io.stdout.write(`${HELP}\n`)
      return 0
    }
    if (command.length === 0)
      throw new UsageError(
        'relup run needs the command that starts your app: relup run --port 3000 -- node server.js',
      )
    if (!values.port?.length)
      throw new UsageError('relup run needs at least one --port to own, e.g. --port 3000')
    const ports = values.port.map(parsePort)
    if (values['trusted-key']?.length && values.app === undefined)
      throw new UsageError('--trusted-key checks cold releases: it needs --app <name> (and --storage)')
    if (values.notify !== undefined && values.app === undefined)
      throw new UsageError(
        '--notify makes the supervisor hear of cold releases: it needs --app <name> (and --storage)',
      )
    const report = (event: SupervisorEvent) => {
      if (values.json) {
        const plain =
          event.type === 'cutover' && event.result.status === 'failed'
            ? { ...event, result: { ...event.result, error: event.result.error.message } }
            : event
        io.stdout.write(`${JSON.stringify(plain)}\n`)
        return
      }
      const line = describe(event)
      if (line) io.stderr.write(`relup run: ${line}\n`)
    }
    const readyTimeout = parseMs('ready-timeout', values['ready-timeout'])
    const drainTimeout = parseMs('drain-timeout', values['drain-timeout'])
    // Loaded here: the other commands never need it.
    const { bootRelease, followColdReleases, openColdNotifier, runSupervisor } = await import(
      '@relup/supervisor'
    )
    const say = (line: string) => (values.json ? undefined : io.stderr.write(`relup run: ${line}\n`))
    const base = { id: 'r1', command, cwd: io.cwd }
    const pollInterval = parseMs('poll-interval', values['poll-interval'])
    const cold =
      values.app === undefined
        ? null
        : {
            storage: await openStorage(values.storage ?? io.env.RELUP_STORAGE ?? DEFAULT_STORAGE, {
              cwd: io.cwd,
              env: io.env,
            }),
            app: values.app,
            prefix: values.prefix,
            machineId: values['machine-id'] ?? io.env.RELUP_MACHINE_ID ?? io.env.FLY_MACHINE_ID ?? hostname(),
            releasesDir: resolve(io.cwd, values['releases-dir'] ?? '.relup-run/releases'),
            trustedKeys: await Promise.all(
              (values['trusted-key'] ?? []).map((key) =>
                loadKey(key.includes('-----BEGIN') ? key : resolve(io.cwd, key)),
              ),
            ),
          }
    const notifyUrl = values.notify ?? io.env.RELUP_NOTIFY
    // Opened before anything starts: a missing adapter package is a usage problem, said at once.
    const notifier = cold && notifyUrl ? await openColdNotifier(notifyUrl) : undefined
    let first = base as Release
    if (cold) {
      const boot = await bootRelease(cold, base)
      if (boot.error)
        say(`cannot boot the cold release (${boot.error.message}); starting ${command.join(' ')}`)
      else if (boot.cold) say(`booting cold release ${boot.cold.version} (${boot.cold.releaseId})`)
      first = boot.release
    }
    const supervisor = await runSupervisor({
      release: first,
      ports,
      env: io.env,
      onEvent: report,
      ...(readyTimeout !== undefined && { readyTimeout }),
      ...(drainTimeout !== undefined && { drainTimeout }),
    })
    const follower = cold
      ? followColdReleases({
          ...cold,
          supervisor,
          say,
          base,
          notifier,
          ...(pollInterval !== undefined && { pollInterval }),
        })
      : null
    const onSignal = (signal: NodeJS.Signals) => {
      if (signal === 'SIGHUP') return supervisor.signal('SIGHUP')
      if (signal === 'SIGUSR2') {
        // A fresh process of what serves now (the same release id: a cold pointer still names it).
        // Refused while another cutover runs or while stopping; the app keeps serving either way.
        supervisor.cutover(supervisor.currentRelease ?? first).catch((error: Error) => {
          io.stderr.write(`relup run: ${error.message}\n`)
        })
        return
      }
      void supervisor.stop(signal)
    }
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR2'] as const
    for (const signal of signals) process.on(signal, onSignal)
    try {
      await supervisor.stopped
      return 0
    } finally {
      for (const signal of signals) process.off(signal, onSignal)
      await follower?.stop()
      await notifier?.close()
      await cold?.storage.close?.()
    }
  },
}
