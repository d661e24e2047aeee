import { S3Client } from '@aws-sdk/client-s3'
import { ConfigError } from '@relup/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type S3Storage, type S3StorageOptions, s3Storage } from '../src/index.js'

const FLY_TIGRIS = {
  BUCKET_NAME: 'chat-releases',
  AWS_ENDPOINT_URL_S3: 'https://fly.storage.tigris.dev',
  AWS_REGION: 'auto',
  AWS_ACCESS_KEY_ID: 'tid_example',
  AWS_SECRET_ACCESS_KEY: 'tsec_example',
}

const opened: S3Storage[] = []
afterEach(async () => {
  vi.unstubAllEnvs()
  await Promise.all(opened.splice(0).map((storage) => storage.close()))
})

function open(options: S3StorageOptions): S3Storage {
  const storage = s3Storage(options)
  opened.push(storage)
  return storage
}

function configError(options: S3StorageOptions): ConfigError {
  try {
    open(options)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  return expect.fail('expected a ConfigError')
}

describe('configuration from the environment', () => {
  it('with no options it uses what Fly.io sets for Tigris: bucket, endpoint, region, keys', async () => {
    const storage = open({ env: FLY_TIGRIS })
    expect(storage.name).toBe('s3://chat-releases')
    expect(storage.bucket).toBe('chat-releases')
    const config = storage.client.config
    expect(await config.region()).toBe('auto')
    expect(await config.endpoint?.()).toMatchObject({
      protocol: 'https:',
      hostname: 'fly.storage.tigris.dev',
    })
    // Virtual-hosted, as in Fly.io's own Tigris examples.
    expect(config.forcePathStyle).toBe(false)
    expect(await config.credentials()).toMatchObject({
      accessKeyId: 'tid_example',
      secretAccessKey: 'tsec_example',
    })
    // Not AWS: conditional deletes are not assumed.
    expect(storage.capabilities).toEqual({
      conditionalGet: true,
      createOnly: true,
      compareAndSwap: true,
      conditionalDelete: false,
    })
  })

  it('without an endpoint it is AWS S3: virtual-hosted style and conditional deletes (AWS has them since 2025-09)', async () => {
    const storage = open({
      env: {
        BUCKET_NAME: 'b',
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 's',
      },
    })
    expect(storage.client.config.forcePathStyle).toBe(false)
    expect(await storage.client.config.region()).toBe('eu-west-1')
    expect(storage.capabilities.conditionalDelete).toBe(true)
  })

  it('options win over the environment', async () => {
    const storage = open({
      bucket: 'other',
      region: 'us-west-2',
      forcePathStyle: false,
      conditionalDelete: true,
      env: FLY_TIGRIS,
    })
    expect(storage.name).toBe('s3://other')
    expect(await storage.client.config.region()).toBe('us-west-2')
    expect(storage.client.config.forcePathStyle).toBe(false)
    expect(storage.capabilities.conditionalDelete).toBe(true)
  })

  it('another endpoint (MinIO, R2, s3rver) is addressed path-style, and without a region signs for us-east-1', async () => {
    const storage = open({
      bucket: 'b',
      endpoint: 'http://127.0.0.1:9000',
      credentials: { accessKeyId: 'a', secretAccessKey: 's' },
      env: {},
    })
    expect(storage.client.config.forcePathStyle).toBe(true)
    expect(await storage.client.config.region()).toBe('us-east-1')
    expect(storage.capabilities.conditionalDelete).toBe(false)
  })

  it('the prefix is normalized, shows in the name, and must be a valid key', () => {
    expect(open({ bucket: 'b', prefix: '/relup/chat/', env: FLY_TIGRIS })).toMatchObject({
      name: 's3://b/relup/chat',
      prefix: 'relup/chat',
    })
    expect(configError({ bucket: 'b', prefix: 'relup/../etc', env: FLY_TIGRIS }).option).toBe('prefix')
  })
})

describe('configuration errors name what to set', () => {
  it('no bucket: BUCKET_NAME', () => {
    const error = configError({ env: { ...FLY_TIGRIS, BUCKET_NAME: undefined } })
    expect(error.option).toBe('bucket')
    expect(error.message).toContain('BUCKET_NAME')
  })

  it('half a key pair: the missing variable', () => {
    expect(configError({ env: { ...FLY_TIGRIS, AWS_SECRET_ACCESS_KEY: undefined } }).option).toBe(
      'AWS_SECRET_ACCESS_KEY',
    )
    expect(configError({ env: { ...FLY_TIGRIS, AWS_ACCESS_KEY_ID: '' } }).option).toBe('AWS_ACCESS_KEY_ID')
  })

  it('an endpoint that is not an http(s) URL: the variable it came from', () => {
    const error = configError({ env: { ...FLY_TIGRIS, AWS_ENDPOINT_URL_S3: 'fly.storage.tigris.dev' } })
    expect(error.option).toBe('AWS_ENDPOINT_URL_S3')
    expect(error.message).toContain('not a URL')
  })

  it('bad retry and timeout settings', () => {
    expect(configError({ env: FLY_TIGRIS, retry: { maxAttempts: 0 } }).option).toBe('retry.maxAttempts')
    expect(configError({ env: FLY_TIGRIS, timeoutMs: -1 }).option).toBe('timeoutMs')
  })

  it('no credentials anywhere: the default chain (IAM role…) is tried, then a ConfigError naming the variables', async () => {
    // Make the SDK's default chain find nothing, quickly.
    for (const name of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_PROFILE',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
      'AWS_ROLE_ARN',
    ]) {
      vi.stubEnv(name, undefined)
    }
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', undefined)
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_FULL_URI', undefined)
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true')
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/relup/credentials')
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/relup/config')

    // Constructing is fine: on EC2/ECS/EKS the role supplies the credentials.
    const storage = open({ bucket: 'b', endpoint: 'http://127.0.0.1:9', env: {} })
    const error = await storage.get('current.json').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).option).toBe('credentials')
    expect((error as ConfigError).message).toContain('AWS_ACCESS_KEY_ID')
  })
})

describe('a client of your own', () => {
  it('is used as is, and close() leaves it open', async () => {
    const client = new S3Client({ region: 'us-east-1' })
    const destroy = vi.spyOn(client, 'destroy')
    const storage = open({ client, bucket: 'b', env: {} })
    expect(storage.client).toBe(client)
    // Which store a foreign client reaches is unknown: conditional deletes only when declared.
    expect(storage.capabilities.conditionalDelete).toBe(false)
    await storage.close()
    expect(destroy).not.toHaveBeenCalled()
    client.destroy()
  })

  it('client-level options next to a client are refused, not ignored', () => {
    const client = new S3Client({ region: 'us-east-1' })
    try {
      expect(configError({ client, bucket: 'b', endpoint: 'http://127.0.0.1:9', env: {} }).option).toBe(
        'endpoint',
      )
      expect(configError({ client, bucket: 'b', consistentReads: true, env: {} }).option).toBe(
        'consistentReads',
      )
    } finally {
      client.destroy()
    }
  })

  it('the storage it creates itself is destroyed by close()', async () => {
    const storage = s3Storage({ env: FLY_TIGRIS })
    const destroy = vi.spyOn(storage.client, 'destroy')
    await storage.close()
    expect(destroy).toHaveBeenCalledOnce()
  })
})
