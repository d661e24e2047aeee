import { loadKey } from '@relup/artifact'
import { parseRolloutPlan, type Storage } from '@relup/core'
import type { DeployOptions } from '@relup/publisher'
import { type OptionSpec, parseCount, parseDuration } from '../args.js'
import type { CommandInput } from '../command.js'
import { UsageError } from '../errors.js'
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
  rollout: { type: 'string' },
  'health-window': { type: 'string' },
  'max-failures': { type: 'string' },
  'all-at-once': { type: 'boolean' },
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
  --rollout <plan>      roll out in waves, e.g. 1,25%,100% (a canary of 1 machine, then 25 %, then
                        all): each wave's machines keep it on probation for the health window and
                        revert by themselves when it is unhealthy; a failure halts the rollout and
                        brings the fleet back to the stable release (exit 1). Default: 1,25%,100%
                        when 4 or more machines are live on the base, else all at once (rollback:
                        all at once unless given)
  --health-window <d>   each machine's probation of the candidate (default 15s)
  --max-failures <n>    failed or unhealthy machines tolerated before halting (default 0)
  --all-at-once         every machine at the same time, without probation (as before rollouts)
  --storage <url>       file://<dir> (default file://./.relup), s3://<bucket>[/<prefix>], memory:
  --notify <url>        after moving the pointer, ring redis://host:port or nats://host:port so
                        machines read it at once (default RELUP_NOTIFY; a failure is a warning)
  --json                machine-readable output`

type DeployInput = CommandInput<typeof DEPLOY_FLAGS> & { app: string; storage: Storage }

/** Signing key, timeouts, waiting and the lock from the flags, with the command's app, storage and signal. */
export async function deployOptions(
  input: DeployInput,
  defaults: { autoRollout?: boolean } = {},
): Promise<DeployOptions> {
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
    rollout: rolloutFlags(input, defaults.autoRollout === true),
    reporter: reporterFor(input.out),
    notifier: input.notifier,
    signal: input.signal,
  }
}

/** `--rollout`, `--health-window`, `--max-failures`, `--all-at-once` → the deploy's rollout (hot or cold). */
export function rolloutFlags(
  input: Pick<DeployInput, 'string' | 'flag'>,
  auto: boolean,
): DeployOptions['rollout'] {
  const plan = input.string('rollout')
  const window = input.string('health-window')
  const maxFailures = input.string('max-failures')
  if (input.flag('all-at-once')) {
    if (plan || window || maxFailures)
      throw new UsageError(
        '--all-at-once rolls out without waves: drop --rollout, --health-window and --max-failures',
      )
    return undefined
  }
  const options = {
    healthWindowMs: window ? parseDuration(window, 'health-window') : undefined,
    maxFailures: maxFailures === undefined ? undefined : parseNonNegative(maxFailures),
  }
  if (plan) return { plan: parseRolloutPlan(plan), ...options }
  if (window || maxFailures) return { ...options }
  return auto ? 'auto' : undefined
}

function parseNonNegative(value: string): number {
  if (!/^\d+$/.test(value))
    throw new UsageError(`--max-failures takes a whole number, got ${JSON.stringify(value)}`)
  return Number(value)
}
