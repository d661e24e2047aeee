// The connected SSE clients as plain data (ids and connect times). The sockets themselves stay in
// the cold part; this unit follows them through `deps.streams` and `deps.clientIds()`.

exports.units = {
  clients: {
    init: () => ({ clients: [] }),
    create: (ctx) => {
      const { deps } = ctx
      // Reconcile with the host on every (re)start: a stream that closed while no instance
      // listened must not linger here.
      const open = new Set(deps.clientIds())
      ctx.state.clients = ctx.state.clients.filter((client) => open.has(client.id))
      // Registered through ctx, so the engine removes these listeners when this version is replaced.
      ctx.listen(deps.streams, 'open', (client) => {
        ctx.state.clients.push({ id: client.id, connectedAt: client.connectedAt })
      })
      ctx.listen(deps.streams, 'close', (id) => {
        ctx.state.clients = ctx.state.clients.filter((client) => client.id !== id)
      })
      return {
        count: () => ctx.state.clients.length,
        list: () => ctx.state.clients.map((client) => ({ ...client })),
        state: () => ctx.state,
      }
    },
  },
}
