// The runtime's metrics, read through the real OpenTelemetry SDK after real upgrades on the swap engine.
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  type Rollout,
  relupKeys,
  type Storage,
  StorageTransportError,
  type UpgradeStats,
  withCandidate,
  writeDocument,
} from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import {
  APP,
  onCleanup,
  publishDirect,
  readPointer,
  startMachine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'

function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  onCleanup(() => meterProvider.shutdown())
  /** Every metric of the last collection, by name. */
  const collect = async (): Promise<Map<string, MetricData>> => {
    exporter.reset()
    await reader.forceFlush()
    const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
    return new Map(metrics.map((m) => [m.descriptor.name, m]))
  }
  return { meterProvider, collect }
}

const points = (metric: MetricData | undefined) => (metric?.dataPoints ?? []) as DataPoint<number>[]
const sumWhere = (metric: MetricData | undefined, attributes: Record<string, unknown>) =>
  points(metric)
    .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((total, p) => total + p.value, 0)

/** A storage whose reads can be made to fail, as an unreachable store's do. */
function breakableStorage(inner: Storage) {
  let broken = false
  const storage: Storage = {
    ...inner,
    get: (key, options) => {
      if (broken)
        throw new StorageTransportError('injected: storage unreachable', {
          operation: 'get',
          key,
          retryable: true,
        })
      return inner.get(key, options)
    },
  }
  return { storage, setBroken: (value: boolean) => (broken = value) }
}

describe('runtime metrics', () => {
  it('upgrades by result with their durations and pause, polls, the release, the notifier and the rollout', async () => {
    const { meterProvider, collect } = sdk()
    const { storage, setBroken } = breakableStorage(memoryStorage())
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      meterProvider,
      maxAttempts: 1,
    })
    const completed: UpgradeStats[] = []
    machine.relup.on('upgrade:completed', ({ stats }) => completed.push(stats))

    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(machine.relup, 'v2')
    const failed = new Promise((resolve) => machine.relup.once('upgrade:failed', resolve))
    await publishDirect(storage, await writeRelease(await tempDir(), 'v3', { breakAtTop: true }), {
      version: 'v3',
    })
    await failed

    let metrics = await collect()
    const upgrades = metrics.get('relup.upgrades')
    expect(upgrades?.descriptor.unit).toBe('{upgrade}')
    expect(sumWhere(upgrades, { 'relup.upgrade.result': 'completed', 'relup.upgrade.kind': 'hot' })).toBe(1)
    const failedPoint = points(upgrades).find((p) => p.attributes['relup.upgrade.result'] === 'failed')
    expect(failedPoint?.value).toBe(1)
    expect(failedPoint?.attributes['error.type']).toMatch(/^ERR_RELUP_/)
    expect(failedPoint?.attributes).toMatchObject({ 'relup.app': APP, 'relup.machine.id': 'm1' })

    const duration = metrics.get('relup.upgrade.duration')
    expect(duration?.descriptor.unit).toBe('s')
    const durations = (duration?.dataPoints ?? []) as DataPoint<Histogram>[]
    const done = durations.find((p) => p.attributes['relup.upgrade.result'] === 'completed')
    expect(done?.value.count).toBe(1)
    expect(done?.value.sum).toBeCloseTo(completed[0]!.totalMs / 1000, 9)
    expect(durations.find((p) => p.attributes['relup.upgrade.result'] === 'failed')?.value.count).toBe(1)
    const pause = metrics.get('relup.upgrade.pause.duration')
    expect(pause?.descriptor.unit).toBe('s')
    const pausePoint = (pause?.dataPoints[0] as DataPoint<Histogram> | undefined)?.value
    expect(pausePoint?.count).toBe(1)
    expect(pausePoint?.sum).toBeCloseTo(completed[0]!.pauseMs / 1000, 9)

    const polls = metrics.get('relup.polls')
    expect(polls?.descriptor.unit).toBe('{poll}')
    expect(sumWhere(polls, { 'relup.poll.result': 'changed' })).toBeGreaterThanOrEqual(2)
    await waitFor(
      async () => sumWhere((await collect()).get('relup.polls'), { 'relup.poll.result': 'not_modified' }) > 0,
      'a 304 poll',
    )

    const release = points(metrics.get('relup.release.info'))
    expect(release).toHaveLength(1)
    expect(release[0]!.value).toBe(1)
    expect(release[0]!.attributes).toMatchObject({
      'relup.version': 'v2',
      'relup.fingerprint': machine.relup.currentVsn()!.fingerprint,
      'relup.base_ref': 'image-1',
    })
    expect(
      metrics.has('relup.notifier.connected') ? points(metrics.get('relup.notifier.connected')) : [],
    ).toEqual([])

    // A notifier reports its state through the runtime's events.
    machine.relup.emit('notifier:state', { state: 'disconnected', notifier: 'redis', connected: false })
    // A rollout: the candidate of a paused first wave that admits no machine yet.
    const current = (await readPointer(storage))!
    const now = new Date().toISOString()
    const rollout: Rollout = {
      plan: [{ percent: 10 }, { percent: 100 }],
      wave: 0,
      threshold: 0,
      state: 'paused',
      healthWindowMs: 60_000,
      maxFailures: 0,
      startedAt: now,
      waveStartedAt: now,
    }
    const candidate = { ...current.pointer.hot!, upgradeId: '01CANDIDATE0000000000000000', version: 'v4' }
    await writeDocument(
      storage,
      relupKeys(APP).current,
      withCandidate(current.pointer, candidate, rollout, { setBy: 'test' }),
      {
        ifMatch: current.etag,
      },
    )
    await machine.relup.checkNow()
    metrics = await collect()
    expect(points(metrics.get('relup.notifier.connected'))).toMatchObject([
      { value: 0, attributes: { 'relup.notifier': 'redis' } },
    ])
    expect(points(metrics.get('relup.rollout.wave'))).toMatchObject([
      {
        value: 0,
        attributes: {
          'relup.rollout.state': 'paused',
          'relup.rollout.in_wave': false,
          'relup.version': 'v4',
        },
      },
    ])
    expect(points(metrics.get('relup.rollout.threshold'))[0]?.value).toBe(0)

    // Storage goes away: a poll error, typed.
    setBroken(true)
    await machine.relup.checkNow()
    setBroken(false)
    metrics = await collect()
    expect(sumWhere(metrics.get('relup.poll.errors'), { 'error.type': 'ERR_RELUP_STORAGE_TRANSPORT' })).toBe(
      1,
    )
    expect(sumWhere(metrics.get('relup.polls'), { 'relup.poll.result': 'error' })).toBe(1)
  })

  it('a rollout candidate: in its wave, on probation, passed', async () => {
    const { meterProvider, collect } = sdk()
    const storage = memoryStorage()
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      meterProvider,
    })
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(machine.relup, 'v2')
    const passed = new Promise((resolve) => machine.relup.once('probation:passed', resolve))
    const v3 = await publishDirect(storage, await writeRelease(await tempDir(), 'v3'), {
      version: 'v3',
      candidate: { windowMs: 200 },
    })
    await passed
    const metrics = await collect()
    expect(points(metrics.get('relup.rollout.probations'))).toMatchObject([
      { value: 1, attributes: { 'relup.probation.result': 'passed', 'relup.upgrade.id': v3.upgradeId } },
    ])
    expect(points(metrics.get('relup.rollout.wave'))).toMatchObject([
      { attributes: { 'relup.rollout.in_wave': true, 'relup.upgrade.id': v3.upgradeId } },
    ])
    expect(points(metrics.get('relup.rollout.threshold'))[0]?.value).toBe(1)
    expect(points(metrics.get('relup.release.info'))[0]?.attributes['relup.version']).toBe('v3')
  })
})
