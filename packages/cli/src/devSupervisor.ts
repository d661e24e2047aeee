/**
 * The supervisor half of `relup dev`: it runs the app's command with the environment that puts the
 * app's `startRelup()` into development mode (the app itself watches its hot directory and
 * reloads it in place; see @relup/poller), forwards signals, ends with the app, and restarts it
 * when it crashes or when a cold file named with `--watch` changes (state is lost then: a
 * restart, said so on the terminal).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { relative } from 'node:path'
import { type PathsWatcher, watchPaths } from './devWatch.js'

/** The environment @relup/poller reads (its `DEV_ENV`). */
export const DEV_ENV = {
  enabled: 'RELUP_DEV',
  hotDir: 'RELUP_DEV_HOT',
  debounce: 'RELUP_DEV_DEBOUNCE',
  snapshotsDir: 'RELUP_DEV_SNAPSHOTS',
} as const

/** A crash this soon after starting would crash again at once: wait for a change instead. */
export const STARTUP_CRASH_MS = 2000
/** How long the app may take to stop on SIGTERM when a cold change restarts it. */
const STOP_GRACE_MS = 5000
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export interface DevRun {
  /** The command and its arguments, e.g. `['node', 'server.mjs']`. */
  command: string[]
  /** `--hot` (absolute), or null: the app watches its engine's release directory. */
  hotDir: string | null
  /** `--watch` paths (absolute): a change restarts the app. */
  watch: string[]
  debounce: number | null
  /** Restart a crashed app (default); false: exit with its code. */
  restart: boolean
  env: NodeJS.ProcessEnv
  cwd: string
  /** A line for the person at the terminal. */
  say(line: string): void
}

const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null) =>
  code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)

/** Run the app until it exits on its own or a signal stops it; resolves with the exit code. */
export async function superviseDev(run: DevRun): Promise<number> {
  const snapshots = await mkdtemp(`${tmpdir()}/relup-dev-`)
  const env: NodeJS.ProcessEnv = {
    ...run.env,
    [DEV_ENV.enabled]: '1',
    [DEV_ENV.snapshotsDir]: snapshots,
    ...(run.hotDir !== null && { [DEV_ENV.hotDir]: run.hotDir }),
    ...(run.debounce !== null && { [DEV_ENV.debounce]: String(run.debounce) }),
  }
  // Development mode is the runtime without a base: a base ref in the shell would make a production machine.
  for (const name of ['RELUP_BASE_REF', 'FLY_IMAGE_REF']) delete env[name]
  const shown = (path: string) => relative(run.cwd, path) || path
  // Hot changes matter to the supervisor only while a crashed app waits; cold ones always restart it.
  const triggers = [...(run.hotDir === null ? [] : [run.hotDir]), ...run.watch]

  let child: ChildProcess | null = null
  let startedAt = 0
  let stopping: NodeJS.Signals | null = null
  let restarting: string | null = null
  let waiting = false
  let backoff = 1000
  let finish: (code: number) => void = () => {}
  const done = new Promise<number>((resolve) => {
    finish = resolve
  })

  const start = () => {
    waiting = false
    startedAt = Date.now()
    const spawned = spawn(run.command[0]!, run.command.slice(1), { cwd: run.cwd, env, stdio: 'inherit' })
    child = spawned
    spawned.once('error', (error: NodeJS.ErrnoException) => {
      if (child !== spawned) return
      child = null
      run.say(
        `relup dev: cannot run ${JSON.stringify(run.command[0])}: ${error.code === 'ENOENT' ? 'command not found' : error.message}`,
      )
      finish(127)
    })
    spawned.once('exit', (code, signal) => {
      if (child !== spawned) return
      child = null
      exited(code, signal)
    })
  }

  const exited = (code: number | null, signal: NodeJS.Signals | null) => {
    const status = signal ? `signal ${signal}` : `code ${code}`
    if (stopping) return finish(exitCodeOf(code, signal))
    if (restarting) {
      restarting = null
      return start()
    }
    if (code === 0) {
      run.say('relup dev: the app exited (code 0)')
      return finish(0)
    }
    if (!run.restart) {
      run.say(`relup dev: the app exited with ${status}`)
      return finish(exitCodeOf(code, signal))
    }
    if (Date.now() - startedAt >= STARTUP_CRASH_MS) {
      run.say(`relup dev: the app crashed (${status}); restarting it (its state was lost)`)
      backoff = 1000
      return start()
    }
    waiting = true
    if (triggers.length > 0) {
      run.say(
        `relup dev: the app crashed while starting (${status}); it starts again when ${triggers.map(shown).join(', ')} change${triggers.length === 1 ? 's' : ''} (Ctrl-C to stop)`,
      )
      return
    }
    run.say(`relup dev: the app crashed while starting (${status}); starting it again in ${backoff / 1000} s`)
    setTimeout(() => waiting && !stopping && start(), backoff).unref()
    backoff = Math.min(backoff * 2, 30_000)
  }

  let timer: NodeJS.Timeout | null = null
  const changed = (path: string) => {
    const cold = run.watch.some((w) => path === w || path.startsWith(`${w}/`))
    if (stopping || (!cold && !waiting)) return
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = null
      if (stopping) return
      if (waiting) {
        run.say(`relup dev: ${shown(path)} changed; starting the app`)
        return start()
      }
      if (!child || restarting) return
      restarting = shown(path)
      run.say(`relup dev: ${restarting} changed; restarting the app (its state and connections are lost)`)
      child.kill('SIGTERM')
      const killing = child
      setTimeout(
        () => killing.exitCode === null && killing.signalCode === null && killing.kill('SIGKILL'),
        STOP_GRACE_MS,
      ).unref()
    }, run.debounce ?? 50)
  }
  const watcher: PathsWatcher = await watchPaths(triggers, changed)

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      child?.kill('SIGKILL') // a second signal: at once
      return
    }
    stopping = signal
    if (child) child.kill(signal)
    else finish(exitCodeOf(null, signal))
  }
  for (const signal of SIGNALS) process.on(signal, onSignal)

  start()
  try {
    return await done
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal)
    watcher.close()
    if (timer) clearTimeout(timer)
    await rm(snapshots, { recursive: true, force: true })
  }
}
