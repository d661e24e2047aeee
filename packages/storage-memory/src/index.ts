export { type MemoryStorage, type MemoryStorageOptions, memoryStorage } from './memoryStorage.js'
