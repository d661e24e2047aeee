// The publisher's metrics, read through the real OpenTelemetry SDK after real publishes and a rollback.

import { metrics } from '@opentelemetry/api'
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { describe, expect, it } from 'vitest'
import { acquireLock, LockHeldError, publish, rollback } from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  freshStorage,
  hotDir,
  keys,
  onCleanup,
  simulateMachines,
} from './helpers.js'

function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  onCleanup(() => meterProvider.shutdown())
  const collect = async (): Promise<Map<string, MetricData>> => {
    exporter.reset()
    await reader.forceFlush()
    const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
    return new Map(metrics.map((m) => [m.descriptor.name, m]))
  }
  return { meterProvider, collect }
}

const points = <T = number>(metric: MetricData | undefined) => (metric?.dataPoints ?? []) as DataPoint<T>[]
const where = <T>(list: DataPoint<T>[], attributes: Record<string, unknown>) =>
  list.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))

describe('publisher metrics', () => {
  it('publishes and rollbacks by result, their durations, and how each machine waited for ended', async () => {
    const { meterProvider, collect } = sdk()
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    await announceMachine(storage, 'm2')
    simulateMachines(storage, { m1: 'complete', m2: 'fail' })
    const options = { storage, app: APP, meterProvider, timeoutMs: 10_000, gc: false } as const

    const started = performance.now()
    const first = await publish({ ...options, dir: await hotDir('v1'), version: 'v1' })
    const elapsed = (performance.now() - started) / 1000
    expect(first.ok).toBe(false) // m2 failed
    await publish({ ...options, dir: await hotDir('v2'), version: 'v2', wait: false })
    await rollback({ ...options, to: 'v1', wait: false })
    await acquireLock(storage, keys, { app: APP, purpose: 'publish v9', ttlMs: 60_000, force: false })
    await expect(publish({ ...options, dir: await hotDir('v3'), version: 'v3' })).rejects.toBeInstanceOf(
      LockHeldError,
    )

    const metrics = await collect()
    const publishes = metrics.get('relup.publishes')
    expect(publishes?.descriptor.unit).toBe('{publish}')
    const count = (attributes: Record<string, unknown>) =>
      where(points(publishes), attributes).reduce((n, p) => n + p.value, 0)
    expect(
      count({ 'relup.operation': 'publish', 'relup.publish.result': 'not_ok', 'relup.publish.waited': true }),
    ).toBe(1)
    expect(
      count({ 'relup.operation': 'publish', 'relup.publish.result': 'ok', 'relup.publish.waited': false }),
    ).toBe(1)
    expect(count({ 'relup.operation': 'rollback', 'relup.publish.result': 'ok' })).toBe(1)
    expect(
      count({
        'relup.operation': 'publish',
        'relup.publish.result': 'error',
        'error.type': 'ERR_RELUP_LOCK_HELD',
      }),
    ).toBe(1)
    expect(points(publishes).every((p) => p.attributes['relup.app'] === APP)).toBe(true)

    const duration = metrics.get('relup.publish.duration')
    expect(duration?.descriptor.unit).toBe('s')
    const waited = where(points<Histogram>(duration), { 'relup.publish.result': 'not_ok' })[0]!.value
    expect(waited.count).toBe(1)
    // The wait for the fleet is in it: more than nothing, no more than the publish took for the caller.
    expect(waited.sum).toBeGreaterThan(0)
    expect(waited.sum).toBeLessThanOrEqual(elapsed)

    const machines = metrics.get('relup.publish.machines')
    expect(machines?.descriptor.unit).toBe('{machine}')
    expect(
      Object.fromEntries(points(machines).map((p) => [p.attributes['relup.machine.outcome'], p.value])),
    ).toEqual({ completed: 1, failed: 1 })
  })

  it('records on the global meter provider once an SDK registered one', async () => {
    const { meterProvider, collect } = sdk()
    const storage = freshStorage()
    await bootPointer(storage)
    await publish({ storage, app: APP, dir: await hotDir('v1'), version: 'v1', wait: false, gc: false })
    expect((await collect()).get('relup.publishes')).toBeUndefined()
    metrics.setGlobalMeterProvider(meterProvider)
    onCleanup(async () => metrics.disable())
    await publish({ storage, app: APP, dir: await hotDir('v2'), version: 'v2', wait: false, gc: false })
    const publishes = points((await collect()).get('relup.publishes'))
    expect(publishes.map((p) => [p.attributes['relup.publish.result'], p.value])).toEqual([['ok', 1]])
  })
})
