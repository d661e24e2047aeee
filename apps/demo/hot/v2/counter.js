// The counter: a stateful unit (the GenServer analogue). Its state is plain data that the swap
// engine hands to the next version; `deps.broadcast` reaches the SSE clients the cold part owns.

// v3 keeps the number as `value`: reading both shapes lets this version also take the state
// back from v3 (a rollback), the way an Erlang code_change handles a downgrade.
function countOf(state) {
  if (state && typeof state.count === 'number') return state.count
  if (state && typeof state.value === 'number') return state.value
  return 0
}

exports.units = {
  counter: {
    init: () => ({ count: 0 }),
    codeChange: (oldState) => ({ count: countOf(oldState) }),
    create: (ctx) => ({
      // Every version returns an object with `count`: a call parked at the gate during an upgrade
      // runs on the new version, so callers of the old version must understand its answer.
      get: () => ({ count: ctx.state.count }),
      increment() {
        ctx.state.count += 1
        ctx.deps.broadcast('counter', { count: ctx.state.count })
        return { count: ctx.state.count }
      },
      state: () => ctx.state,
    }),
  },
}
