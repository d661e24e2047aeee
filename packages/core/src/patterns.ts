/** Shared field formats of relup documents. */
import { string } from './schema.js'

export const SHA256_HEX = /^[0-9a-f]{64}$/
export const sha256Hex = string({ pattern: SHA256_HEX, what: '64 lowercase hex characters (a sha256)' })
export const isoDate = string({
  pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  what: 'an ISO 8601 timestamp',
})
export const nonEmpty = string({ nonEmpty: true })
