export {
  type FaultOptions,
  type FaultStats,
  type FaultyStorage,
  faultyStorage,
  type StorageOperation,
} from './faultyStorage.js'
export { seededRandom } from './random.js'
export { type ConformanceGroup, type ConformanceOptions, storageConformance } from './storageConformance.js'
