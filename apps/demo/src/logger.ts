/**
 * One line per message on stderr (stdout carries only the ready line). pino-style, as `@relup/swap`
 * and `@relup/poller` call it: `(fields, message)` or `(message)`.
 */
import type { LogLevel } from './config.js'

type LogMethod = (first: object | string, message?: string) => void

export interface DemoLogger {
  debug: LogMethod
  info: LogMethod
  warn: LogMethod
  error: LogMethod
}

const levels: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

function describeFields(fields: Record<string, unknown>): string {
  const parts: string[] = []
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue
    if (value instanceof Error) parts.push(`${key}=${JSON.stringify(value.message)}`)
    else parts.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
  }
  return parts.join(' ')
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): DemoLogger {
  const method =
    (name: LogLevel): LogMethod =>
    (first, message) => {
      if (levels[name] < levels[level]) return
      const [text, fields] =
        typeof first === 'string' ? [first, undefined] : [message ?? '', first as Record<string, unknown>]
      const detail = fields ? describeFields(fields) : ''
      write(`demo ${name}: ${text}${detail ? ` (${detail})` : ''}\n`)
    }
  return { debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') }
}
