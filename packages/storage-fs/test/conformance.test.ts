import { rm } from 'node:fs/promises'
import { storageConformance } from '@relup/storage-conformance'
import { describe, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

const create = () => fsStorage({ dir: tempDir('conformance').path })
const cleanup = async (storage: FsStorage) => {
  await storage.close()
  await rm(storage.dir, { recursive: true, force: true })
}

// The suite registers its tests for what the adapter declares: ask one store, then drop it.
const probe = create()
const { capabilities } = probe
await cleanup(probe)

storageConformance({
  name: 'fs',
  create,
  cleanup: (storage) => cleanup(storage as FsStorage),
  capabilities,
  describe,
  it,
})
