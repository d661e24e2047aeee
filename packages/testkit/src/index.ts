export { type S3rverOptions, type S3rverServer, s3rverEnv, startS3rver } from './s3rver.js'
