/**
 * `@relup/core/adapter`: what a storage adapter author needs beside the contract types (which
 * `@relup/core` exports). Apps and tools never need these.
 */
export {
  assertCapability,
  assertOptionsSupported,
  bodyToBytes,
  folderPrefix,
  pageLimit,
  validateKey,
} from './adapterHelpers.js'
export { LIST_LIMIT } from './storage.js'
