import { describe, expect, it } from 'vitest'
import { canHandOver, type SweptConnection, sweepIdle } from '../src/idleSweep.js'

/** A socket as the sweep sees it: the bytes read so far, and whether it was closed. */
function socket(bytesRead = 100) {
  return {
    bytesRead,
    destroyed: false,
    destroy() {
      this.destroyed = true
    },
  }
}

const GRACE = 500

describe('the idle sweep of a drain', () => {
  it('closes a connection idle past the grace at the second look, not the first', () => {
    const idle = socket()
    const connections = new Map<ReturnType<typeof socket>, SweptConnection>([
      [idle, { busy: 0, idleSince: 0 }],
    ])
    sweepIdle(connections, 600, GRACE)
    // The first look: a request may have arrived while the loop was busy, not read yet.
    expect(idle.destroyed).toBe(false)
    sweepIdle(connections, 700, GRACE)
    expect(idle.destroyed).toBe(true)
  })

  it('keeps a connection whose next request arrived between the two looks', () => {
    const reused = socket()
    const tracked: SweptConnection = { busy: 0, idleSince: 0 }
    const connections = new Map([[reused, tracked]])
    sweepIdle(connections, 600, GRACE)
    reused.bytesRead += 80 // the event loop read the request's first bytes (its headers are not complete)
    sweepIdle(connections, 700, GRACE)
    expect(reused.destroyed).toBe(false)
    tracked.busy = 1 // the whole request: it is served, with Connection: close
    sweepIdle(connections, 800, GRACE)
    sweepIdle(connections, 900, GRACE)
    expect(reused.destroyed).toBe(false)
  })

  it('never closes a busy connection or one idle for less than the grace', () => {
    const busy = socket()
    const fresh = socket()
    const connections = new Map<ReturnType<typeof socket>, SweptConnection>([
      [busy, { busy: 1, idleSince: 0 }],
      [fresh, { busy: 0, idleSince: 400 }],
    ])
    for (const now of [600, 700, 800]) sweepIdle(connections, now, GRACE)
    expect(busy.destroyed).toBe(false)
    expect(fresh.destroyed).toBe(false)
    sweepIdle(connections, 900, GRACE) // fresh has been idle for 500 ms: marked now
    sweepIdle(connections, 1000, GRACE)
    expect(fresh.destroyed).toBe(true)
  })
})

describe('which connections a cutover hands over', () => {
  it('an idle one with nothing read since its last response moves, whatever waits unread in the kernel', () => {
    expect(canHandOver({ busy: 0, bytesAtIdle: 120 }, 120)).toBe(true)
    // A connection that never sent a request: nothing read at all.
    expect(canHandOver({ busy: 0, bytesAtIdle: 0 }, 0)).toBe(true)
  })

  it('one with a request under way, or the start of the next one read, stays (it is answered with Connection: close)', () => {
    expect(canHandOver({ busy: 1, bytesAtIdle: 120 }, 120)).toBe(false)
    // The parser holds the first bytes of the next request: moving would lose them.
    expect(canHandOver({ busy: 0, bytesAtIdle: 120 }, 160)).toBe(false)
  })
})
