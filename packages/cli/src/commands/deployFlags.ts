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
  'ack-timeout': { type: 'string' },
  'no-wait': { type: 'boolean' },
  expect: { type: 'string' },
  force: { type: 'boolean' },
  'allow-other-bases': { type: 'boolean' },
} satisfies OptionSpec

/** The lines of `--help` for the flags above. */
export const DEPLOY_FLAGS_HELP = `  --sign <key>          Ed25519 private key (PEM file) to sign the upgrade with
  --timeout <d>         how long to wait for machines (default 120s)
  --ack-timeout <d>     a machine that has not acknowledged the upgrade within this long (or three
                        of its poll intervals, if longer) is counted absent and not waited for
                        (default 15s; 30s for machines that do not report their poll interval)
  --no-wait             move the pointer and return
  --expect <n>          wait for exactly n machines (default: machines seen recently)
  --force               take over the deploy lock if someone else holds it
  --allow-other-bases   exit 0 even when the upgrade's base runs on at most half of the live
                        machines (machines on other bases are listed either way)
  --storage <url>       file://<dir> (default file://./.relup), s3://<bucket>[/<prefix>], memory:
  --notify <url>        after moving the pointer, ring redis://host:port or nats://host:port so
                        machines read it at once (default RELUP_NOTIFY; a failure is a warning)
  --json                machine-readable output`

type DeployInput = CommandInput<typeof DEPLOY_FLAGS> & { app: string; storage: Storage }

/** Signing key, timeouts, waiting and the lock from the flags, with the command's app, storage and signal. */
export async function deployOptions(input: DeployInput): Promise<DeployOptions> {
  const sign = input.string('sign')
  const timeout = input.string('timeout')
  const ackTimeout = input.string('ack-timeout')
  const expect = input.string('expect')
  return {
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    sign: sign ? await loadKey(sign) : undefined,
    timeoutMs: timeout ? parseDuration(timeout, 'timeout') : undefined,
    ackTimeoutMs: ackTimeout ? parseDuration(ackTimeout, 'ack-timeout') : undefined,
    wait: !input.flag('no-wait'),
    expect: expect ? parseCount(expect, 'expect') : undefined,
    force: input.flag('force'),
    allowOtherBases: input.flag('allow-other-bases'),
    reporter: reporterFor(input.out),
    notifier: input.notifier,
    signal: input.signal,
  }
}
