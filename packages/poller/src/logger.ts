/**
 * Any pino-compatible logger works (`logger.info(obj, msg)` or `logger.info(msg)`): core's
 * `Logger`. The default is quiet: warnings and errors go to stderr as one line each, nothing else.
 */
import type { Logger } from '@relup/core'

export type { Logger }

const render = (obj: object | string, msg?: string) => {
  if (typeof obj === 'string') return obj
  const error = (obj as { err?: unknown }).err
  const reason = error instanceof Error ? `: ${error.message}` : ''
  return `${msg ?? ''}${reason}`
}

export const quietLogger: Logger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    process.stderr.write(`relup: ${render(obj, msg)}\n`)
  },
  error(obj, msg) {
    process.stderr.write(`relup: ${render(obj, msg)}\n`)
  },
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
