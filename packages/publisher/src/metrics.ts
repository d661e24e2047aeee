/**
 * What a publisher tells operators, through the OpenTelemetry metrics API: publishes and rollbacks
 * by result, how long they took (waiting for the fleet included), and how each machine waited for
 * ended. With no SDK registered (the default) nothing is recorded, and the API is not even loaded:
 * the CLI starts on every publish, and its start is part of the time to new code.
 */
import type { Attributes, Meter, MeterProvider } from '@opentelemetry/api'
import type { PublishOutcome, RollbackOutcome } from './types.js'

/** Where the API 1.x (any copy of it) keeps what was registered globally. */
const GLOBAL_API = Symbol.for('opentelemetry.js.api.1')

/** The meter provider to record on: the one given, else the global one when an SDK registered it; null: none. */
async function providerOf(given: MeterProvider | undefined): Promise<MeterProvider | null> {
  if (given) return given
  const registered = (globalThis as Record<symbol, { metrics?: unknown } | undefined>)[GLOBAL_API]
  if (registered?.metrics === undefined) return null // the API would hand out no-op instruments
  const { metrics } = await import('@opentelemetry/api')
  return metrics.getMeterProvider()
}

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

function instruments(provider: MeterProvider): Instruments {
  const meter = provider.getMeter(PUBLISHER_METER)
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
  const record = async (attributes: Attributes, outcome: T | null) => {
    const provider = await providerOf(options.meterProvider)
    if (!provider) return
    const { publishes, duration, machines } = instruments(provider)
    publishes.add(1, { ...base, ...attributes })
    duration.record((performance.now() - started) / 1000, { ...base, ...attributes })
    for (const machine of outcome?.outcomes ?? [])
      machines.add(1, { ...base, 'relup.machine.outcome': machine.status })
    if (outcome && outcome.missing > 0)
      machines.add(outcome.missing, { ...base, 'relup.machine.outcome': 'missing' })
  }
  let outcome: T
  try {
    outcome = await run()
  } catch (error) {
    await record(
      { 'relup.publish.result': 'error', 'error.type': (error as { code?: string }).code ?? 'Error' },
      null,
    )
    throw error
  }
  await record(
    { 'relup.publish.result': outcome.ok ? 'ok' : 'not_ok', 'relup.publish.waited': outcome.waited },
    outcome,
  )
  return outcome
}
