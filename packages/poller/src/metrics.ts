/**
 * What a running machine tells operators, through the OpenTelemetry metrics API: upgrades by
 * result, their apply and pause durations, polls and poll errors, the notifier's state, the release
 * it runs (version and fingerprint as attributes) and the rollout it is part of. It only listens to
 * the runtime's events and reads its state; with no SDK registered (the default) every instrument
 * is a no-op and nothing is recorded.
 */
import type { EventEmitter } from 'node:events'
import {
  type Attributes,
  type BatchObservableCallback,
  type Meter,
  type MeterProvider,
  metrics,
} from '@opentelemetry/api'
import { type CurrentPointer, inRolloutWave } from '@relup/core'
import type { VersionInfo } from './currentVsn.js'
import type { RelupEvents, RelupState } from './types.js'

/** The meter's name: what an SDK's views and exporters select on. */
export const RUNTIME_METER = '@relup/poller'

/** Buckets for an upgrade and for its pause (seconds): a pause is typically well under a millisecond. */
const UPGRADE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const PAUSE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

/** What the metrics read from a runtime: its events, its state, what it runs. */
export interface InstrumentedRuntime extends EventEmitter<RelupEvents> {
  getState(): RelupState
  currentVsn(): VersionInfo | null
}

/**
 * Subscribe the runtime's metrics to its events. Called by the `Relup` constructor with the
 * `meterProvider` option (default: the global one); the observable gauges stop reporting, and
 * unregister, once the runtime has stopped.
 */
export function instrumentRuntime(
  relup: InstrumentedRuntime,
  options: { app: string; machineId: string; meterProvider?: MeterProvider | undefined },
): void {
  const meter: Meter = (options.meterProvider ?? metrics).getMeter(RUNTIME_METER)
  const machine: Attributes = { 'relup.app': options.app, 'relup.machine.id': options.machineId }

  const upgrades = meter.createCounter('relup.upgrades', {
    description: 'Upgrade attempts that ended, by result (completed, failed) and kind (hot, base)',
    unit: '{upgrade}',
  })
  const duration = meter.createHistogram('relup.upgrade.duration', {
    description: 'How long an upgrade took on the machine, download and verification included',
    unit: 's',
    advice: { explicitBucketBoundaries: UPGRADE_BUCKETS },
  })
  const pause = meter.createHistogram('relup.upgrade.pause.duration', {
    description: 'How long calls into the upgraded units waited: gates closed to reopened',
    unit: 's',
    advice: { explicitBucketBoundaries: PAUSE_BUCKETS },
  })
  const polls = meter.createCounter('relup.polls', {
    description: 'Reads of the pointer, by result (changed, not_modified, not_found, malformed, error)',
    unit: '{poll}',
  })
  const pollErrors = meter.createCounter('relup.poll.errors', {
    description: 'Polls that failed: storage unreachable, or a pointer that cannot be parsed',
    unit: '{error}',
  })
  const release = meter.createObservableGauge('relup.release.info', {
    description:
      'Always 1: the release this machine runs, as attributes (base, version, upgrade id, fingerprint)',
    unit: '1',
  })
  const notifier = meter.createObservableGauge('relup.notifier.connected', {
    description:
      '1 while the notifier is connected, 0 while it is down (machines fall back to the safety-net poll)',
    unit: '1',
  })
  const wave = meter.createObservableGauge('relup.rollout.wave', {
    description: 'During a rollout: the wave it reached (0 is the first), with whether this machine is in it',
    unit: '{wave}',
  })
  const threshold = meter.createObservableGauge('relup.rollout.threshold', {
    description: 'During a rollout: the share of machines (by cohort) that run the candidate',
    unit: '1',
  })

  const probations = meter.createCounter('relup.rollout.probations', {
    description:
      "Rollout candidates this machine kept on probation, by how it ended (passed: it is the machine's last good release; failed: reverted)",
    unit: '{probation}',
  })

  const started = new Map<string, number>()
  let pointer: CurrentPointer | null = null
  let notifierState: { notifier: string; connected: boolean } | null = null

  relup.on('upgrade:started', ({ upgrade }) => started.set(upgrade.upgradeId, performance.now()))
  relup.on('upgrade:completed', ({ upgrade, stats, startup }) => {
    started.delete(upgrade.upgradeId)
    const attributes = { ...machine, 'relup.upgrade.kind': 'hot', 'relup.upgrade.startup': startup }
    upgrades.add(1, { ...attributes, 'relup.upgrade.result': 'completed' })
    duration.record(stats.totalMs / 1000, { ...attributes, 'relup.upgrade.result': 'completed' })
    pause.record(stats.pauseMs / 1000, attributes)
  })
  relup.on('upgrade:failed', ({ upgrade, error, startup }) => {
    const since = started.get(upgrade.upgradeId)
    started.delete(upgrade.upgradeId)
    const attributes = {
      ...machine,
      'relup.upgrade.kind': 'hot',
      'relup.upgrade.startup': startup,
      'relup.upgrade.result': 'failed',
      'error.type': errorType(error),
    }
    upgrades.add(1, attributes)
    if (since !== undefined) duration.record((performance.now() - since) / 1000, attributes)
  })
  relup.on('base:restored', ({ stats }) => {
    const attributes = { ...machine, 'relup.upgrade.kind': 'base', 'relup.upgrade.startup': false }
    upgrades.add(1, { ...attributes, 'relup.upgrade.result': 'completed' })
    duration.record(stats.totalMs / 1000, { ...attributes, 'relup.upgrade.result': 'completed' })
    pause.record(stats.pauseMs / 1000, attributes)
  })
  relup.on('base:failed', ({ error }) =>
    upgrades.add(1, {
      ...machine,
      'relup.upgrade.kind': 'base',
      'relup.upgrade.startup': false,
      'relup.upgrade.result': 'failed',
      'error.type': errorType(error),
    }),
  )
  relup.on('poll:completed', (poll) => {
    pointer = poll.pointer
    const result = poll.status === 'ok' ? 'changed' : poll.status.replace('-', '_')
    polls.add(1, { ...machine, 'relup.poll.result': result })
  })
  relup.on('poll:error', ({ error, consecutiveFailures }) => {
    // A malformed pointer was counted by `poll:completed`; a storage failure ends the poll here.
    if (consecutiveFailures > 0) polls.add(1, { ...machine, 'relup.poll.result': 'error' })
    pollErrors.add(1, { ...machine, 'error.type': errorType(error) })
  })
  for (const result of ['passed', 'failed'] as const)
    relup.on(`probation:${result}`, ({ upgrade }) =>
      probations.add(1, {
        ...machine,
        'relup.upgrade.id': upgrade.upgradeId,
        'relup.version': upgrade.version,
        'relup.probation.result': result,
      }),
    )
  relup.on('notifier:state', (state) => {
    notifierState = state
  })

  const observe: BatchObservableCallback = (result) => {
    if (relup.getState().mode === 'stopped') {
      // Not while the SDK walks its callbacks: that would make it skip the next one.
      queueMicrotask(() => meter.removeBatchObservableCallback(observe, observables))
      return
    }
    const vsn = relup.currentVsn()
    if (vsn)
      result.observe(release, 1, {
        ...machine,
        'relup.base_ref': vsn.baseRef,
        'relup.version': vsn.version ?? 'base',
        'relup.upgrade.id': vsn.upgradeId ?? '',
        'relup.fingerprint': vsn.fingerprint,
      })
    if (notifierState)
      result.observe(notifier, notifierState.connected ? 1 : 0, {
        ...machine,
        'relup.notifier': notifierState.notifier,
      })
    const candidate = pointer?.candidate
    if (candidate) {
      const attributes = {
        ...machine,
        'relup.upgrade.id': candidate.upgrade.upgradeId,
        'relup.version': candidate.upgrade.version,
        'relup.rollout.state': candidate.rollout.state,
        'relup.rollout.in_wave': inRolloutWave(options.machineId, candidate),
      }
      result.observe(wave, candidate.rollout.wave, attributes)
      result.observe(threshold, candidate.rollout.threshold, attributes)
    }
  }
  const observables = [release, notifier, wave, threshold]
  meter.addBatchObservableCallback(observe, observables)
}

/** `error.type` per the semantic conventions: the relup error code, else the error's class name. */
function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : error.name || 'Error'
}
