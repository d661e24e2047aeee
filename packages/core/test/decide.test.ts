import { describe, expect, it } from 'vitest'
import {
  type DecideInput,
  type Decision,
  decide,
  initialPointer,
  resetPointer,
  withHotUpgrade,
} from '../src/index.js'
import { hotUpgrade, marker, pointer } from './fixtures.js'

const hot = hotUpgrade()

const table: { name: string; input: DecideInput; expected: Decision }[] = [
  {
    name: 'no pointer yet → init',
    input: { pointer: null, baseRef: 'image-1', marker: null },
    expected: { action: 'init' },
  },
  {
    name: 'no pointer, even with a stale marker → init',
    input: { pointer: null, baseRef: 'image-1', marker: marker() },
    expected: { action: 'init' },
  },
  {
    name: 'same base, no hot upgrade → noop',
    input: { pointer: pointer(), baseRef: 'image-1', marker: null },
    expected: { action: 'noop' },
  },
  {
    name: 'same base, hot upgrade not applied yet → apply',
    input: { pointer: pointer({ hot }), baseRef: 'image-1', marker: null },
    expected: { action: 'apply', upgrade: hot },
  },
  {
    name: 'same base, marker of this upgrade → noop',
    input: { pointer: pointer({ hot }), baseRef: 'image-1', marker: marker() },
    expected: { action: 'noop' },
  },
  {
    name: 'same base, marker of an earlier upgrade → apply the new one',
    input: {
      pointer: pointer({ hot }),
      baseRef: 'image-1',
      marker: marker({ upgradeId: '01KOLDOLDOLDOLDOLDOLDOLD00' }),
    },
    expected: { action: 'apply', upgrade: hot },
  },
  {
    name: 'rollback republishes older code under a new upgradeId → apply',
    input: {
      pointer: pointer({ hot: hotUpgrade({ upgradeId: '01KNEWROLLBACK0000000000000', version: 'v1' }) }),
      baseRef: 'image-1',
      marker: marker(),
    },
    expected: {
      action: 'apply',
      upgrade: hotUpgrade({ upgradeId: '01KNEWROLLBACK0000000000000', version: 'v1' }),
    },
  },
  {
    name: 'a marker from another base proves nothing → apply',
    input: { pointer: pointer({ hot }), baseRef: 'image-1', marker: marker({ baseRef: 'image-0' }) },
    expected: { action: 'apply', upgrade: hot },
  },
  {
    name: 'a base new to the pointer (cold deploy) → reset',
    input: { pointer: pointer({ hot }), baseRef: 'image-2', marker: null },
    expected: { action: 'reset', fromBaseRef: 'image-1' },
  },
  {
    name: 'an older generation (base among previous bases) → skip, never reset backwards',
    input: {
      pointer: pointer({ baseRef: 'image-2', previousBases: ['image-1'] }),
      baseRef: 'image-1',
      marker: null,
    },
    expected: { action: 'skip', reason: 'older-base', currentBaseRef: 'image-2' },
  },
  {
    name: 'an older generation with a hot upgrade on the new base → skip, the upgrade is not for it',
    input: {
      pointer: pointer({
        baseRef: 'image-2',
        previousBases: ['image-1'],
        hot: hotUpgrade({ baseRef: 'image-2' }),
      }),
      baseRef: 'image-1',
      marker: marker(),
    },
    expected: { action: 'skip', reason: 'older-base', currentBaseRef: 'image-2' },
  },
]

describe('decide', () => {
  it.each(table)('$name', ({ input, expected }) => {
    expect(decide(input)).toEqual(expected)
  })

  it('survives the rolling cold deploy race that resets FlyDeploy backwards', () => {
    const ctx = { setBy: 'test', now: new Date('2026-11-26T12:00:00Z') }
    // The fleet runs image-1. A rolling cold deploy to image-2 starts: the first new machine resets.
    let current = initialPointer('chat', 'image-1', ctx)
    const first = decide({ pointer: current, baseRef: 'image-2', marker: null })
    expect(first.action).toBe('reset')
    current = resetPointer(current, 'image-2', ctx)
    // An old machine restarts in the middle of the rollout: it must not point the fleet back.
    expect(decide({ pointer: current, baseRef: 'image-1', marker: null })).toEqual({
      action: 'skip',
      reason: 'older-base',
      currentBaseRef: 'image-2',
    })
    // A hot upgrade published for image-2 reaches the new machines, and only them.
    const upgrade = hotUpgrade({ baseRef: 'image-2', upgradeId: '01KHOTFORIMAGE2000000000000' })
    current = withHotUpgrade(current, upgrade, ctx)
    expect(decide({ pointer: current, baseRef: 'image-2', marker: null })).toEqual({
      action: 'apply',
      upgrade,
    })
    expect(decide({ pointer: current, baseRef: 'image-1', marker: null }).action).toBe('skip')
  })
})

describe('pointer constructors', () => {
  const ctx = { setBy: 'machine:m1', now: new Date('2026-11-26T12:00:00Z') }

  it('resetPointer keeps the old base first in previousBases, drops the hot upgrade and bumps seq', () => {
    const before = pointer({
      baseRef: 'image-2',
      previousBases: ['image-1'],
      hot: hotUpgrade({ baseRef: 'image-2' }),
      seq: 7,
    })
    const after = resetPointer(before, 'image-3', ctx)
    expect(after).toMatchObject({
      baseRef: 'image-3',
      previousBases: ['image-2', 'image-1'],
      hot: null,
      seq: 8,
    })
    expect(after.setAt).toBe('2026-11-26T12:00:00.000Z')
  })

  it('resetPointer to a previous base removes it from previousBases (an explicit roll back of a cold deploy)', () => {
    const after = resetPointer(
      pointer({ baseRef: 'image-2', previousBases: ['image-1', 'image-0'] }),
      'image-1',
      ctx,
    )
    expect(after.previousBases).toEqual(['image-2', 'image-0'])
  })

  it('previousBases is capped', () => {
    let current = initialPointer('chat', 'b0', ctx)
    for (let i = 1; i <= 30; i++) current = resetPointer(current, `b${i}`, ctx)
    expect(current.previousBases).toHaveLength(20)
    expect(current.previousBases[0]).toBe('b29')
  })

  it('withHotUpgrade sets the upgrade and moves the base when the upgrade targets another one', () => {
    const start = pointer({ seq: 3 })
    const same = withHotUpgrade(start, hotUpgrade(), ctx)
    expect(same).toMatchObject({ baseRef: 'image-1', previousBases: [], seq: 4 })
    expect(same.hot?.version).toBe('v2')
    const moved = withHotUpgrade(start, hotUpgrade({ baseRef: 'image-9' }), ctx)
    expect(moved).toMatchObject({ baseRef: 'image-9', previousBases: ['image-1'], seq: 4 })
  })
})

describe('decide: a rollback to base', () => {
  it('swaps the base release back in on a machine running a hot upgrade of that base', () => {
    expect(decide({ pointer: pointer({ hot: null }), baseRef: 'image-1', marker: marker() })).toEqual({
      action: 'base',
    })
  })

  it('does nothing on a machine already on base code, or whose marker is of another base', () => {
    expect(decide({ pointer: pointer({ hot: null }), baseRef: 'image-1', marker: null })).toEqual({
      action: 'noop',
    })
    expect(
      decide({ pointer: pointer({ hot: null }), baseRef: 'image-1', marker: marker({ baseRef: 'image-0' }) }),
    ).toEqual({ action: 'noop' })
  })
})

describe('decide: a base rebuilt under the same ref', () => {
  const hot = hotUpgrade({ baseRef: 'image-1' })

  it("skips the fleet's hot upgrade when the pointer knows the base by other contents", () => {
    expect(
      decide({
        pointer: pointer({ hot, baseDigest: 'aaaa1111aaaa1111' }),
        baseRef: 'image-1',
        marker: null,
        baseDigest: 'bbbb2222bbbb2222',
      }),
    ).toEqual({ action: 'skip', reason: 'base-rebuilt', currentBaseRef: 'image-1' })
  })

  it('applies it when the contents match, or when either side does not know them', () => {
    for (const [known, mine] of [
      ['aaaa1111aaaa1111', 'aaaa1111aaaa1111'],
      [null, 'aaaa1111aaaa1111'],
      ['aaaa1111aaaa1111', undefined],
    ] as const) {
      const decision = decide({
        pointer: pointer({ hot, baseDigest: known }),
        baseRef: 'image-1',
        marker: null,
        baseDigest: mine,
      })
      expect(decision).toEqual({ action: 'apply', upgrade: hot })
    }
  })
})
