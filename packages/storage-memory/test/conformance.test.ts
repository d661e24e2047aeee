import { storageConformance } from '@relup/storage-conformance'
import { describe, it } from 'vitest'
import { memoryStorage } from '../src/index.js'

storageConformance({
  name: 'memory',
  create: () => memoryStorage(),
  capabilities: memoryStorage().capabilities,
  describe,
  it,
})
