/**
 * Storage is chosen by URL: `file://./dir` (the filesystem adapter, the default),
 * `s3://bucket/prefix` (S3 with the usual environment), `memory:` or `memory:name` (one
 * in-process store per name, for tests).
 */
import { resolve } from 'node:path'
import { ConfigError, type Storage } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { type MemoryStorage, memoryStorage } from '@relup/storage-memory'
import { s3Storage } from '@relup/storage-s3'

export const DEFAULT_STORAGE = 'file://./.relup'

const memoryStores = new Map<string, MemoryStorage>()

export function openStorage(url: string, cwd: string = process.cwd()): Storage {
  if (url === 'memory:' || url.startsWith('memory:')) {
    const name = url.slice('memory:'.length) || 'default'
    let store = memoryStores.get(name)
    if (!store) {
      store = memoryStorage({ name: `memory:${name}` })
      memoryStores.set(name, store)
    }
    return store
  }
  if (url.startsWith('file://')) {
    const path = url.slice('file://'.length)
    if (path === '')
      throw new ConfigError('storage', 'file:// needs a directory, e.g. file://./.relup or file:///srv/relup')
    return fsStorage({ dir: resolve(cwd, path) })
  }
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length)
    const slash = rest.indexOf('/')
    const bucket = slash === -1 ? rest : rest.slice(0, slash)
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '')
    if (bucket === '')
      throw new ConfigError('storage', 's3:// needs a bucket, e.g. s3://my-bucket or s3://my-bucket/prefix')
    return s3Storage({
      bucket,
      ...(prefix ? { prefix } : {}),
      consistentReads:
        process.env.RELUP_S3_CONSISTENT === '1' ||
        Boolean(process.env.AWS_ENDPOINT_URL_S3?.includes('tigris')),
    })
  }
  throw new ConfigError(
    'storage',
    `unknown storage URL ${JSON.stringify(url)}: use file://<dir>, s3://<bucket>[/<prefix>] or memory:`,
  )
}
