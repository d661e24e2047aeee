/**
 * The logger every relup package writes to: pino-compatible, so `logger.warn(fields, message)`
 * or `logger.warn(message)`. Pass pino, a child of it, or anything with these four methods.
 */
export interface Logger {
  debug(obj: object | string, message?: string): void
  info(obj: object | string, message?: string): void
  warn(obj: object | string, message?: string): void
  error(obj: object | string, message?: string): void
}
