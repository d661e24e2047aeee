// Request metrics of the hot router, read by importers through live bindings (`requestsServed`
// is the current value on every read, as in any ES module).
//
// Module-level state is not migrated: it starts from zero whenever this module is evaluated
// again, i.e. when an upgrade changes this file or something it imports. Nothing here has to
// survive; what must survive lives in a unit's state.

export let requestsServed = 0
export let requestsPerSecond = 0
let thisSecond = 0

export function countRequest(): void {
  requestsServed += 1
  thisSecond += 1
}

// Started by the top level, so it belongs to this version of the module: when an upgrade
// replaces the module, relup clears it, and only the new version's interval runs.
setInterval(() => {
  requestsPerSecond = thisSecond
  thisSecond = 0
}, 1000).unref()
