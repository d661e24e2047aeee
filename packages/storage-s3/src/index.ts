export type { S3RetryOptions } from './retryStrategy.js'
export type { S3Checksums, S3StorageOptions } from './s3Config.js'
export { type S3Storage, s3Storage } from './s3Storage.js'
