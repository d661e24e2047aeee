export {
  type FaultOptions,
  type FaultStats,
  type FaultyStorage,
  faultyStorage,
  type StorageOperation,
} from './faultyStorage.js'
export { capabilitiesConformance } from './groups/capabilities.js'
export { compareAndSwapConformance } from './groups/compareAndSwap.js'
export { conditionalGetConformance } from './groups/conditionalGet.js'
export { createOnlyConformance } from './groups/createOnly.js'
export { deleteConformance } from './groups/delete.js'
export { keysConformance } from './groups/keys.js'
export { listingConformance } from './groups/listing.js'
export { roundTripConformance } from './groups/roundTrip.js'
export { streamingConformance } from './groups/streaming.js'
export type {
  ConformanceDescribe,
  ConformanceGroup,
  ConformanceIt,
  ConformanceOptions,
} from './harness.js'
export { seededRandom } from './random.js'
export { storageConformance } from './storageConformance.js'
export type { ConformanceGroupSuite } from './suite.js'
