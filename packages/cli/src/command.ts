/**
 * The one shape of a `relup` command. `defineCommand` does what every command needs before its
 * own code runs: parse its flags on top of the global ones, answer `--help`, require the app
 * (`--app` or `RELUP_APP`) and open the storage (`--storage`, `RELUP_STORAGE` or the default),
 * closing it however the command ends; for a cancellable command, turn SIGINT/SIGTERM into a
 * cancellation (exit 130/143). Advice that says `--app <app>` names the app.
 */
import { isRelupError, type Notifier, type Storage } from '@relup/core'
import { CancelledError, DEFAULT_STORAGE, openNotifierUrl, openStorage } from '@relup/publisher'
import { type FlagValues, type GLOBAL_OPTIONS, type OptionSpec, parse, requireApp } from './args.js'
import { cancelOnSignals } from './cancel.js'
import type { Io, Output } from './output.js'

type Flags<F extends OptionSpec> = F & typeof GLOBAL_OPTIONS
type FlagName<F extends OptionSpec, T extends 'string' | 'boolean'> = {
  [K in keyof Flags<F>]: Flags<F>[K] extends { type: T } ? K : never
}[keyof Flags<F>] &
  string

export interface CommandInput<F extends OptionSpec = Record<never, never>> {
  io: Io
  out: Output
  positionals: string[]
  /** The value of a string flag (the command's own or a global one), undefined when absent. */
  string(name: FlagName<F, 'string'>): string | undefined
  /** Whether a boolean flag was given. */
  flag(name: FlagName<F, 'boolean'>): boolean
  /** `--prefix`: the key prefix (default `relup/<app>/`). */
  prefix: string | undefined
  /** Aborted on SIGINT/SIGTERM (cancellable commands only). */
  signal: AbortSignal | undefined
  /** `--notify` or `RELUP_NOTIFY`, opened (commands with `notifies` only); closed after `run`. */
  notifier: Notifier | undefined
}

export interface CommandSpec<F extends OptionSpec, A extends boolean, S extends boolean> {
  name: string
  /** One line for `relup --help`. */
  summary: string
  /** The text of `relup <name> --help`. */
  help: string
  flags?: F
  /** Require `--app` (or `RELUP_APP`): `input.app`. */
  needsApp?: A
  /** Open the storage before `run` and close it after: `input.storage`. */
  needsStorage?: S
  /** SIGINT/SIGTERM abort `input.signal`; a `CancelledError` then exits 130/143. */
  cancellable?: boolean
  /** Takes `--notify <url>` (or `RELUP_NOTIFY`): `input.notifier`, told after each pointer move. */
  notifies?: boolean
  run(
    input: CommandInput<F> &
      (A extends true ? { app: string } : unknown) &
      (S extends true ? { storage: Storage } : unknown),
  ): Promise<number>
}

/** A defined command, as `main` dispatches it. */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly help: string
  /** The exit code; throws for `main` to turn into a message and an exit code. */
  run(argv: string[], context: { io: Io; out: Output }): Promise<number>
}

export function defineCommand<
  F extends OptionSpec = Record<never, never>,
  A extends boolean = false,
  S extends boolean = false,
>(spec: CommandSpec<F, A, S>): Command {
  type Input = Parameters<CommandSpec<F, A, S>['run']>[0]
  return {
    name: spec.name,
    summary: spec.summary,
    help: spec.help,
    async run(argv, { io, out }) {
      const flags = spec.notifies
        ? { ...spec.flags, notify: { type: 'string' } as const }
        : (spec.flags ?? {})
      const { values, positionals } = parse(argv, flags)
      if (values.help) {
        out.line(spec.help)
        return 0
      }
      const input = inputOf(values, positionals, io, out)
      const app = spec.needsApp ? requireApp(input.string('app'), io.env) : undefined
      const url = input.string('storage') ?? io.env.RELUP_STORAGE ?? DEFAULT_STORAGE
      const storage = spec.needsStorage ? await openStorage(url, { cwd: io.cwd, env: io.env }) : undefined
      const notifyUrl = spec.notifies ? (input.string('notify') ?? io.env.RELUP_NOTIFY) : undefined
      const notifier = notifyUrl
        ? await openNotifierUrl(notifyUrl).catch(async (error: unknown) => {
            await storage?.close?.()
            throw error
          })
        : undefined
      const cancel = spec.cancellable ? cancelOnSignals(out) : undefined
      try {
        return await spec.run({
          ...input,
          app,
          storage,
          notifier,
          signal: cancel?.signal,
        } as unknown as Input)
      } catch (error) {
        if (cancel?.received && error instanceof CancelledError) {
          out.error(error.message)
          return cancel.exitCode
        }
        throw app ? namingApp(error, app) : error
      } finally {
        cancel?.dispose()
        await notifier?.close()
        await storage?.close?.()
      }
    },
  }
}

/** Core's advice for malformed documents says `relup repair --app <app>`: name the app. */
function namingApp(error: unknown, app: string): unknown {
  if (isRelupError(error) && error.message.includes('--app <app>'))
    error.message = error.message.replaceAll('--app <app>', `--app ${app}`)
  return error
}

/** The input before its flag names are typed by a command's spec. */
interface UntypedInput extends Omit<CommandInput, 'string' | 'flag'> {
  string(name: string): string | undefined
  flag(name: string): boolean
}

function inputOf(values: FlagValues, positionals: string[], io: Io, out: Output): UntypedInput {
  const string = (name: string) => {
    const value = values[name]
    return typeof value === 'string' ? value : undefined
  }
  return {
    io,
    out,
    positionals,
    string,
    flag: (name) => values[name] === true,
    prefix: string('prefix'),
    signal: undefined,
    notifier: undefined,
  }
}
