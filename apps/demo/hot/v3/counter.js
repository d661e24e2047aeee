// The counter, v3: its state changes shape from `{ count }` to `{ value, changedAt }` (when the
// count last changed, as an ISO date). `codeChange` migrates the previous version's state inside
// the upgrade's pause; the number is kept.

exports.units = {
  counter: {
    init: () => ({ value: 0, changedAt: null }),
    codeChange(oldState, fromVersion) {
      // v1 and v2 kept `{ count }` and never recorded when it changed.
      if (oldState && typeof oldState.count === 'number') return { value: oldState.count, changedAt: null }
      // Already the v3 shape (republished v3, or a later version rolled back to this one).
      if (oldState && typeof oldState.value === 'number') {
        return { value: oldState.value, changedAt: oldState.changedAt ?? null }
      }
      throw new Error(`cannot migrate counter state ${JSON.stringify(oldState)} from ${fromVersion}`)
    },
    create: (ctx) => {
      // `count` stays in every answer (callers of the previous version may be parked at the gate).
      const view = () => ({ count: ctx.state.value, changedAt: ctx.state.changedAt })
      return {
        get: view,
        increment() {
          ctx.state.value += 1
          ctx.state.changedAt = new Date().toISOString()
          ctx.deps.broadcast('counter', view())
          return view()
        },
        state: () => ctx.state,
      }
    },
  },
}
