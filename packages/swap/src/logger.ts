import type { Logger } from '@relup/core'

/** The app's logger, with warnings and errors going to the console for the levels it leaves out. */
export function withConsoleDefaults(logger: Partial<Logger> = {}): Logger {
  const text = (obj: object | string, message?: string) =>
    `[relup/swap] ${typeof obj === 'string' ? obj : (message ?? '')}`
  return {
    debug: () => {},
    info: () => {},
    warn: (obj, message) => console.warn(text(obj, message)),
    error: (obj, message) => console.error(text(obj, message)),
    ...logger,
  }
}
