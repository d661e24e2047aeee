/**
 * What a publisher tells operators, through the OpenTelemetry metrics API: publishes and rollbacks
 * by result, how long they took (waiting for the fleet included), and how each machine waited for
 * ended. With no SDK registered (the default) every instrument is a no-op.
 */
import { type Attributes, type Meter, type MeterProvider, metrics } from '@opentelemetry/api'
import type { PublishOutcome, RollbackOutcome } from './types.js'

/** The meter's name: what an SDK's views and exporters select on. */
export const PUBLISHER_METER = '@relup/publisher'

/** Buckets for a publish (seconds): from a `--no-wait` publish on loopback to a slow fleet. */
const PUBLISH_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

interface Instruments {
  publishes: ReturnType<Meter['createCounter']>
  duration: ReturnType<Meter['createHistogram']>
  machines: ReturnType<Meter['createCounter']>
}

const byMeter = new WeakMap<Meter, Instruments>()

function instruments(provider: MeterProvider | undefined): Instruments {
  const meter = (provider ?? metrics).getMeter(PUBLISHER_METER)
  let found = byMeter.get(meter)
  if (!found) {
    found = {
      publishes: meter.createCounter('relup.publishes', {
        description:
          'Publishes and rollbacks, by operation and result (ok: every machine waited for completed)',
        unit: '{publish}',
      }),
      duration: meter.createHistogram('relup.publish.duration', {
        description: 'From the start of a publish or rollback to its outcome, waiting for the fleet included',
        unit: 's',
        advice: { explicitBucketBoundaries: PUBLISH_BUCKETS },
      }),
      machines: meter.createCounter('relup.publish.machines', {
        description: 'Machines a publish or rollback waited for, by how the wait ended',
        unit: '{machine}',
      }),
    }
    byMeter.set(meter, found)
  }
  return found
}

export type DeployOperation = 'publish' | 'rollback'

/** Run a publish or rollback and record it: `result` is `ok`, `not_ok` (an outcome that is not ok) or `error`. */
export async function measureDeploy<T extends PublishOutcome | RollbackOutcome>(
  operation: DeployOperation,
  options: { app: string; meterProvider?: MeterProvider | undefined },
  run: () => Promise<T>,
): Promise<T> {
  const started = performance.now()
  const base: Attributes = { 'relup.app': options.app, 'relup.operation': operation }
  const record = (attributes: Attributes) => {
    const { publishes, duration } = instruments(options.meterProvider)
    publishes.add(1, { ...base, ...attributes })
    duration.record((performance.now() - started) / 1000, { ...base, ...attributes })
  }
  let outcome: T
  try {
    outcome = await run()
  } catch (error) {
    record({ 'relup.publish.result': 'error', 'error.type': (error as { code?: string }).code ?? 'Error' })
    throw error
  }
  record({ 'relup.publish.result': outcome.ok ? 'ok' : 'not_ok', 'relup.publish.waited': outcome.waited })
  const { machines } = instruments(options.meterProvider)
  for (const machine of outcome.outcomes)
    machines.add(1, { ...base, 'relup.machine.outcome': machine.status })
  if (outcome.missing > 0) machines.add(outcome.missing, { ...base, 'relup.machine.outcome': 'missing' })
  return outcome
}
