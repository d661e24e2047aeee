import { rm } from 'node:fs/promises'
import { storageConformance } from '@relup/storage-conformance'
import { describe, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

storageConformance({
  name: 'fs',
  create: () => fsStorage({ dir: tempDir('conformance').path }),
  cleanup: async (storage) => {
    await storage.close?.()
    await rm((storage as FsStorage).dir, { recursive: true, force: true })
  },
  describe,
  it,
})
