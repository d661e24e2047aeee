import { describe, expect, it } from 'vitest'
import { assertOptionsSupported, folderPrefix, pageLimit, validateKey } from '../src/adapter.js'
import { InvalidKeyError, UnsupportedCapabilityError } from '../src/index.js'

describe('storage contract helpers', () => {
  it('validateKey accepts unicode, spaces and nested segments', () => {
    expect(validateKey('relup/chat/ünï côdé/x.json')).toEqual(['relup', 'chat', 'ünï côdé', 'x.json'])
  })

  it.each(['', '/abs', '../x', 'a/../b', 'a/./b', 'a//b', 'a/', 'nul\0', 'lone\uD800', 'é'.repeat(513)])(
    'validateKey refuses %j',
    (key) => {
      expect(() => validateKey(key)).toThrow(InvalidKeyError)
    },
  )

  it('pageLimit clamps to 1..1000 and treats a non-number as the default', () => {
    expect([
      pageLimit(undefined),
      pageLimit(Number.NaN),
      pageLimit(0),
      pageLimit(250.7),
      pageLimit(5000),
    ]).toEqual([1000, 1000, 1, 250, 1000])
  })

  it('folderPrefix implies the trailing slash', () => {
    expect(folderPrefix('a/b')).toBe('a/b/')
    expect(folderPrefix('a/b/')).toBe('a/b/')
    expect(folderPrefix('')).toBe('')
  })

  it('assertOptionsSupported throws for each option whose capability is declared false', () => {
    const storage = {
      name: 'weak',
      capabilities: {
        conditionalGet: false,
        createOnly: false,
        compareAndSwap: false,
        conditionalDelete: false,
      },
    }
    expect(() => assertOptionsSupported(storage, { ifNoneMatch: '"e"' }, 'get')).toThrow(
      UnsupportedCapabilityError,
    )
    expect(() => assertOptionsSupported(storage, { ifNoneMatch: '*' }, 'put')).toThrow(/createOnly/)
    expect(() => assertOptionsSupported(storage, { ifMatch: '"e"' }, 'put')).toThrow(/compareAndSwap/)
    expect(() => assertOptionsSupported(storage, { ifMatch: '"e"' }, 'delete')).toThrow(/conditionalDelete/)
    expect(() => assertOptionsSupported(storage, {}, 'put')).not.toThrow()
  })
})
