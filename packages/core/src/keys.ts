/**
 * Where relup keeps things in a bucket. Everything for one app lives under one prefix
 * (default `relup/<app>/`), so several apps can share a bucket.
 */
import { ConfigError } from './errors.js'

const APP_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/
const SEGMENT = /^[A-Za-z0-9._+@=-]{1,128}$/

export interface RelupKeys {
  prefix: string
  current: string
  lock: string
  artifactsPrefix: string
  artifact(version: string, sha256: string): string
  resultsPrefix: string
  results(upgradeId: string): string
  result(upgradeId: string, machineId: string): string
  machinesPrefix: string
  machine(machineId: string): string
  /** Every published hot upgrade (publish and rollback), one document each: what `rollback` picks from. */
  historyPrefix: string
  history(upgradeId: string): string
  /** What `relup gc` remembers between runs: since when each unreferenced artifact has been seen. */
  gc: string
}

function segment(value: string, what: string): string {
  if (!SEGMENT.test(value) || value === '.' || value === '..') {
    throw new ConfigError(
      what,
      `${what} ${JSON.stringify(value)} cannot be used in a storage key: use 1-128 letters, digits or . _ + @ = -`,
    )
  }
  return value
}

export function assertAppName(app: string): string {
  if (!APP_NAME.test(app)) {
    throw new ConfigError(
      'app',
      `app name ${JSON.stringify(app)} is not valid: use lowercase letters, digits, ".", "_" or "-" (starting with a letter or digit)`,
    )
  }
  return app
}

export function relupKeys(app: string, options: { prefix?: string | undefined } = {}): RelupKeys {
  assertAppName(app)
  let prefix = options.prefix ?? `relup/${app}/`
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/'
  if (prefix.startsWith('/') || prefix.split('/').some((part) => part === '..' || part === '.')) {
    throw new ConfigError(
      'prefix',
      `key prefix ${JSON.stringify(prefix)} must be relative and contain no "." or ".." segment`,
    )
  }
  const artifactsPrefix = `${prefix}artifacts/`
  const resultsPrefix = `${prefix}results/`
  const machinesPrefix = `${prefix}machines/`
  const historyPrefix = `${prefix}history/`
  return {
    prefix,
    current: `${prefix}current.json`,
    lock: `${prefix}lock.json`,
    artifactsPrefix,
    artifact: (version, sha256) =>
      `${artifactsPrefix}${segment(version, 'version')}-${sha256.slice(0, 12)}.tgz`,
    resultsPrefix,
    results: (upgradeId) => `${resultsPrefix}${segment(upgradeId, 'upgradeId')}/`,
    result: (upgradeId, machineId) =>
      `${resultsPrefix}${segment(upgradeId, 'upgradeId')}/${segment(machineId, 'machineId')}.json`,
    machinesPrefix,
    machine: (machineId) => `${machinesPrefix}${segment(machineId, 'machineId')}.json`,
    historyPrefix,
    history: (upgradeId) => `${historyPrefix}${segment(upgradeId, 'upgradeId')}.json`,
    gc: `${prefix}gc.json`,
  }
}
