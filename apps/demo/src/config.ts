/** The demo server's configuration, read from the environment (see the README for each variable). */
import { hostname } from 'node:os'
import { basename, isAbsolute, join, resolve } from 'node:path'
import { hotDir, localStateDir } from './paths.js'

export interface DemoConfig {
  port: number
  host: string
  /** Storage URL for `openStorage` (relative `file://` paths already made absolute). */
  storage: string
  app: string
  baseRef: string
  machineId: string
  region: string | undefined
  stateDir: string
  /**
   * True when the machine id and state dir are the per-process defaults: no later process can use
   * that state (its id has another pid), so the server removes it when it stops cleanly.
   */
  stateIsPerProcess: boolean
  pollInterval: number
  /** How long the startup replay keeps trying to reach storage before the server boots anyway (RELUP_STARTUP_TIMEOUT, ms). */
  startupTimeout: number
  /** The base release the cold build ships, and its version name (the directory's name). */
  hotDir: string
  baseVersion: string
  logLevel: LogLevel
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export class ConfigurationError extends Error {
  readonly code = 'ERR_RELUP_DEMO_CONFIG'
}

const nonEmpty = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigurationError(
      `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    )
  }
  return value
}

/** hostname-pid, reduced to the characters a relup machine id may hold. */
export function defaultMachineId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 100) || 'host'
  return `${host}-${process.pid}`
}

/**
 * Relative paths in the environment are relative to where the user typed the command: pnpm runs
 * scripts in the package directory but keeps the caller's directory in INIT_CWD.
 */
function fromCaller(env: NodeJS.ProcessEnv, path: string): string {
  return isAbsolute(path) ? path : resolve(nonEmpty(env, 'INIT_CWD') ?? process.cwd(), path)
}

function storageUrl(env: NodeJS.ProcessEnv): string {
  const url = nonEmpty(env, 'RELUP_STORAGE')
  if (url === undefined) return `file://${join(localStateDir, 'storage')}`
  if (url.startsWith('file://')) return `file://${fromCaller(env, url.slice('file://'.length))}`
  return url
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const machineId = nonEmpty(env, 'RELUP_MACHINE_ID') ?? defaultMachineId()
  const release = fromCaller(env, nonEmpty(env, 'RELUP_HOT_DIR') ?? hotDir('v1'))
  const logLevel = nonEmpty(env, 'RELUP_LOG_LEVEL') ?? 'info'
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigurationError(
      `RELUP_LOG_LEVEL must be debug, info, warn or error, got ${JSON.stringify(logLevel)}`,
    )
  }
  return {
    port: integer(env, 'PORT', 3000, 0, 65_535),
    host: nonEmpty(env, 'HOST') ?? '127.0.0.1',
    storage: storageUrl(env),
    app: nonEmpty(env, 'RELUP_APP') ?? 'demo',
    baseRef: nonEmpty(env, 'RELUP_BASE_REF') ?? 'demo-image-1',
    machineId,
    region: nonEmpty(env, 'RELUP_REGION'),
    stateDir: fromCaller(env, nonEmpty(env, 'RELUP_STATE_DIR') ?? join(localStateDir, 'state', machineId)),
    stateIsPerProcess:
      nonEmpty(env, 'RELUP_STATE_DIR') === undefined && nonEmpty(env, 'RELUP_MACHINE_ID') === undefined,
    pollInterval: integer(env, 'RELUP_POLL_INTERVAL', 1000, 1, 3_600_000),
    startupTimeout: integer(env, 'RELUP_STARTUP_TIMEOUT', 30_000, 1, 3_600_000),
    hotDir: release,
    baseVersion: basename(release),
    logLevel: logLevel as LogLevel,
  }
}
