/**
 * A machine under `relup run`: what the supervisor tells the app process it starts (through its
 * environment), and what the app's runtime says of it in its machine record, so that a cold
 * publish knows which machines a cold release reaches (only those whose supervisor follows the
 * app's cold releases, `relup run --app`) and `relup status` can show it.
 */
import { boolean, nullable, object, type Schema, string } from './schema.js'

/** Set in an app process's environment by its supervisor. */
export const SUPERVISED_ENV = {
  /** `1` when the process runs under a relup supervisor (with an IPC channel). */
  supervised: 'RELUP_SUPERVISOR',
  /** The app whose cold releases the supervisor follows (`relup run --app <app>`). */
  coldApp: 'RELUP_COLD_APP',
  /** The id of the cold release the process was started from (absent: the supervisor's own command). */
  coldRelease: 'RELUP_COLD_RELEASE',
} as const

export interface Supervised {
  /** The supervisor follows this app's cold releases (`relup run --app`): a cold release reaches the machine. */
  followsColdReleases: boolean
  /** The cold release the process was started from; null: the command the supervisor was given. */
  coldReleaseId: string | null
}

export const supervisedSchema: Schema<Supervised> = object<Supervised>({
  followsColdReleases: boolean,
  coldReleaseId: nullable(string({ nonEmpty: true })),
})

/** What the environment of a process of `app` says about its supervisor; null: it runs under none. */
export function supervisedFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  app: string,
): Supervised | null {
  if (env[SUPERVISED_ENV.supervised] !== '1') return null
  const coldRelease = env[SUPERVISED_ENV.coldRelease]?.trim()
  return {
    followsColdReleases: env[SUPERVISED_ENV.coldApp] === app,
    coldReleaseId: coldRelease ? coldRelease : null,
  }
}
