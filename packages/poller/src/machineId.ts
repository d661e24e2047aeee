/**
 * The machine id a process gets when none is configured. `FLY_MACHINE_ID` and the hostname are
 * shared by every process of a PM2 app or a node:cluster host, and two processes under one id
 * share one machine record and one state directory; so where a process manager numbers its
 * processes, that number is appended.
 */
import cluster from 'node:cluster'
import { hostname } from 'node:os'

const SAFE = /[^A-Za-z0-9._+@=-]/g

/** `RELUP_MACHINE_ID` as it is; else `FLY_MACHINE_ID` or the hostname, with the process's instance suffix. */
export function defaultMachineId(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = nonEmpty(env.RELUP_MACHINE_ID)
  if (explicit !== undefined) return explicit
  const host = (nonEmpty(env.FLY_MACHINE_ID) ?? hostname()).replace(SAFE, '-').slice(0, 100) || 'host'
  const suffix = instanceSuffix(env)
  return suffix === null ? host : `${host}-${suffix}`
}

/**
 * PM2 numbers the instances of an app in `NODE_APP_INSTANCE` (0, 1, …: stable across restarts);
 * a node:cluster worker has `cluster.worker.id` (a respawned worker gets a new one).
 */
function instanceSuffix(env: NodeJS.ProcessEnv): string | null {
  const instance = nonEmpty(env.NODE_APP_INSTANCE)
  if (instance !== undefined) return instance.replace(SAFE, '-').slice(0, 20)
  if (cluster.isWorker && cluster.worker) return `w${cluster.worker.id}`
  return null
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}
