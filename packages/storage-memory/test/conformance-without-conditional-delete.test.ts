// An adapter that lacks a capability passes the suite by declaring it: the tests of conditional
// delete are reported as skipped, and the honesty test checks that asking for it throws.
import { storageConformance } from '@relup/storage-conformance'
import { describe, it } from 'vitest'
import { memoryWithoutConditionalDelete } from './fixtures/memoryWithoutConditionalDelete.js'

storageConformance({
  name: 'memory without conditional delete',
  create: memoryWithoutConditionalDelete,
  capabilities: memoryWithoutConditionalDelete().capabilities,
  describe,
  it,
})
