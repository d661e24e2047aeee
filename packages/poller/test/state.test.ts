// The runtime's state machine: which events move it where, and what they change.
import type { LocalMarker } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { initialState, publicState, type RuntimeEvent, type RuntimeState, reduce } from '../src/state.js'

const run = (...events: RuntimeEvent[]): RuntimeState => events.reduce(reduce, initialState)

const marker = (upgradeId: string): LocalMarker => ({
  schema: 1,
  app: 'shop',
  baseRef: 'image-1',
  upgradeId,
  version: 'v2',
  sourceRef: 'sha256:abc',
  artifactSha256: 'a'.repeat(64),
  releaseDir: `/state/releases/${upgradeId}`,
  appliedAt: new Date(0).toISOString(),
})

describe('the runtime state machine', () => {
  it('starts, runs and stops, and a stopped runtime schedules nothing', () => {
    const running = run({ type: 'start' }, { type: 'started' }, { type: 'poll-scheduled', at: new Date(1) })
    expect(running).toMatchObject({ lifecycle: 'running', nextPoll: new Date(1) })
    const stopping = reduce(running, { type: 'stop' })
    expect(stopping).toMatchObject({ lifecycle: 'stopping', nextPoll: null })
    expect(reduce(stopping, { type: 'stopped' }).lifecycle).toBe('stopped')
  })

  it('development mode never runs, and stops like a running runtime', () => {
    const development = run({ type: 'start' }, { type: 'development' })
    expect(development.lifecycle).toBe('development')
    expect(() => reduce(development, { type: 'started' })).toThrow(
      /cannot started a runtime that is development/,
    )
    expect(run({ type: 'start' }, { type: 'development' }, { type: 'stop' }).lifecycle).toBe('stopping')
  })

  it('a runtime starts once', () => {
    expect(() => run({ type: 'start' }, { type: 'started' }, { type: 'start' })).toThrow(/cannot start/)
    expect(() => run({ type: 'stop' }, { type: 'start' })).toThrow(/cannot start a runtime that is stopped/)
  })

  it('the startup replay is pending until the pointer is settled', () => {
    expect(run({ type: 'start' }).startupPending).toBe(true)
    expect(run({ type: 'start' }, { type: 'startup-settled' }).startupPending).toBe(false)
  })

  it('an outage counts failed polls from the first one and ends when storage answers', () => {
    const down = run({ type: 'storage-failed', at: 100 }, { type: 'storage-failed', at: 250 })
    expect(down.outage).toEqual({ since: 100, failures: 2 })
    expect(reduce(down, { type: 'storage-answered' }).outage).toBeNull()
  })

  it('an applied upgrade clears its failed attempts and counts; its marker is on disk only when written', () => {
    const failed = run({ type: 'upgrade-failed', upgradeId: 'U2', attempt: 2, nextAt: 5000 })
    expect(failed.attempts.get('U2')).toEqual({ count: 2, nextAt: 5000 })
    const applied = reduce(failed, { type: 'upgrade-applied', marker: marker('U2'), markerWritten: false })
    expect(applied).toMatchObject({ running: { upgradeId: 'U2' }, diskMarker: null, upgradeCount: 1 })
    expect(applied.attempts.has('U2')).toBe(false)
    const claimed = reduce(failed, { type: 'upgrade-applied', marker: marker('U2'), markerWritten: true })
    expect(claimed.diskMarker).toMatchObject({ upgradeId: 'U2' })
  })

  it('an upgrade given up on (maxAttempts) has no next retry', () => {
    const gaveUp = run({ type: 'upgrade-failed', upgradeId: 'U2', attempt: 5, nextAt: null })
    const hot = { upgradeId: 'U2' } as NonNullable<Parameters<typeof publicState>[2]['pointer']>['hot']
    const pointer = { hot } as Parameters<typeof publicState>[2]['pointer']
    const state = publicState(
      gaveUp,
      { app: 'shop', machineId: 'm1', baseRef: 'image-1' },
      { etag: null, pointer },
    )
    expect(state).toMatchObject({ upgradeFailures: 5, nextRetry: null })
  })

  it('booting the last good release runs it and keeps its marker, without counting an upgrade', () => {
    const restored = run({ type: 'start' }, { type: 'release-restored', marker: marker('U2') })
    expect(restored).toMatchObject({
      running: { upgradeId: 'U2' },
      diskMarker: { upgradeId: 'U2' },
      upgradeCount: 0,
    })
  })
})
