import { parseArgs } from 'node:util'
import { UsageError } from './errors.js'

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>

/** Flags every command takes. */
export const GLOBAL_OPTIONS = {
  storage: { type: 'string', short: 's' },
  app: { type: 'string', short: 'a' },
  prefix: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies OptionSpec

export type FlagValues = Record<string, string | boolean | undefined>

export function parse(argv: string[], spec: OptionSpec): { values: FlagValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...spec },
      allowPositionals: true,
      strict: true,
    })
    return { values: values as FlagValues, positionals }
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '')}; see --help`)
  }
}

/** "120s", "2m", "500ms", "1h" or a plain number of seconds → milliseconds; never 0 (a wait of nothing). */
export function parseDuration(value: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim())
  if (!match)
    throw new UsageError(`--${option} takes a duration like 120s, 2m or 500ms, got ${JSON.stringify(value)}`)
  const n = Number(match[1])
  const unit = match[2] ?? 's'
  const ms = Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!)
  if (ms <= 0)
    throw new UsageError(
      `--${option} must be longer than 0, got ${JSON.stringify(value)} (to return without waiting, use --no-wait)`,
    )
  return ms
}

export function parseCount(value: string, option: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--${option} takes a whole number, got ${JSON.stringify(value)}`)
  return n
}

export function requireApp(app: string | undefined, env: NodeJS.ProcessEnv): string {
  const chosen = app ?? env.RELUP_APP
  if (!chosen) throw new UsageError('--app <name> is required (or set RELUP_APP)')
  return chosen
}
