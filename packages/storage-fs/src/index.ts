export { type FsStorage, type FsStorageOptions, fsStorage } from './fsStorage.js'
