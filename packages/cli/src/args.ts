import { parseArgs } from 'node:util'
import { UsageError } from './errors.js'

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>

export const GLOBAL_OPTIONS: OptionSpec = {
  storage: { type: 'string', short: 's' },
  app: { type: 'string', short: 'a' },
  prefix: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

export function parse(argv: string[], spec: OptionSpec) {
  try {
    return parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...spec },
      allowPositionals: true,
      strict: true,
    })
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '')}; see --help`)
  }
}

/** "120s", "2m", "500ms", "1h" or a plain number of seconds → milliseconds. */
export function parseDuration(value: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim())
  if (!match)
    throw new UsageError(`--${option} takes a duration like 120s, 2m or 500ms, got ${JSON.stringify(value)}`)
  const n = Number(match[1])
  const unit = match[2] ?? 's'
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!)
}

export function parseCount(value: string, option: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--${option} takes a whole number, got ${JSON.stringify(value)}`)
  return n
}

export function requireApp(values: { app?: string | boolean | undefined }, env: NodeJS.ProcessEnv): string {
  const app = (typeof values.app === 'string' ? values.app : undefined) ?? env.RELUP_APP
  if (!app) throw new UsageError('--app <name> is required (or set RELUP_APP)')
  return app
}
