/** Keys that could escape their namespace are refused, on writes and reads alike. */
import { strict as assert } from 'node:assert'
import { InvalidKeyError, isRelupError } from '@relup/core'
import { defineGroup } from '../suite.js'

export const keysConformance = defineGroup('keys', 'keys', (h) => {
  h.test('refuses keys that could escape their namespace', async (storage, k) => {
    for (const key of [
      '',
      '/absolute',
      '../up',
      k('a/../../b'),
      k('a/./b'),
      k('a//b'),
      k('nul\0byte'),
      k('trailing/'),
    ]) {
      await assert.rejects(
        storage.put(key, 'x'),
        (error: unknown) => error instanceof InvalidKeyError || isRelupError(error, InvalidKeyError.code),
        `key ${JSON.stringify(key)} must be refused with InvalidKeyError`,
      )
      await assert.rejects(storage.get(key), (error: unknown) => isRelupError(error, InvalidKeyError.code))
    }
  })
})
