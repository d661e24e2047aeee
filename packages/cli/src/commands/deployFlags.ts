import { loadKey } from '@relup/artifact'
import { type OptionSpec, parseCount, parseDuration, requireApp } from '../args.js'
import type { CommandContext } from '../context.js'
import type { DeployOptions } from '../publisher.js'
import { reporterFor } from '../summary.js'

/** The flags publish and rollback share. */
export const DEPLOY_FLAGS: OptionSpec = {
  sign: { type: 'string' },
  timeout: { type: 'string' },
  'no-wait': { type: 'boolean' },
  expect: { type: 'string' },
  force: { type: 'boolean' },
}

type Values = Record<string, string | boolean | undefined>

/** Storage, app, signing key, timeout, waiting and the lock, from the parsed flags. */
export async function deployOptions(ctx: CommandContext, values: Values): Promise<DeployOptions> {
  const app = requireApp(values, ctx.io.env)
  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined)
  const sign = str('sign')
  const timeout = str('timeout')
  const expect = str('expect')
  return {
    app,
    prefix: str('prefix'),
    sign: sign ? await loadKey(sign) : undefined,
    timeoutMs: timeout ? parseDuration(timeout, 'timeout') : undefined,
    wait: !values['no-wait'],
    expect: expect ? parseCount(expect, 'expect') : undefined,
    force: Boolean(values.force),
    reporter: reporterFor(ctx.out),
    storage: ctx.storage(str('storage')),
  }
}
