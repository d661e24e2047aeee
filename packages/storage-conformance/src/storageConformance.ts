/**
 * The conformance suite every relup storage adapter passes: every group, in one `describe`. It
 * takes the test runner's `describe` and `it`, so it runs under vitest, node:test, jest or mocha,
 * and asserts with `node:assert`. Each group is also exported, to run one alone.
 */
import { capabilitiesConformance } from './groups/capabilities.js'
import { compareAndSwapConformance } from './groups/compareAndSwap.js'
import { conditionalGetConformance } from './groups/conditionalGet.js'
import { createOnlyConformance } from './groups/createOnly.js'
import { deleteConformance } from './groups/delete.js'
import { keysConformance } from './groups/keys.js'
import { listingConformance } from './groups/listing.js'
import { roundTripConformance } from './groups/roundTrip.js'
import { streamingConformance } from './groups/streaming.js'
import type { ConformanceOptions } from './harness.js'
import { type ConformanceGroupSuite, registerSuite } from './suite.js'

const groups: readonly ConformanceGroupSuite[] = [
  roundTripConformance,
  streamingConformance,
  listingConformance,
  conditionalGetConformance,
  createOnlyConformance,
  compareAndSwapConformance,
  deleteConformance,
  keysConformance,
  capabilitiesConformance,
]

export function storageConformance(options: ConformanceOptions): void {
  registerSuite(options, groups)
}
