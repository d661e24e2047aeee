/**
 * Storage is chosen by URL: `file://./dir` (the filesystem adapter, the default),
 * `s3://bucket/prefix` (S3 with the usual environment), `memory:` or `memory:name` (one
 * in-process store per name, for tests). The S3 and memory adapters are optional peer
 * dependencies, loaded only when their URL is used: the filesystem needs no AWS SDK.
 */
import { resolve } from 'node:path'
import { ConfigError, type Storage } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { StorageAdapterMissingError } from './errors.js'

export const DEFAULT_STORAGE = 'file://./.relup'

export interface OpenStorageOptions {
  /** What a relative `file://` path is relative to (default `process.cwd()`). */
  cwd?: string | undefined
  /** The environment an `s3://` store is configured from (default `process.env`). */
  env?: NodeJS.ProcessEnv | undefined
}

const memoryStores = new Map<string, Storage>()

/** `import(name)`, with a missing package turned into an error that says what to install. */
async function loadAdapter<T>(scheme: string, name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(error).includes(name))
      throw new StorageAdapterMissingError(scheme, name, error)
    throw error
  }
}

export async function openStorage(url: string, options: OpenStorageOptions = {}): Promise<Storage> {
  if (url.startsWith('memory:')) {
    const name = url.slice('memory:'.length) || 'default'
    let store = memoryStores.get(name)
    if (!store) {
      const { memoryStorage } = await loadAdapter(
        'memory:',
        '@relup/storage-memory',
        () => import('@relup/storage-memory'),
      )
      // Another caller may have created it while the module loaded.
      store = memoryStores.get(name) ?? memoryStorage({ name: `memory:${name}` })
      memoryStores.set(name, store)
    }
    return store
  }
  if (url.startsWith('file://')) {
    const path = url.slice('file://'.length)
    if (path === '')
      throw new ConfigError('storage', 'file:// needs a directory, e.g. file://./.relup or file:///srv/relup')
    return fsStorage({ dir: resolve(options.cwd ?? process.cwd(), path) })
  }
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length)
    const slash = rest.indexOf('/')
    const bucket = slash === -1 ? rest : rest.slice(0, slash)
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '')
    if (bucket === '')
      throw new ConfigError('storage', 's3:// needs a bucket, e.g. s3://my-bucket or s3://my-bucket/prefix')
    const env = options.env ?? process.env
    const { s3Storage } = await loadAdapter('s3://', '@relup/storage-s3', () => import('@relup/storage-s3'))
    return s3Storage({
      bucket,
      ...(prefix ? { prefix } : {}),
      env,
      consistentReads:
        env.RELUP_S3_CONSISTENT === '1' || Boolean(env.AWS_ENDPOINT_URL_S3?.includes('tigris')),
    })
  }
  throw new ConfigError(
    'storage',
    `unknown storage URL ${JSON.stringify(url)}: use file://<dir>, s3://<bucket>[/<prefix>] or memory:`,
  )
}
