/**
 * A capability declared `false` must throw `UnsupportedCapabilityError` when asked for, never be
 * ignored: the tests of that capability are skipped, so this is what runs in their place.
 */
import { strict as assert } from 'node:assert'
import type { StorageCapability } from '@relup/core'
import { decode, expectOk, expectUnsupported, putOk } from '../assertions.js'
import { CAPABILITIES } from '../harness.js'
import { defineGroup } from '../suite.js'

export const capabilitiesConformance = defineGroup('capabilities', 'capability honesty', (h) => {
  const expected = h.options.capabilities
  // With every capability declared there is nothing to refuse: reported as skipped, not passed.
  const someUndeclared = CAPABILITIES.some((capability) => !expected[capability])

  h.testIf(
    someUndeclared,
    'every capability declared unsupported throws when asked, never ignored',
    async (storage, k) => {
      // Declared false by the options or by the store: either way, asking must throw.
      const unsupported = (capability: StorageCapability) =>
        !expected[capability] || !storage.capabilities[capability]
      const etag = await putOk(storage, k('honest.json'), 'x')
      if (unsupported('conditionalGet')) {
        await expectUnsupported(storage.get(k('honest.json'), { ifNoneMatch: etag }), 'conditionalGet')
        await expectUnsupported(storage.getStream(k('honest.json'), { ifNoneMatch: etag }), 'conditionalGet')
      }
      if (unsupported('createOnly'))
        await expectUnsupported(storage.put(k('new.json'), 'y', { ifNoneMatch: '*' }), 'createOnly')
      if (unsupported('compareAndSwap'))
        await expectUnsupported(storage.put(k('honest.json'), 'y', { ifMatch: etag }), 'compareAndSwap')
      if (unsupported('conditionalDelete'))
        await expectUnsupported(storage.delete(k('honest.json'), { ifMatch: etag }), 'conditionalDelete')
      // Whatever was refused must not have happened.
      assert.equal(decode((await expectOk(storage, k('honest.json'))).body), 'x')
    },
  )
})
