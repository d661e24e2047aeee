/**
 * `relup dev [--hot <dir>] [--watch <path>]… -- <command…>`: the development loop. The command
 * is the app's cold entry; its `startRelup()` sees `RELUP_DEV=1` and reloads the hot directory
 * in place on every save, through the engine's upgrade transaction (what a published release
 * goes through), keeping state and connections. This command is the supervisor around it.
 */
import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Command } from '../command.js'
import { superviseDev } from '../devSupervisor.js'
import { UsageError } from '../errors.js'

const FLAGS = {
  hot: { type: 'string' },
  watch: { type: 'string', multiple: true },
  debounce: { type: 'string' },
  'no-restart': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const HELP = `relup dev [--hot <dir>] [--watch <path>]… [--debounce <ms>] [--no-restart] -- <command> [args…]

Runs your app (the command: its cold entry, e.g. \`node server.mjs\` or \`node --import tsx
src/server.ts\`) and reloads its hot code in place on every save: the same upgrade transaction a
published release goes through (refuse → prepare → suspend → migrate → commit → dispose), so
state and open connections are kept, and what works here works when published. The app's
startRelup() does the reloading: this command sets RELUP_DEV=1 for it (and unsets RELUP_BASE_REF).

Each reload prints one line:
  relup dev: reloaded src/routes.ts in 12 ms (pause 0.2 ms; migrated: counter)
A save that cannot load prints where, and the running version keeps serving:
  relup dev: src/routes.ts:12:5: SyntaxError: Unexpected token (prepare); still serving dev-3

Options:
  --hot <dir>        the directory to watch and reload (default: the engine's releaseDir): your
                     TypeScript sources (the engine reads .ts), or the output of \`tsc --watch\`
  --watch <path>     a cold file or directory (the entry, its config): a change restarts the app,
                     losing its state (repeatable)
  --debounce <ms>    quiet time after a burst of saves before reloading (default 30)
  --no-restart       exit with the app's code when it crashes, instead of restarting it

The app is restarted when it crashes (after a crash while starting, at the next change of --hot
or --watch files). SIGINT, SIGTERM and SIGHUP are passed to it; relup dev exits with its code
(127: the command was not found).`

/** `--debounce 50`, `50ms` or `0.1s` → milliseconds. */
function parseDebounce(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim())
  if (!match)
    throw new UsageError(`--debounce takes milliseconds like 30 or 30ms, got ${JSON.stringify(value)}`)
  return Math.round(Number(match[1]) * (match[2] === 's' ? 1000 : 1))
}

/** relup's flags come first; the command starts at `--` or at the first word that is not a flag. */
function splitArgv(argv: string[]): { own: string[]; command: string[] } {
  const takesValue = new Set(['--hot', '--watch', '--debounce'])
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (token === '--') return { own: argv.slice(0, i), command: argv.slice(i + 1) }
    if (!token.startsWith('-')) return { own: argv.slice(0, i), command: argv.slice(i) }
    if (takesValue.has(token)) i++
  }
  return { own: argv, command: [] }
}

export const devCommand: Command = {
  name: 'dev',
  summary: 'run the app and reload its hot code in place on every save',
  help: HELP,
  async run(argv, { io }) {
    const { own, command } = splitArgv(argv)
    let values: { hot?: string; watch?: string[]; debounce?: string; 'no-restart'?: boolean; help?: boolean }
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
      throw new UsageError('relup dev needs the command that starts your app: relup dev -- node server.mjs')
    const hotDir = values.hot === undefined ? null : resolve(io.cwd, values.hot)
    if (
      hotDir !== null &&
      !(await stat(hotDir).then(
        (s) => s.isDirectory(),
        () => false,
      ))
    )
      throw new UsageError(`--hot ${values.hot}: ${hotDir} is not a directory`)
    return superviseDev({
      command,
      hotDir,
      watch: (values.watch ?? []).map((path) => resolve(io.cwd, path)),
      debounce: values.debounce === undefined ? null : parseDebounce(values.debounce),
      restart: !values['no-restart'],
      env: io.env,
      cwd: io.cwd,
      say: (line) => io.stderr.write(`${line}\n`),
    })
  },
}
