import { loadKey } from '@relup/artifact'
import type { Storage } from '@relup/core'
import type { DeployOptions } from '@relup/publisher'
import { type OptionSpec, parseCount, parseDuration } from '../args.js'
import type { CommandInput } from '../command.js'
import { reporterFor } from '../summary.js'

/** The flags publish and rollback share. */
export const DEPLOY_FLAGS = {
  sign: { type: 'string' },
  timeout: { type: 'string' },
  'no-wait': { type: 'boolean' },
  expect: { type: 'string' },
  force: { type: 'boolean' },
} satisfies OptionSpec

type DeployInput = CommandInput<typeof DEPLOY_FLAGS> & { app: string; storage: Storage }

/** Signing key, timeout, waiting and the lock from the flags, with the command's app and storage. */
export async function deployOptions(input: DeployInput): Promise<DeployOptions> {
  const sign = input.string('sign')
  const timeout = input.string('timeout')
  const expect = input.string('expect')
  return {
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    sign: sign ? await loadKey(sign) : undefined,
    timeoutMs: timeout ? parseDuration(timeout, 'timeout') : undefined,
    wait: !input.flag('no-wait'),
    expect: expect ? parseCount(expect, 'expect') : undefined,
    force: input.flag('force'),
    reporter: reporterFor(input.out),
  }
}
